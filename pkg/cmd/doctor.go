package cmd

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/bundle"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// DoctorOptions are the inputs of `kubectl delegate doctor`.
type DoctorOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Name              string
	AllNamespaces     bool
	Output            string
	FailOn            string
	SupportMatrixFile string
	ECSTaskSpecFile   string
	// Pre checks a planned install instead of installed delegates.
	Pre         bool
	preSettings settingsFlags
	BundleFile  string
	// ListChecks prints the check tables instead of running them.
	ListChecks bool
	// ConnectorFile names Harness connectors: doctor says which delegates serve them.
	ConnectorFile string
	contexts      contextsFlags

	matrix diagnose.SupportMatrix
	clusterClient
	now func() time.Time

	// contextNames are the contexts --contexts or --all-contexts name; nil for one cluster.
	contextNames []string
}

// NewDoctorCommand builds `kubectl delegate doctor`.
func NewDoctorCommand(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &DoctorOptions{configFlags: configFlags, IOStreams: streams, now: time.Now}
	cmd := &cobra.Command{
		Use:   "doctor [NAME]",
		Short: "Find what is wrong with delegates and say how to fix it",
		Long: `Check the delegates in a namespace (or one of them, by name): the cluster's Kubernetes
version against the documented support list, requests against the documented minimums and
the nodes' room, whether the workload's pods are created (quota, Pod Security and other
admission refusals) and become available, pod states with the scheduler's reasons, probes,
the delegate's log against its known error lines, token, manager endpoint, account, version
support, duplicate names (in every namespace, even with -n), the upgrader's runs and proxy.
Each finding has a verdict, the numbers behind it and a fix; the report starts with each
failing delegate's most likely cause and the findings it explains. With --bundle FILE the
same checks run offline on a bundle from kubectl delegate collect.

With --contexts or --all-contexts the checks run on several clusters at once, and a delegate
name used in two of them (Harness self-destructs one) fails DLG-405.

Exit codes: 0 all passed, 3 a check failed, 4 warnings only (3 with --fail-on warn),
1 doctor itself failed, or (without a failed check) a context of --contexts could not be read.`,
		Example: `  # Every delegate in the current namespace
  kubectl delegate doctor

  # One delegate, as JSON
  kubectl delegate doctor prod-delegate -n harness-delegate-ng -o json

  # With your own list of supported Kubernetes versions, failing on warnings too
  kubectl delegate doctor -A --support-matrix versions.yaml --fail-on warn

  # The same checks, offline, on a bundle written by kubectl delegate collect
  kubectl delegate doctor --bundle delegate-bundle-harness-delegate-ng-20260102T030405Z.tar.gz

  # An ECS delegate's task definition, offline
  kubectl delegate doctor --ecs-task-spec ecs-task-spec.json

  # Which delegates serve a connector (its delegateSelectors), and is one of them healthy
  kubectl delegate doctor --connector spot-connector.yaml
  # Every namespace of two clusters at once: the same delegate name in both fails DLG-405
  kubectl delegate doctor -A --contexts prod-eu,prod-us

  # Every check: ID, category, what it checks, and which runs include it
  kubectl delegate doctor --list-checks`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: delegateNameCompletion(configFlags),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Name = args[0]
			}
			return runOptions(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Check the delegates of every namespace")
	addOutputFlag(cmd, &o.Output, "text")
	cmd.Flags().StringVar(&o.FailOn, "fail-on", "fail", "Lowest verdict that makes the exit code 3: fail or warn")
	cmd.Flags().StringVar(&o.ECSTaskSpecFile, "ecs-task-spec", "", "Check an ECS delegate task definition (JSON) offline instead of a cluster")
	cmd.Flags().StringVar(&o.BundleFile, "bundle", "", "Run the checks offline on a bundle written by kubectl delegate collect")
	cmd.Flags().StringVar(&o.SupportMatrixFile, "support-matrix", "", "YAML or JSON file listing the supported Kubernetes versions (versions: [1.27.8, ...]) instead of the embedded list")
	cmd.Flags().BoolVar(&o.Pre, "pre", false, "Check a planned install instead: namespace, your permissions, conflicting objects, capacity for --replicas/--cpu/--memory (NAME defaults to harness-delegate-ng, -n to harness-delegate-ng)")
	cmd.Flags().BoolVar(&o.ListChecks, "list-checks", false, "List the checks (ID, category, title, and the runs that include them: live, pre, bundle, ecs) instead of running them; needs no cluster")
	cmd.Flags().StringVar(&o.ConnectorFile, "connector", "", "YAML or JSON file of Harness connectors (\"-\" for stdin): which delegates in scope have every delegate selector, and whether one is healthy")
	o.preSettings.addCapacity(cmd.Flags())
	o.contexts.addFlags(cmd, configFlags)
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions([]string{"fail", "warn"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Complete reads the support matrix and builds the client.
func (o *DoctorOptions) Complete() error {
	if o.ECSTaskSpecFile != "" || o.ListChecks {
		return nil // offline: no cluster
	}
	var err error
	if o.matrix, err = loadSupportMatrix(o.SupportMatrixFile); err != nil {
		return err
	}
	if o.BundleFile != "" {
		return nil // offline: the bundle's snapshot
	}
	if o.contexts.set() {
		o.contextNames, err = resolveContexts(o.configFlags, o.contexts)
		return err
	}
	o.clusterClient, err = connect(o.configFlags, o.AllNamespaces)
	return err
}

// loadSupportMatrix reads --support-matrix, or returns the embedded list when it is not set.
func loadSupportMatrix(file string) (diagnose.SupportMatrix, error) {
	if file == "" {
		return diagnose.DefaultSupportMatrix(), nil
	}
	data, err := readLimited("--support-matrix", file, limitSupportMatrix, nil)
	if err != nil {
		return diagnose.SupportMatrix{}, err
	}
	m, err := diagnose.ParseSupportMatrix(data)
	if err != nil {
		return m, fmt.Errorf("--support-matrix %s: %w", file, err)
	}
	return m, nil
}

// delegateNameCompletion offers the names of the delegates in the namespace.
func delegateNameCompletion(configFlags *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		inspect := &InspectOptions{configFlags: configFlags, now: time.Now}
		return inspect.delegateNames(cmd.Context(), toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// Validate checks the flags before anything is asked of the cluster.
func (o *DoctorOptions) Validate() error {
	if err := validateOutput(o.Output, "text"); err != nil {
		return err
	}
	if o.FailOn != "fail" && o.FailOn != "warn" {
		return fmt.Errorf("--fail-on %q is not supported: use fail or warn", o.FailOn)
	}
	if err := o.validateListChecks(); err != nil {
		return err
	}
	if err := o.validateContexts(); err != nil {
		return err
	}
	if o.ECSTaskSpecFile != "" && (o.Name != "" || o.AllNamespaces || o.SupportMatrixFile != "") {
		return fmt.Errorf("--ecs-task-spec checks a file offline: it does not go with a delegate NAME, -A or --support-matrix")
	}
	if err := o.validatePre(); err != nil {
		return err
	}
	if o.BundleFile != "" && (o.Name != "" || o.AllNamespaces || o.ECSTaskSpecFile != "" || o.Pre) {
		return fmt.Errorf("--bundle checks a bundle offline: it does not go with a delegate NAME, -A, --pre or --ecs-task-spec")
	}
	if o.Name != "" && o.AllNamespaces {
		return fmt.Errorf("a delegate NAME and --all-namespaces do not go together: name the namespace with -n")
	}
	return nil
}

// Run gathers, checks and reports; the exit code carries the worst verdict.
func (o *DoctorOptions) Run(ctx context.Context) error {
	if o.ConnectorFile != "" {
		return o.runConnector(ctx)
	}
	if o.ListChecks {
		return o.listChecks()
	}
	if o.ECSTaskSpecFile != "" {
		data, err := readLimited("--ecs-task-spec", o.ECSTaskSpecFile, limitECSTaskSpec, nil)
		if err != nil {
			return err
		}
		findings, err := diagnose.CheckECSTaskSpec(data)
		if err != nil {
			return fmt.Errorf("--ecs-task-spec %s: %w", o.ECSTaskSpecFile, err)
		}
		return o.report(diagnose.NewReport(findings))
	}
	if o.Pre {
		return o.runPre(ctx)
	}
	if o.BundleFile != "" {
		return o.runBundle()
	}
	if o.contextNames != nil {
		return o.runContexts(ctx)
	}
	opts := diagnose.GatherOptions{Namespace: o.namespace, SupportMatrix: o.matrix, Now: o.now, NewRedactor: redactText}
	var notFound error
	if o.Name != "" {
		opts.Select = func(ds []delegate.Delegate) ([]delegate.Delegate, error) {
			d, err := findByName(ds, o.Name, o.namespace)
			notFound = err
			return []delegate.Delegate{d}, err
		}
	}
	s, err := diagnose.Gather(ctx, o.client, opts)
	if notFound != nil {
		return notFound
	}
	if err != nil {
		return explainServerError(o.server, err)
	}
	if len(s.Delegates) == 0 && o.Output == "" {
		fmt.Fprintf(o.ErrOut, "No delegates found%s: only the cluster checks ran.\n", inScope(o.namespace))
	}
	return o.report(diagnose.NewReport(diagnose.Run(s)))
}

// validateContexts: --contexts and --all-contexts check installed delegates live, across
// clusters; a NAME is one delegate of one namespace of one cluster.
func (o *DoctorOptions) validateContexts() error {
	switch {
	case !o.contexts.set():
		return nil
	case o.Name != "":
		return fmt.Errorf("a delegate NAME and --contexts/--all-contexts do not go together: check one delegate with --context CONTEXT -n NAMESPACE NAME")
	case o.Pre || o.BundleFile != "" || o.ECSTaskSpecFile != "" || o.ListChecks || o.ConnectorFile != "":
		return fmt.Errorf("--contexts/--all-contexts check installed delegates live: they do not go with --pre, --bundle, --ecs-task-spec, --list-checks or --connector")
	}
	return nil
}

// runContexts checks every context at once; DLG-405 sees the same name across them. A
// context that cannot be read is one line of the report: the exit code is 1 unless a check
// failed (3).
func (o *DoctorOptions) runContexts(ctx context.Context) error {
	results, err := gatherContexts(ctx, o.configFlags, o.contextNames, o.AllNamespaces, o.contexts.Timeout,
		func(ctx context.Context, c clusterClient) (*diagnose.Snapshot, error) {
			return diagnose.Gather(ctx, c.client, diagnose.GatherOptions{Namespace: c.namespace, SupportMatrix: o.matrix, Now: o.now, NewRedactor: redactText})
		})
	if err != nil {
		return err
	}
	var snaps []diagnose.ContextSnapshot
	delegates := 0
	for _, r := range results {
		if r.Err == nil {
			snaps = append(snaps, diagnose.ContextSnapshot{Context: r.Context, Snapshot: r.Value})
			delegates += len(r.Value.Delegates)
		}
	}
	report := diagnose.NewReport(diagnose.RunContexts(snaps))
	report.ContextErrors = contextErrors(results)
	if delegates == 0 && o.Output == "" {
		fmt.Fprintln(o.ErrOut, "No delegates found in any context read: only the cluster checks ran.")
	}
	if err := o.printReport(report); err != nil {
		return err
	}
	if o.Output != "" {
		// The text report has these lines; a document's reader may not look for them.
		writeContextErrors(o.ErrOut, report.ContextErrors)
	}
	code := report.ExitCode(o.FailOn == "warn")
	if code != diagnose.ExitFailures && len(report.ContextErrors) > 0 {
		return errContextsUnread(report.ContextErrors)
	}
	if code != diagnose.ExitOK {
		return &exitError{code: code}
	}
	return nil
}

// redactText hides the secrets and bundle.Redactor's patterns in the log lines live doctor
// quotes, as collect does in a bundle.
func redactText(secrets []string) func(string) string {
	r := bundle.NewRedactor(secrets)
	return func(s string) string {
		out, _ := r.String(s)
		return out
	}
}

// runBundle reruns the checks on the snapshot a bundle holds, with the support matrix of
// the collection unless --support-matrix names another.
func (o *DoctorOptions) runBundle() error {
	f, err := os.Open(o.BundleFile)
	if err != nil {
		return fmt.Errorf("--bundle: %w", err)
	}
	defer f.Close()
	b, err := bundle.Read(f, bundle.Limits{})
	if err != nil {
		return fmt.Errorf("--bundle %s: %w", o.BundleFile, err)
	}
	if o.SupportMatrixFile != "" {
		b.Snapshot.SupportMatrix = o.matrix
	}
	if o.Output == "" {
		note := ""
		if b.Index.Partial {
			note = " (a partial bundle: some checks may lack data)"
		}
		fmt.Fprintf(o.ErrOut, "Checks run offline on %s, collected %s%s.\n", o.BundleFile, b.Snapshot.CollectedAt.UTC().Format(time.RFC3339), note)
	}
	return o.report(diagnose.NewReport(diagnose.RunBundle(b.Snapshot)))
}

// report prints the report and turns its worst verdict into the exit code.
func (o *DoctorOptions) report(report diagnose.Report) error {
	if err := o.printReport(report); err != nil {
		return err
	}
	if code := report.ExitCode(o.FailOn == "warn"); code != diagnose.ExitOK {
		return &exitError{code: code}
	}
	return nil
}

// printReport prints the report as text, or in the -o format; -o name prints finding/ID per
// finding, in report order.
func (o *DoctorOptions) printReport(report diagnose.Report) error {
	if o.Output == "" {
		return report.WriteText(o.Out, colourWanted(o.Out))
	}
	ids := make([]string, 0, len(report.Findings))
	for _, f := range report.Findings {
		ids = append(ids, f.ID)
	}
	return printDocument(o.Out, o.Output, report, "Finding", ids)
}

// colourWanted: colour only on a terminal, and never when NO_COLOR is set (no-color.org).
func colourWanted(w any) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
