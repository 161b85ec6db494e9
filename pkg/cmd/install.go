package cmd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-delegate/kubectl-delegate/internal/buildinfo"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/install"
)

// InstallOptions are the inputs of `kubectl delegate install`.
type InstallOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
	settings settingsFlags

	Name           string
	DryRun         string
	Output         string
	ShowSecrets    bool
	SkipPreflight  bool
	ForceConflicts bool
	Wait           bool
	Timeout        time.Duration
	SupportMatrix  string

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
	o := &InstallOptions{configFlags: configFlags, IOStreams: streams}
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
		Example: `  # Install with the token from a file, and wait for the delegate to be available
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
	addApplyFlags(cmd, &o.DryRun, &o.Output, &o.ShowSecrets, &o.ForceConflicts, &o.Wait, &o.Timeout)
	cmd.Flags().BoolVar(&o.SkipPreflight, "skip-preflight", false, "Install even when a preflight check fails")
	cmd.Flags().StringVar(&o.SupportMatrix, "support-matrix", "", "YAML file replacing the embedded list of supported Kubernetes versions, for the preflight")
	return cmd
}

func addApplyFlags(cmd *cobra.Command, dryRun, output *string, showSecrets, force, wait *bool, timeout *time.Duration) {
	cmd.Flags().StringVar(dryRun, "dry-run", "none", `"client" prints the objects, "server" also has the API server validate them; nothing is written`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "client"
	cmd.Flags().StringVarP(output, "output", "o", "", "With --dry-run: print the objects as yaml or json")
	cmd.Flags().BoolVar(showSecrets, "show-secrets", false, "With -o: print Secret values instead of redacting them")
	cmd.Flags().BoolVar(force, "force-conflicts", false, "Take over objects and fields that belong to another installation or field manager")
	cmd.Flags().BoolVar(wait, "wait", true, "Wait until the delegate's pods are available")
	cmd.Flags().DurationVar(timeout, "timeout", 10*time.Minute, "How long to wait for the rollout")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"yaml", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "client", "server"}, cobra.ShellCompDirectiveNoFileComp))
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
		data, err := os.ReadFile(o.SupportMatrix)
		if err != nil {
			return fmt.Errorf("--support-matrix: %w", err)
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
	if msgs := namespaceErrors(o.namespace); msgs != "" {
		return fmt.Errorf("-n/--namespace %q is not a namespace name: %s", o.namespace, msgs)
	}
	return install.Validate(o.values, true)
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
	v := o.values
	if o.DryRun == "client" {
		objs := install.Render(v, install.RenderOptions{Namespace: o.namespace, PluginVersion: buildinfo.Version})
		return o.printDryRun(objs, nil)
	}
	c := o.cluster
	if err := resolveCustomRole(ctx, c.kube, &v, o.namespace); err != nil {
		return explainServerError(c.server, err)
	}
	objs := install.Render(v, install.RenderOptions{Namespace: o.namespace, PluginVersion: buildinfo.Version})
	existing, lookupErr := install.Lookup(ctx, c.dynamic, objs)
	if lookupErr != nil && (o.SkipPreflight || !apierrors.IsForbidden(lookupErr)) {
		return explainServerError(c.server, lookupErr)
	}
	if d := existingDeployment(existing); d != nil && d.Owner.Plugin && o.DryRun == "none" {
		fmt.Fprintf(o.ErrOut, "Delegate %s is installed already: applying the settings given (kubectl delegate upgrade keeps the ones not given)\n", v.DelegateName)
	}
	conflicts := install.Conflicts(existing, v.DelegateName)
	if !o.SkipPreflight {
		// A user who may not even read the objects hears why from the preflight.
		if err := o.preflight(ctx, v, objs, existing, lookupErr); err != nil {
			return err
		}
		if lookupErr != nil {
			return explainServerError(c.server, lookupErr)
		}
	} else if len(conflicts) > 0 && !o.ForceConflicts {
		return &install.ConflictError{Conflicts: conflicts}
	}
	if o.DryRun == "server" {
		results, err := install.Apply(ctx, c.dynamic, objs, existing, install.ApplyOptions{DryRun: true, Force: o.ForceConflicts})
		if err != nil {
			return dryRunNamespaceHint(err, o.namespace)
		}
		return o.printDryRun(objs, results)
	}
	if err := ensureNamespace(ctx, c.kube, o.namespace, o.Out); err != nil {
		return explainServerError(c.server, err)
	}
	if err := checkThenApply(ctx, c, objs, existing, o.ForceConflicts, "install", o.Out); err != nil {
		return err
	}
	if !o.Wait {
		return nil
	}
	return waitRollout(ctx, c.kube, o.namespace, v.DelegateName, o.Timeout, o.Out)
}

// preflight runs doctor --pre's checks on the planned install and stops on a failure.
func (o *InstallOptions) preflight(ctx context.Context, v install.Values, objs []install.Object, existing []install.Existing, lookupErr error) error {
	report, err := preflightReport(ctx, o.cluster.kube, v, o.namespace, objs, existing, lookupErr, o.ForceConflicts, o.matrix)
	if err != nil {
		return explainServerError(o.cluster.server, err)
	}
	if report.Summary.Fail == 0 {
		if report.Summary.Warn > 0 {
			fmt.Fprintln(o.ErrOut, "Preflight warnings:")
			printNonPassing(o.ErrOut, report)
		}
		return nil
	}
	fmt.Fprintln(o.ErrOut, "Preflight checks failed; nothing was changed:")
	printNonPassing(o.ErrOut, report)
	return &exitError{code: 3, err: errors.New("preflight failed: fix the failures above, or pass --skip-preflight to install anyway")}
}

func preflightReport(ctx context.Context, kube kubernetes.Interface, v install.Values, namespace string, objs []install.Object,
	existing []install.Existing, lookupErr error, force bool, matrix diagnose.SupportMatrix) (diagnose.Report, error) {
	plan := diagnose.PrePlan{Delegate: plannedDelegate(v, namespace), SupportMatrix: matrix, ForceConflicts: force, Grants: grantsOf(v, namespace)}
	if lookupErr != nil {
		plan.ExistingError = lookupErr.Error()
	}
	for _, obj := range objs {
		plan.Objects = append(plan.Objects, diagnose.PlannedObject{Group: obj.Resource.Group, Resource: obj.Resource.Resource,
			Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name})
	}
	for _, e := range existing {
		if e.Exists() {
			plan.Existing = append(plan.Existing, diagnose.ExistingObject{Ref: e.Object.Ref(), Owner: e.Owner})
		}
	}
	snap, err := diagnose.GatherPre(ctx, kube, plan)
	if err != nil {
		return diagnose.Report{}, err
	}
	return diagnose.NewReport(diagnose.RunPre(snap)), nil
}

// grantsOf are the existing roles the install binds, which the user must be allowed to bind.
func grantsOf(v install.Values, namespace string) []diagnose.PlannedObject {
	clusterRole := func(name string) diagnose.PlannedObject {
		return diagnose.PlannedObject{Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Kind: "ClusterRole", Name: name}
	}
	switch v.K8sPermissionsType {
	case install.PermClusterAdmin:
		return []diagnose.PlannedObject{clusterRole("cluster-admin")}
	case install.PermClusterViewer:
		return []diagnose.PlannedObject{clusterRole("view")}
	case install.PermNamespaceAdmin:
		return nil // the Role is created by the install: create covers it
	}
	if v.CustomRoleKind == "ClusterRole" {
		g := clusterRole(v.K8sPermissionsType)
		g.Namespace = namespace // bound by a RoleBinding, within the namespace
		return []diagnose.PlannedObject{g}
	}
	return []diagnose.PlannedObject{{Group: "rbac.authorization.k8s.io", Resource: "roles", Kind: "Role", Namespace: namespace, Name: v.K8sPermissionsType}}
}

func plannedDelegate(v install.Values, namespace string) delegate.Delegate {
	memory := resource.MustParse(v.Memory)
	requests := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(v.CPU), corev1.ResourceMemory: memory}
	limits := corev1.ResourceList{corev1.ResourceMemory: memory}
	return diagnose.PlannedDelegate(namespace, v.DelegateName, *v.Replicas, requests, limits)
}

func printNonPassing(w io.Writer, r diagnose.Report) {
	for _, f := range r.Findings {
		if f.Verdict != diagnose.Warn && f.Verdict != diagnose.Fail {
			continue
		}
		fmt.Fprintf(w, "  %s %s %s: %s\n", f.Verdict, f.ID, f.Subject, f.Finding)
		if f.Hint != "" {
			fmt.Fprintf(w, "      %s\n", f.Hint)
		}
	}
}

// resolveCustomRole finds out whether a custom role name is a Role in the namespace or a
// ClusterRole, when --role did not say.
func resolveCustomRole(ctx context.Context, kube kubernetes.Interface, v *install.Values, namespace string) error {
	switch v.K8sPermissionsType {
	case install.PermClusterAdmin, install.PermClusterViewer, install.PermNamespaceAdmin:
		return nil
	}
	if v.CustomRoleKind != "" {
		return nil
	}
	_, err := kube.RbacV1().Roles(namespace).Get(ctx, v.K8sPermissionsType, metav1.GetOptions{})
	if err == nil {
		v.CustomRoleKind = "Role"
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("looking up --role %s: %w", v.K8sPermissionsType, err)
	}
	if _, err := kube.RbacV1().ClusterRoles().Get(ctx, v.K8sPermissionsType, metav1.GetOptions{}); err == nil {
		v.CustomRoleKind = "ClusterRole"
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("looking up --role %s: %w", v.K8sPermissionsType, err)
	}
	return fmt.Errorf("--role %s: no Role %s in namespace %s and no ClusterRole %s; create it first, or use cluster-admin, cluster-viewer or namespace-admin",
		v.K8sPermissionsType, v.K8sPermissionsType, namespace, v.K8sPermissionsType)
}

func existingDeployment(existing []install.Existing) *install.Existing {
	for i := range existing {
		if existing[i].Object.Kind == "Deployment" && existing[i].Exists() {
			return &existing[i]
		}
	}
	return nil
}

func ensureNamespace(ctx context.Context, kube kubernetes.Interface, namespace string, out io.Writer) error {
	_, err := kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: install.FieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", namespace, err)
	}
	fmt.Fprintf(out, "namespace/%s created\n", namespace)
	return nil
}

func dryRunNamespaceHint(err error, namespace string) error {
	if apierrors.IsNotFound(err) && strings.Contains(err.Error(), "namespaces") {
		return fmt.Errorf("--dry-run=server needs namespace %s to exist (install creates it; a dry run cannot): %w", namespace, err)
	}
	return err
}

// checkThenApply has the API server check every object in a dry run before the first is
// written, so that a rejected object does not leave half an install behind, then applies.
func checkThenApply(ctx context.Context, c *installClient, objs []install.Object, existing []install.Existing, force bool, what string, out io.Writer) error {
	if _, err := install.Apply(ctx, c.dynamic, objs, existing, install.ApplyOptions{DryRun: true, Force: force}); err != nil {
		return fmt.Errorf("the API server rejected the %s, nothing was changed: %w", what, err)
	}
	results, err := install.Apply(ctx, c.dynamic, objs, existing, install.ApplyOptions{Force: force})
	printResults(out, results)
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

func printResults(w io.Writer, results []install.Result) {
	for _, r := range results {
		fmt.Fprintf(w, "%s %s\n", kubectlRef(r.Ref), r.Action)
	}
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
	var items []map[string]any
	for i, obj := range objs {
		var m map[string]any
		if results != nil && i < len(results) && results[i].Applied != nil {
			m = results[i].Applied.Object
			if md, ok := m["metadata"].(map[string]any); ok {
				delete(md, "managedFields")
			}
		} else {
			u, err := install.ToUnstructured(obj)
			if err != nil {
				return err
			}
			m = u.Object
		}
		if obj.IsSecret() && !showSecrets {
			redactSecretData(m)
		}
		items = append(items, m)
	}
	if output == "json" {
		list := map[string]any{"apiVersion": "v1", "kind": "List", "items": items}
		data, err := json.MarshalIndent(list, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	for i, m := range items {
		data, err := yaml.Marshal(m)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(w, "---")
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
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
