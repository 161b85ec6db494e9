package cmd

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-delegate/kubectl-delegate/internal/printable"
	"github.com/kubectl-delegate/kubectl-delegate/internal/table"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// ListOptions are the inputs of `kubectl delegate list`.
type ListOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	AllNamespaces bool
	Selector      string
	Output        string
	contexts      contextsFlags

	clusterClient
	now func() time.Time

	// contextNames are the contexts --contexts or --all-contexts name; nil for one cluster.
	contextNames []string
}

// NewListCommand builds `kubectl delegate list`.
func NewListCommand(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ListOptions{configFlags: configFlags, IOStreams: streams, now: time.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the delegates in a namespace or in the whole cluster",
		Long: `List Harness delegates, however they were installed: the Helm chart harness-delegate-ng,
the plain manifest, this plugin, or a legacy StatefulSet.`,
		Example: `  # Delegates in the current namespace
  kubectl delegate list

  # In every namespace, with more columns
  kubectl delegate list -A -o wide

  # As JSON (the schema is in the README), for scripts
  kubectl delegate list -A -o json

  # Only the names, with kubectl's JSONPath
  kubectl delegate list -A -o jsonpath='{.items[*].name}'

  # Every cluster of the kubeconfig at once, with a CONTEXT column
  kubectl delegate list -A --all-contexts`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runOptions(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "List delegates in every namespace")
	cmd.Flags().StringVarP(&o.Selector, "selector", "l", "", "Label selector on the delegates' workloads, e.g. -l harness.io/name=prod")
	addOutputFlag(cmd, &o.Output, listDefaultOutput, "wide")
	o.contexts.addFlags(cmd, configFlags)
	return cmd
}

// Complete resolves the namespace and builds the client, or checks the contexts to list.
func (o *ListOptions) Complete() error {
	var err error
	if o.contexts.set() {
		o.contextNames, err = resolveContexts(o.configFlags, o.contexts)
		return err
	}
	o.clusterClient, err = connect(o.configFlags, o.AllNamespaces)
	return err
}

// Validate checks the flags before anything is asked of the cluster.
func (o *ListOptions) Validate() error {
	if err := validateOutput(o.Output, listDefaultOutput, "wide"); err != nil {
		return err
	}
	if _, err := labels.Parse(o.Selector); err != nil {
		return fmt.Errorf("--selector %q is not a label selector (e.g. harness.io/name=prod or env in (a,b)): %v", o.Selector, err)
	}
	return nil
}

// Run finds the delegates and prints them.
func (o *ListOptions) Run(ctx context.Context) error {
	if o.contextNames != nil {
		return o.runContexts(ctx)
	}
	objs, err := delegate.Gather(ctx, o.client, delegate.GatherOptions{Namespace: o.namespace, Selector: o.Selector})
	if err != nil {
		return explainServerError(o.server, err)
	}
	ds := delegate.Build(objs, o.now())
	if err := printDelegates(o.Out, o.Output, o.AllNamespaces, ds, o.now()); err != nil {
		return err
	}
	if len(ds) == 0 && o.Output == "" {
		fmt.Fprintf(o.ErrOut, "No delegates found%s.\n", inScope(o.namespace))
	}
	for _, w := range duplicateWarnings(ds) {
		fmt.Fprintln(o.ErrOut, printable.String(w))
	}
	return nil
}

func inScope(ns string) string {
	if ns == "" {
		return " in any namespace"
	}
	return " in namespace " + ns
}

// listDefaultOutput is what list prints without -o.
const listDefaultOutput = "a table"

// DelegateList is the document -o json|yaml|jsonpath|go-template prints.
type DelegateList struct {
	APIVersion string              `json:"apiVersion"`
	Kind       string              `json:"kind"`
	Items      []delegate.Delegate `json:"items"`
}

func printDelegates(w io.Writer, format string, allNamespaces bool, ds []delegate.Delegate, now time.Time) error {
	if ds == nil {
		ds = []delegate.Delegate{}
	}
	if format != "" && format != "wide" {
		names := make([]string, 0, len(ds))
		for _, d := range ds {
			names = append(names, d.Name)
		}
		return printDocument(w, format, DelegateList{APIVersion: delegate.SchemaVersion, Kind: "DelegateList", Items: ds}, "Delegate", names)
	}
	if len(ds) == 0 {
		return nil
	}
	header, rows := delegateTable(ds, format == "wide", allNamespaces, now)
	return table.Write(w, header, rows)
}

// delegateTable is list's table: the header and a row per delegate.
func delegateTable(ds []delegate.Delegate, wide, allNamespaces bool, now time.Time) ([]string, [][]string) {
	header := []string{"NAME", "METHOD", "VERSION", "SUPPORT", "READY", "RESTARTS", "AGE"}
	if wide {
		header = append(header, "WORKLOAD", "RBAC", "UPGRADER", "TOKEN", "IMAGE")
	}
	if allNamespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	rows := make([][]string, 0, len(ds))
	for _, d := range ds {
		row := []string{d.Name, method(d), orUnknown(d.Version), string(d.Support.Status),
			fmt.Sprintf("%d/%d", d.Replicas.Ready, d.Replicas.Desired), restarts(d.Pods, now), age(d.CreatedAt, now)}
		if wide {
			row = append(row, strings.ToLower(d.Workload.Kind)+"/"+d.Workload.Name, string(d.RBAC.Mode), upgrader(d.Upgrader), token(d.Token), imageRef(d.Image))
		}
		if allNamespaces {
			row = append([]string{d.Namespace}, row...)
		}
		rows = append(rows, row)
	}
	return header, rows
}

func method(d delegate.Delegate) string {
	switch {
	case d.Helm != nil && d.Helm.ChartVersion != "":
		return "helm (" + d.Helm.Chart + "-" + d.Helm.ChartVersion + ")"
	case d.PluginVersion != "":
		return "plugin (" + d.PluginVersion + ")"
	}
	return string(d.InstallMethod)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// restarts sums the pods' restarts, with the age of the latest crash as kubectl shows it.
func restarts(pods []delegate.Pod, now time.Time) string {
	var total int32
	var last time.Time
	for _, p := range pods {
		total += p.Restarts
		if p.LastTermination != nil && p.LastTermination.FinishedAt.After(last) {
			last = p.LastTermination.FinishedAt
		}
	}
	if total > 0 && !last.IsZero() {
		return strconv.Itoa(int(total)) + " (" + age(last, now) + " ago)"
	}
	return strconv.Itoa(int(total))
}

func age(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

func upgrader(u *delegate.Upgrader) string {
	switch {
	case u == nil:
		return "none"
	case u.Suspended:
		return "suspended"
	case u.LastResult != "":
		return strings.ToLower(u.LastResult)
	}
	return "scheduled"
}

func token(t delegate.TokenRef) string {
	state := "unknown"
	if t.Present != nil {
		state = map[bool]string{true: "present", false: "MISSING"}[*t.Present]
	}
	switch t.Source {
	case delegate.TokenFromSecret:
		return "secret/" + t.SecretName + " (" + state + ")"
	case delegate.TokenInline:
		return "inline (" + state + ")"
	}
	return "MISSING"
}

func imageRef(img delegate.Image) string {
	ref := img.Repository
	if img.Tag != "" {
		ref += ":" + img.Tag
	}
	return ref
}

// duplicateWarnings names every delegate name used in more than one namespace.
func duplicateWarnings(ds []delegate.Delegate) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range ds {
		if d.Duplicate == nil || seen[d.Name] {
			continue
		}
		seen[d.Name] = true
		namespaces := append([]string{d.Namespace}, d.Duplicate.OtherNamespaces...)
		out = append(out, fmt.Sprintf("warning: delegate name %q is used in namespaces %s: Harness tells delegates apart by name, so one of them may self-destruct; give each a unique name",
			d.Name, strings.Join(namespaces, ", ")))
	}
	return out
}

// ContextDelegate is a delegate of a list over several contexts: the delegate's fields and
// the context it was found in.
type ContextDelegate struct {
	Context string `json:"context"`
	delegate.Delegate
}

// ContextDelegateList is the document of list --contexts: DelegateList with a context per
// item and the contexts that could not be read.
type ContextDelegateList struct {
	APIVersion    string                  `json:"apiVersion"`
	Kind          string                  `json:"kind"`
	Items         []ContextDelegate       `json:"items"`
	ContextErrors []diagnose.ContextError `json:"contextErrors,omitempty"`
}

// runContexts lists the delegates of every context at once; a context that cannot be read
// is one error line and exit code 1, after the others are printed.
func (o *ListOptions) runContexts(ctx context.Context) error {
	results, err := gatherContexts(ctx, o.configFlags, o.contextNames, o.AllNamespaces, o.contexts.Timeout,
		func(ctx context.Context, c clusterClient) ([]delegate.Delegate, error) {
			objs, err := delegate.Gather(ctx, c.client, delegate.GatherOptions{Namespace: c.namespace, Selector: o.Selector})
			if err != nil {
				return nil, err
			}
			return delegate.Build(objs, o.now()), nil
		})
	if err != nil {
		return err
	}
	items := []ContextDelegate{}
	for _, r := range results {
		for _, d := range r.Value {
			items = append(items, ContextDelegate{Context: r.Context, Delegate: d})
		}
	}
	errs := contextErrors(results)
	if err := printContextDelegates(o.Out, o.Output, o.AllNamespaces, items, errs, o.now()); err != nil {
		return err
	}
	if len(items) == 0 && o.Output == "" {
		fmt.Fprintf(o.ErrOut, "No delegates found in contexts %s.\n", printable.String(strings.Join(o.contextNames, ", ")))
	}
	for _, r := range results {
		for _, w := range duplicateWarnings(r.Value) {
			fmt.Fprintln(o.ErrOut, printable.String("warning: context "+r.Context+": "+strings.TrimPrefix(w, "warning: ")))
		}
	}
	for _, w := range sharedNameWarnings(items) {
		fmt.Fprintln(o.ErrOut, printable.String(w))
	}
	writeContextErrors(o.ErrOut, errs)
	return errContextsUnread(errs)
}

func printContextDelegates(w io.Writer, format string, allNamespaces bool, items []ContextDelegate, errs []diagnose.ContextError, now time.Time) error {
	if format != "" && format != "wide" {
		names := make([]string, 0, len(items))
		for _, d := range items {
			names = append(names, d.Name)
		}
		doc := ContextDelegateList{APIVersion: delegate.SchemaVersion, Kind: "DelegateList", Items: items, ContextErrors: errs}
		return printDocument(w, format, doc, "Delegate", names)
	}
	if len(items) == 0 {
		return nil
	}
	ds := make([]delegate.Delegate, 0, len(items))
	for _, d := range items {
		ds = append(ds, d.Delegate)
	}
	header, rows := delegateTable(ds, format == "wide", allNamespaces, now)
	header = append([]string{"CONTEXT"}, header...)
	for i := range rows {
		rows[i] = append([]string{items[i].Context}, rows[i]...)
	}
	return table.Write(w, header, rows)
}

// sharedNameWarnings names every delegate name used in more than one context: Harness
// self-destructs one of them, and no single cluster's list shows it.
func sharedNameWarnings(items []ContextDelegate) []string {
	ps := make([]diagnose.Placement, 0, len(items))
	for _, d := range items {
		ps = append(ps, diagnose.Placement{Context: d.Context, Namespace: d.Namespace, Name: d.Name})
	}
	shared := diagnose.SharedNames(ps)
	names := make([]string, 0, len(shared))
	for name := range shared {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]string, 0, len(names))
	for _, name := range names {
		places := make([]string, 0, len(shared[name]))
		for _, p := range shared[name] {
			places = append(places, p.Context+" (namespace "+p.Namespace+")")
		}
		out = append(out, fmt.Sprintf("warning: delegate name %q is used in contexts %s: Harness tells delegates apart by name across the account, so one of them may self-destruct; give each a unique name",
			name, strings.Join(places, ", ")))
	}
	return out
}
