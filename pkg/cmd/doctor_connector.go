package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/kubectl-delegate/kubectl-delegate/internal/printable"
	"github.com/kubectl-delegate/kubectl-delegate/internal/table"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/bundle"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// limitConnectors: a connector is a few hundred bytes; an export of every connector of an
// account stays well under this.
const limitConnectors = 4 << 20

// runConnector answers "which delegate serves this connector": the file is read and parsed
// before any request, then the delegates in scope (live, or from --bundle) are checked and
// matched against each connector's selectors.
func (o *DoctorOptions) runConnector(ctx context.Context) error {
	if o.Name != "" || o.Pre || o.ECSTaskSpecFile != "" || o.ListChecks {
		return fmt.Errorf("--connector finds the delegates that serve a connector in the namespace (-n, -A) or --bundle: it does not go with a delegate NAME, --pre, --ecs-task-spec or --list-checks")
	}
	data, err := readLimited("--connector", o.ConnectorFile, limitConnectors, o.In)
	if err != nil {
		return err
	}
	connectors, err := diagnose.ParseConnectors(data)
	if err != nil {
		return fmt.Errorf("--connector %s: %w", o.ConnectorFile, err)
	}
	// Connectors that all run on the Harness platform need no delegate, and no cluster.
	var s diagnose.Snapshot
	var findings []diagnose.Finding
	if slices.ContainsFunc(connectors, func(c diagnose.Connector) bool { return c.ExecuteOnDelegate }) {
		if s, findings, err = o.connectorSnapshot(ctx); err != nil {
			return err
		}
	}
	report := diagnose.MatchConnectors(connectors, s.Delegates, diagnose.NewReport(findings))
	if err := o.printConnectorReport(report); err != nil {
		return err
	}
	if code := report.ExitCode(o.FailOn == "warn"); code != diagnose.ExitOK {
		return &exitError{code: code}
	}
	return nil
}

// connectorSnapshot is the snapshot of the delegates in scope and doctor's findings on it:
// from the bundle with --bundle, else gathered live.
func (o *DoctorOptions) connectorSnapshot(ctx context.Context) (diagnose.Snapshot, []diagnose.Finding, error) {
	if o.BundleFile == "" {
		opts := diagnose.GatherOptions{Namespace: o.namespace, SupportMatrix: o.matrix, Now: o.now, NewRedactor: redactText}
		s, err := diagnose.Gather(ctx, o.client, opts)
		if err != nil {
			return diagnose.Snapshot{}, nil, explainServerError(o.server, err)
		}
		return *s, diagnose.Run(s), nil
	}
	f, err := os.Open(o.BundleFile)
	if err != nil {
		return diagnose.Snapshot{}, nil, fmt.Errorf("--bundle: %w", err)
	}
	defer f.Close()
	b, err := bundle.Read(f, bundle.Limits{})
	if err != nil {
		return diagnose.Snapshot{}, nil, fmt.Errorf("--bundle %s: %w", o.BundleFile, err)
	}
	if o.SupportMatrixFile != "" {
		b.Snapshot.SupportMatrix = o.matrix
	}
	return *b.Snapshot, diagnose.RunBundle(b.Snapshot), nil
}

// printConnectorReport prints the report as text, or in the -o format; -o name prints
// connector/IDENTIFIER per connector.
func (o *DoctorOptions) printConnectorReport(r diagnose.ConnectorReport) error {
	if o.Output == "" {
		return writeConnectorText(o.Out, r)
	}
	ids := make([]string, 0, len(r.Connectors))
	for _, c := range r.Connectors {
		ids = append(ids, c.Identifier)
	}
	return printDocument(o.Out, o.Output, r, "Connector", ids)
}

var connectorMarks = map[diagnose.Verdict]string{diagnose.Pass: "√", diagnose.Warn: "‼", diagnose.Fail: "×", diagnose.Skip: "-"}

// writeConnectorText prints per connector a verdict line, its selectors, the fix when it
// has no healthy delegate, and the table of the delegates that serve it.
func writeConnectorText(w io.Writer, r diagnose.ConnectorReport) error {
	var b strings.Builder
	for i, c := range r.Connectors {
		if i > 0 {
			b.WriteString("\n")
		}
		// Identifiers, selectors and hints come from the file and the cluster.
		fmt.Fprintf(&b, "%s connector %s (%s): %s\n", connectorMarks[c.Verdict], printable.String(c.Identifier), printable.String(c.Type), printable.String(c.Finding))
		if c.ExecuteOnDelegate {
			selectors := "none (any delegate)"
			if len(c.Selectors) > 0 {
				selectors = strings.Join(c.Selectors, ", ")
			}
			fmt.Fprintf(&b, "    selectors: %s\n", printable.String(selectors))
		}
		if c.Hint != "" {
			fmt.Fprintf(&b, "    %s\n", printable.String(c.Hint))
		}
		if len(c.Delegates) == 0 {
			continue
		}
		rows := make([][]string, 0, len(c.Delegates))
		for _, d := range c.Delegates {
			cause := "-"
			if d.Cause != "" {
				cause = d.Cause + " " + d.Finding
			}
			rows = append(rows, []string{d.Delegate, string(d.Verdict), cause})
		}
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
		b.Reset()
		if err := table.Write(w, []string{"DELEGATE", "VERDICT", "CAUSE"}, rows); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
