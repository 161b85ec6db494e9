package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// The read commands' -o: the command prints its own formats (text or a table by default, and
// wide on list); cli-runtime's printers do the rest, as kubectl get does: json, yaml, name,
// jsonpath=, jsonpath-file=, go-template= and go-template-file=.

// addOutputFlag adds -o to cmd, bound to format. byDefault says what the command prints
// without -o ("a table", "text"); own lists the formats it prints itself besides that.
func addOutputFlag(cmd *cobra.Command, format *string, byDefault string, own ...string) {
	formats := append(slices.Clone(own), "json", "yaml", "name", "jsonpath=TEMPLATE", "jsonpath-file=FILE", "go-template=TEMPLATE", "go-template-file=FILE")
	cmd.Flags().StringVarP(format, "output", "o", "", fmt.Sprintf("Output format: one of %s (default: %s)", strings.Join(formats, ", "), byDefault))
	completions := append(slices.Clone(own), "json", "yaml", "name", "jsonpath=", "jsonpath-file=", "go-template=", "go-template-file=")
	// No space after a completion, so that jsonpath= is followed by its template.
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(completions, cobra.ShellCompDirectiveNoFileComp|cobra.ShellCompDirectiveNoSpace))
}

// validateOutput checks -o before any request is made: the command's own formats, or one
// that cli-runtime can print, with a template that parses.
func validateOutput(format, byDefault string, own ...string) error {
	if format == "" || slices.Contains(own, format) {
		return nil
	}
	flags := printFlags(format)
	_, err := flags.ToPrinter()
	if genericclioptions.IsNoCompatiblePrinterError(err) {
		allowed := flags.AllowedFormats()
		slices.Sort(allowed)
		return fmt.Errorf("-o/--output %q is not supported: use one of %s, or leave -o out for %s",
			format, strings.Join(append(slices.Clone(own), allowed...), ", "), byDefault)
	}
	if err != nil {
		return fmt.Errorf("-o/--output %s: %w", format, err)
	}
	return nil
}

// printFlags are kubectl's -o flags holding format. --show-managed-fields and --template are
// left out: documents have no managed fields, and -o jsonpath=TEMPLATE says it all.
func printFlags(format string) *genericclioptions.PrintFlags {
	return genericclioptions.NewPrintFlags("").WithDefaultOutput(format)
}

// printDocument prints doc, a plain struct made for JSON, in a format cli-runtime prints. For
// -o name it prints one kubectl-style kind/name line per name, e.g. delegate/prod.
//
// doc goes to the printers as a runtime.Unknown holding its JSON: the documents belong to no
// API scheme, and this keeps their field order, so -o yaml is byte for byte what it was
// before the printers and -o json differs only in kubectl's four-space indent.
func printDocument(w io.Writer, format string, doc any, kind string, names []string) error {
	p, err := printFlags(format).ToPrinter()
	if err != nil {
		return fmt.Errorf("-o/--output %s: %w", format, err)
	}
	if format == "name" {
		for _, name := range names {
			obj := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: kind}, ObjectMeta: metav1.ObjectMeta{Name: name}}
			if err := p.PrintObj(obj, w); err != nil {
				return err
			}
		}
		return nil
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encoding the %s: %w", kind, err)
	}
	return p.PrintObj(&runtime.Unknown{Raw: raw, ContentType: runtime.ContentTypeJSON}, w)
}
