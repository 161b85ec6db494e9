package cmd

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-delegate/kubectl-delegate/internal/buildinfo"
	"github.com/kubectl-delegate/kubectl-delegate/internal/printable"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/install"
)

// InstallOptions are the inputs of `kubectl delegate install`.
type InstallOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
	settings settingsFlags

	applyFlags
	Name          string
	SkipPreflight bool
	SupportMatrix string
	// Force installs more replicas than the documented sizing covers.
	Force bool

	namespace string
	values    install.Values
	matrix    diagnose.SupportMatrix
	cluster   *installClient
}

// installClient is what install, upgrade and uninstall talk to the cluster with.
type installClient struct {
	kube    kubernetes.Interface
	dynamic dynamic.Interface
	server  string
}

func newInstallClient(flags *genericclioptions.ConfigFlags) (*installClient, error) {
	cfg, err := restConfig(flags)
	if err != nil {
		return nil, err
	}
	c := &installClient{server: cfg.Host}
	if c.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	c.dynamic, err = dynamic.NewForConfig(cfg)
	return c, err
}

// installNamespace is -n when given, else the chart's namespace: unlike other commands,
// install does not follow the kubeconfig's namespace, as the Harness docs install there.
func installNamespace(flags *genericclioptions.ConfigFlags) string {
	if flags.Namespace != nil && *flags.Namespace != "" {
		return *flags.Namespace
	}
	return install.DefaultNamespace
}

// NewInstallCommand builds `kubectl delegate install`.
func NewInstallCommand(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return newInstallCommand(&InstallOptions{configFlags: configFlags, IOStreams: streams})
}

// newInstallCommand binds the command's flags to o.
func newInstallCommand(o *InstallOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "install NAME --account-id ID --token-file PATH",
		Short: "Install a delegate: the objects of the Helm chart harness-delegate-ng, applied server-side",
		Long: `Install a Harness delegate with the same objects the Helm chart harness-delegate-ng makes
(Deployment, ServiceAccount, ConfigMap, token Secret, RBAC, upgrader CronJob), rendered by the
plugin and applied with server-side apply under the field manager kubectl-delegate. Nothing is
downloaded. Installing again with the same settings changes nothing.

Before writing, the preflight checks of "kubectl delegate doctor --pre" run; a failure stops
the install (--skip-preflight to go on). Objects that exist and belong to a Helm release, a
manifest install or another field manager are named and left alone (--force-conflicts to take
them over). The namespace (default harness-delegate-ng) is created when missing.`,
		Example: `  # Install with the token from a file, and wait until the delegate registered with the manager
  kubectl delegate install prod-delegate --account-id AbC123 --token-file token.txt

  # Move over from Helm: the chart's values file works as is
  kubectl delegate install prod-delegate -f values.yaml --token-secret prod-delegate-token

  # See the objects without writing them (the token is redacted)
  kubectl delegate install prod-delegate --account-id AbC123 --token-file token.txt --dry-run=client -o yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Name = args[0]
			}
			return runOptions(cmd.Context(), o)
		},
	}
	o.settings.addAll(cmd.Flags())
	o.applyFlags.add(cmd)
	cmd.Flags().BoolVar(&o.SkipPreflight, "skip-preflight", false, "Install even when a preflight check fails")
	cmd.Flags().BoolVar(&o.Force, "force", false, fmt.Sprintf("Install more than %d replicas, the most the documented delegate sizing covers", install.MaxSizedReplicas))
	cmd.Flags().StringVar(&o.SupportMatrix, "support-matrix", "", "YAML file replacing the embedded list of supported Kubernetes versions, for the preflight")
	return cmd
}

// applyFlags are the flags install and upgrade share: how to apply and how long to wait.
type applyFlags struct {
	DryRun         string
	Output         string
	ShowSecrets    bool
	ForceConflicts bool
	Wait           bool
	WaitFor        string
	Timeout        time.Duration
}

func (a *applyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.DryRun, "dry-run", "none", `"client" prints the objects, "server" also has the API server validate them; nothing is written`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "client"
	cmd.Flags().StringVarP(&a.Output, "output", "o", "", "With --dry-run: print the objects as yaml or json")
	cmd.Flags().BoolVar(&a.ShowSecrets, "show-secrets", false, "With -o: print Secret values instead of redacting them")
	cmd.Flags().BoolVar(&a.ForceConflicts, "force-conflicts", false, "Take over objects and fields that belong to another installation or field manager")
	cmd.Flags().BoolVar(&a.Wait, "wait", true, "Wait until the delegate's pods are available, and registered with the manager (--wait-for)")
	cmd.Flags().StringVar(&a.WaitFor, "wait-for", string(install.UntilRegistered), fmt.Sprintf("With --wait: %s waits until each new pod's log says the delegate registered with the manager, %s only until the pods are available", install.UntilRegistered, install.UntilRollout))
	cmd.Flags().DurationVar(&a.Timeout, "timeout", 10*time.Minute, "How long to wait for the rollout and the registration, in all")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"yaml", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "client", "server"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("wait-for", cobra.FixedCompletions(waitConditions(), cobra.ShellCompDirectiveNoFileComp))
}

func waitConditions() []string {
	out := make([]string, len(install.WaitConditions))
	for i, c := range install.WaitConditions {
		out[i] = string(c)
	}
	return out
}

// validateWait checks --timeout and --wait-for.
func (a applyFlags) validateWait() error {
	if err := validateTimeout(a.Timeout); err != nil {
		return err
	}
	if !slices.Contains(install.WaitConditions, install.WaitCondition(a.WaitFor)) {
		return fmt.Errorf("--wait-for %q: use %s", a.WaitFor, strings.Join(waitConditions(), " or "))
	}
	return nil
}

// config is the installer's Config for these flags in namespace; each command adds its own.
func (a applyFlags) config(namespace string) install.Config {
	return install.Config{
		Namespace:      namespace,
		PluginVersion:  buildinfo.Version,
		DryRun:         a.DryRun == "server",
		ForceConflicts: a.ForceConflicts,
		Wait:           a.Wait,
		WaitFor:        install.WaitCondition(a.WaitFor),
		Timeout:        a.Timeout,
		// The log lines a failed registration quotes are printed.
		Redact: redactText(nil),
	}
}

// Complete reads the values file, the flags and the files they name, and the support list.
func (o *InstallOptions) Complete() error {
	o.namespace = installNamespace(o.configFlags)
	v, err := o.settings.values(o.In, o.ErrOut)
	if err != nil {
		return err
	}
	if o.Name != "" {
		v.DelegateName = o.Name
	}
	o.values = v.WithDefaults()
	o.matrix = diagnose.DefaultSupportMatrix()
	if o.SupportMatrix != "" {
		data, err := readLimited("--support-matrix", o.SupportMatrix, limitSupportMatrix, nil)
		if err != nil {
			return err
		}
		if o.matrix, err = diagnose.ParseSupportMatrix(data); err != nil {
			return fmt.Errorf("--support-matrix %s: %w", o.SupportMatrix, err)
		}
	}
	if o.DryRun == "client" {
		return nil
	}
	o.cluster, err = newInstallClient(o.configFlags)
	return err
}

// Validate checks every input before anything is asked of the cluster.
func (o *InstallOptions) Validate() error {
	if o.Name == "" && o.values.DelegateName == install.DefaultNamespace && o.settings.valuesFile == "" {
		return errors.New("NAME is required: kubectl delegate install NAME --account-id ID --token-file PATH")
	}
	if err := validateApplyFlags(o.DryRun, o.Output); err != nil {
		return err
	}
	if err := o.validateWait(); err != nil {
		return err
	}
	if msgs := namespaceErrors(o.namespace); msgs != "" {
		return fmt.Errorf("-n/--namespace %q is not a namespace name: %s", o.namespace, msgs)
	}
	if err := install.Validate(o.values, true); err != nil {
		return err
	}
	if err := install.ValidateReplicasSized(o.values); err != nil && !o.Force {
		return fmt.Errorf("%w; pass --force to install that many anyway", err)
	}
	return nil
}

// validateTimeout refuses a timeout that would end every wait before its first look.
func validateTimeout(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("--timeout %s: must be more than 0, e.g. 10m or 90s", d)
	}
	return nil
}

func validateApplyFlags(dryRun, output string) error {
	switch dryRun {
	case "none", "client", "server":
	default:
		return fmt.Errorf("--dry-run %q: use client, server or none", dryRun)
	}
	switch output {
	case "", "yaml", "json":
	default:
		return fmt.Errorf("--output %q: use yaml or json", output)
	}
	if output != "" && dryRun == "none" {
		return errors.New("--output prints the objects of a dry run: add --dry-run=client or --dry-run=server")
	}
	return nil
}

// Run renders, checks, applies and waits.
func (o *InstallOptions) Run(ctx context.Context) error {
	if o.DryRun == "client" {
		objs := install.Render(o.values, install.RenderOptions{Namespace: o.namespace, PluginVersion: buildinfo.Version})
		return o.printDryRun(objs, nil)
	}
	// Ctrl-C or SIGTERM ends the install's requests; the installer then says what is left.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	steps := newStepPrinter(o.IOStreams)
	inst := install.New(o.cluster.kube, o.cluster.dynamic, o.installSettings(), steps.event)
	plan, results, err := inst.Install(ctx, o.values)
	steps.close()
	if err != nil {
		return explainInstallError(o.cluster.server, err)
	}
	if o.DryRun == "server" {
		return o.printDryRun(plan.Objects, results)
	}
	return nil
}

// installSettings are the flags as the installer takes them.
func (o *InstallOptions) installSettings() install.Config {
	c := o.applyFlags.config(o.namespace)
	c.SkipPreflight, c.SupportMatrix = o.SkipPreflight, o.matrix
	c.Redact = redactText([]string{o.values.DelegateToken})
	return c
}

// explainInstallError names the flag behind an installer's error and explains a failed
// request; the messages are the ones users and the e2e tests know.
func explainInstallError(server string, err error) error {
	var (
		cluster   *install.ClusterError
		role      *install.RoleError
		preflight *install.PreflightError
		conflict  *install.ConflictError
		field     *install.FieldConflictError
		missingNS *install.NamespaceMissingError
		rejected  *install.RejectedError
		helm      *install.HelmOwnedError
		kept      *install.KeptError
		rolled    *install.RolledBackError
		failed    *install.RegistrationError
	)
	switch {
	case errors.As(err, &role):
		if role.Err != nil {
			return explainServerError(server, roleError(role))
		}
		// The server answered that there is no such role: it is not out of reach.
		return roleError(role)
	case errors.As(err, &cluster):
		return explainServerError(server, cluster.Err)
	case errors.As(err, &preflight):
		return &exitError{code: 3, err: errors.New("preflight failed: fix the failures above, or pass --skip-preflight to install anyway")}
	case errors.As(err, &conflict):
		return fmt.Errorf("%w, or pass --force-conflicts to take the objects over", conflict)
	case errors.As(err, &rejected) && errors.As(err, &field):
		return fmt.Errorf("the API server rejected the %s, nothing was changed: %w", rejected.What, fieldConflictError(field))
	case errors.As(err, &field):
		return fieldConflictError(field)
	case errors.As(err, &missingNS):
		return fmt.Errorf("--dry-run=server needs namespace %s to exist (install creates it; a dry run cannot): %w", missingNS.Namespace, missingNS.Err)
	case errors.As(err, &helm):
		return fmt.Errorf("%w\nor pass --force to change it here anyway", helm)
	case errors.As(err, &kept):
		return fmt.Errorf("%w%s\nthe new revision stays in place (--atomic=false): kubectl rollout undo deployment/%s -n %s goes back", kept.Err, doctorHint(err), kept.Deployment, kept.Namespace)
	case errors.As(err, &rolled):
		return &exitError{code: 1, err: fmt.Errorf("%w%s", rolled, doctorHint(err))}
	case errors.As(err, &failed):
		return &exitError{code: 1, err: fmt.Errorf("%w%s", failed, doctorHint(err))}
	case errors.Is(err, install.ErrNothingToChange):
		return errors.New("nothing to change: name what to upgrade, e.g. --image, --replicas, --cpu, --memory, --tags")
	}
	return err
}

// doctorHint points a registration failure at doctor's finding for the same log line; ""
// for other errors.
func doctorHint(err error) string {
	var failed *install.RegistrationError
	if !errors.As(err, &failed) {
		return ""
	}
	return fmt.Sprintf("\n  (doctor's DLG-501 finding: kubectl delegate doctor %s -n %s)", failed.Deployment, failed.Namespace)
}

func roleError(e *install.RoleError) error {
	if e.Err != nil {
		return fmt.Errorf("looking up --role %s: %w", e.Role, e.Err)
	}
	return fmt.Errorf("--role %s: no Role %s in namespace %s and no ClusterRole %s; create it first, or use cluster-admin, cluster-viewer or namespace-admin",
		e.Role, e.Role, e.Namespace, e.Role)
}

func fieldConflictError(e *install.FieldConflictError) error {
	return fmt.Errorf("%s: other field managers own fields install would change (pass --force-conflicts to take them over): %w", e.Ref, e.Err)
}

// stepPrinter prints the installer's steps as kubectl apply and rollout status do: results
// on stdout, what the user must read on stderr.
type stepPrinter struct {
	genericiooptions.IOStreams
	onTerminal bool
	// open is a rollout status line on the terminal that the next output must end first.
	open bool
}

func newStepPrinter(streams genericiooptions.IOStreams) *stepPrinter {
	return &stepPrinter{IOStreams: streams, onTerminal: isTerminal(streams.Out)}
}

func (p *stepPrinter) event(e install.Event) {
	switch e.Kind {
	case install.Rollout:
		p.rollout(e.Deployment, e.Rollout)
		return
	case install.Registration:
		p.registration(e.Deployment, e.Registration)
		return
	}
	p.close()
	switch e.Kind {
	case install.NamespaceCreated:
		fmt.Fprintf(p.Out, "namespace/%s created\n", e.Ref)
	case install.Applied:
		fmt.Fprintf(p.Out, "%s %s\n", kubectlRef(e.Ref), e.Action)
	case install.Deleted:
		fmt.Fprintf(p.Out, "%s deleted\n", kubectlRef(e.Ref))
	case install.Unbound:
		fmt.Fprintf(p.Out, "%s configured (subjects of the deleted namespace removed)\n", kubectlRef(e.Ref))
	case install.Reinstalling:
		fmt.Fprintf(p.ErrOut, "Delegate %s is installed already: applying the settings given (kubectl delegate upgrade keeps the ones not given)\n", e.Delegate)
	case install.PreflightWarnings:
		fmt.Fprintln(p.ErrOut, "Preflight warnings:")
		printNonPassing(p.ErrOut, e.Report)
	case install.PreflightFailed:
		fmt.Fprintln(p.ErrOut, "Preflight checks failed; nothing was changed:")
		printNonPassing(p.ErrOut, e.Report)
	case install.RollingBack:
		fmt.Fprintf(p.ErrOut, "Upgrade failed: %v\nRolling back to the previous revision...\n", e.Err)
	case install.HelmTakeOver:
		fmt.Fprintf(p.ErrOut, "Warning: delegate %s belongs to Helm release %q; the next helm upgrade will revert this change\n", e.Delegate, e.Ref)
	}
}

// rollout rewrites one status line on a terminal and prints a line per change otherwise.
func (p *stepPrinter) rollout(name string, s install.RolloutStatus) {
	line := fmt.Sprintf("Waiting for deployment %s rollout: %s", name, s.Message)
	if s.Done {
		line = fmt.Sprintf("deployment %s: %s", name, s.Message)
	}
	p.status(line, s.Done)
}

// registration is the second phase's status line, after the rollout's.
func (p *stepPrinter) registration(name string, s install.RegistrationStatus) {
	line := fmt.Sprintf("Waiting for delegate %s to register with the manager: %d of %d pods registered", name, s.Registered, s.Pods)
	if s.Done() {
		line = fmt.Sprintf("delegate %s: %d of %d pods registered with the manager", name, s.Registered, s.Pods)
	}
	p.status(line, s.Done())
}

// status rewrites one status line on a terminal and prints a line per change otherwise.
func (p *stepPrinter) status(line string, done bool) {
	if !p.onTerminal {
		fmt.Fprintln(p.Out, line)
		return
	}
	fmt.Fprintf(p.Out, "\r\033[K%s", line)
	p.open = !done
	if done {
		fmt.Fprintln(p.Out)
	}
}

// close ends a status line left open by a rollout that did not finish.
func (p *stepPrinter) close() {
	if p.open {
		fmt.Fprintln(p.Out)
		p.open = false
	}
}

// preflightReport runs doctor --pre's checks on a planned install (doctor --pre's entry).
func preflightReport(ctx context.Context, kube kubernetes.Interface, v install.Values, namespace string, objs []install.Object,
	existing []install.Existing, lookupErr error, force bool, matrix diagnose.SupportMatrix) (diagnose.Report, error) {
	plan := &install.Plan{Values: v, Objects: objs, Existing: existing, LookupErr: lookupErr}
	return install.PreflightReport(ctx, kube, plan, namespace, force, matrix)
}

func printNonPassing(w io.Writer, r diagnose.Report) {
	for _, f := range r.Findings {
		if f.Verdict != diagnose.Warn && f.Verdict != diagnose.Fail {
			continue
		}
		fmt.Fprintf(w, "  %s %s %s: %s\n", f.Verdict, f.ID, printable.String(f.Subject), printable.String(f.Finding))
		if f.Hint != "" {
			fmt.Fprintf(w, "      %s\n", printable.String(f.Hint))
		}
	}
}

// resolveCustomRole finds out whether a custom --role is a Role or a ClusterRole (doctor --pre's entry).
func resolveCustomRole(ctx context.Context, kube kubernetes.Interface, v *install.Values, namespace string) error {
	err := install.ResolveCustomRole(ctx, kube, v, namespace)
	var role *install.RoleError
	if errors.As(err, &role) {
		return roleError(role)
	}
	return err
}

// kubectlRef prints namespace/Kind/name as kubectl apply does: kind/name.
func kubectlRef(ref string) string {
	parts := strings.Split(ref, "/")
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	return strings.ToLower(strings.Join(parts, "/"))
}

// printDryRun prints the objects (-o) or what would happen to each.
func (o *InstallOptions) printDryRun(objs []install.Object, results []install.Result) error {
	return printObjects(o.Out, o.Output, objs, results, o.ShowSecrets)
}

func printObjects(w io.Writer, output string, objs []install.Object, results []install.Result, showSecrets bool) error {
	if output == "" {
		if results == nil {
			for _, obj := range objs {
				fmt.Fprintf(w, "%s would be applied (dry run)\n", kubectlRef(obj.Ref()))
			}
			return nil
		}
		for _, r := range results {
			fmt.Fprintf(w, "%s %s (server dry run)\n", kubectlRef(r.Ref), r.Action)
		}
		return nil
	}
	items, err := dryRunItems(objs, results, showSecrets)
	if err != nil {
		return err
	}
	if output == "json" {
		list := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "List", "items": items}}
		return (&printers.JSONPrinter{}).PrintObj(list, w)
	}
	yamlPrinter := &printers.YAMLPrinter{} // separates the objects with ---
	for _, item := range items {
		if err := yamlPrinter.PrintObj(&unstructured.Unstructured{Object: item.(map[string]any)}, w); err != nil {
			return err
		}
	}
	return nil
}

// dryRunItems are the objects as the server returned them from its dry run (as rendered for
// a client dry run), Secrets redacted unless showSecrets.
func dryRunItems(objs []install.Object, results []install.Result, showSecrets bool) ([]any, error) {
	items := make([]any, 0, len(objs))
	for i, obj := range objs {
		var m map[string]any
		if results != nil && i < len(results) && results[i].Applied != nil {
			m = results[i].Applied.Object
			unstructured.RemoveNestedField(m, "metadata", "managedFields")
		} else {
			u, err := install.ToUnstructured(obj)
			if err != nil {
				return nil, err
			}
			m = u.Object
		}
		if obj.IsSecret() && !showSecrets {
			redactSecretData(m)
		}
		items = append(items, m)
	}
	return items, nil
}

// redactSecretData replaces every Secret value, so that printed objects can be shared.
func redactSecretData(m map[string]any) {
	redacted := base64.StdEncoding.EncodeToString([]byte("REDACTED"))
	for _, field := range []string{"data", "stringData"} {
		if data, ok := m[field].(map[string]any); ok {
			for k := range data {
				data[k] = redacted
			}
		}
	}
}

func namespaceErrors(ns string) string {
	if ns == "" {
		return "empty"
	}
	if msgs := validationDNSLabel(ns); len(msgs) > 0 {
		return strings.Join(msgs, "; ")
	}
	return ""
}
