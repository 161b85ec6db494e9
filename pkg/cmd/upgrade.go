package cmd

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-delegate/kubectl-delegate/internal/buildinfo"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/install"
)

// UpgradeOptions are the inputs of `kubectl delegate upgrade`.
type UpgradeOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
	settings settingsFlags

	Name           string
	Atomic         bool
	Force          bool
	ForceConflicts bool
	DryRun         string
	Output         string
	ShowSecrets    bool
	Wait           bool
	Timeout        time.Duration

	namespace string
	changes   install.Values
	cluster   *installClient
}

// NewUpgradeCommand builds `kubectl delegate upgrade`.
func NewUpgradeCommand(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &UpgradeOptions{configFlags: configFlags, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "upgrade NAME [--image IMAGE] [--replicas N] [--cpu Q] [--memory Q] [...]",
		Short: "Change a delegate's image, replicas, resources or settings, and roll back if it fails",
		Long: `Upgrade a delegate installed by this plugin or from the plain manifest: change what the flags
name and keep everything else. The command waits for the rollout; when the new pods do not become
available (crash loop, image pull failure, timeout) it rolls back to the previous revision, unless
--atomic=false. With 2 or more replicas the old pods keep serving until new ones are available.

A delegate that belongs to a Helm release is refused with the helm upgrade command that does the
same, because Helm would undo the change on its next upgrade (--force changes it anyway).`,
		Example: `  # Move to another image
  kubectl delegate upgrade prod-delegate --image us-docker.pkg.dev/gar-prod-setup/harness-public/harness/delegate:26.02.88404

  # Two replicas with more memory each
  kubectl delegate upgrade prod-delegate --replicas 2 --memory 4Gi`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return runOptions(cmd.Context(), o)
		},
	}
	o.settings.addAll(cmd.Flags())
	addApplyFlags(cmd, &o.DryRun, &o.Output, &o.ShowSecrets, &o.ForceConflicts, &o.Wait, &o.Timeout)
	cmd.Flags().BoolVar(&o.Atomic, "atomic", true, "Roll back to the previous revision when the new pods do not become available")
	cmd.Flags().BoolVar(&o.Force, "force", false, "Upgrade a Helm-managed delegate anyway (Helm will revert it on its next upgrade)")
	return cmd
}

// Complete reads the flags the user set and the files they name.
func (o *UpgradeOptions) Complete() error {
	o.namespace = installNamespace(o.configFlags)
	var err error
	if o.changes, err = o.settings.values(o.In, o.ErrOut); err != nil {
		return err
	}
	o.cluster, err = newInstallClient(o.configFlags)
	return err
}

// Validate checks the flags before anything is asked of the cluster.
func (o *UpgradeOptions) Validate() error {
	if err := validateApplyFlags(o.DryRun, o.Output); err != nil {
		return err
	}
	if o.DryRun == "client" {
		return errors.New("--dry-run=client: an upgrade reads the installed delegate; use --dry-run=server")
	}
	if o.Atomic && !o.Wait && o.DryRun == "none" {
		return errors.New("--atomic needs --wait: without waiting, a failed rollout cannot be seen to roll it back; pass --atomic=false too")
	}
	if o.changes.DelegateName != "" && o.changes.DelegateName != o.Name {
		return fmt.Errorf("the values file names delegate %q but NAME is %q: a delegate cannot be renamed by an upgrade", o.changes.DelegateName, o.Name)
	}
	// The values that are set must be valid on their own; unset ones come from the cluster.
	probe := install.Values{DelegateName: o.Name, AccountID: "probe", ExistingDelegateToken: "probe"}.WithDefaults().Overlay(o.changes)
	if o.changes.DelegateToken == "" && o.changes.ExistingDelegateToken == "" {
		probe.DelegateToken, probe.ExistingDelegateToken = "", "probe"
	}
	return install.Validate(probe, false)
}

// Run finds the delegate and upgrades it the way its install method allows.
func (o *UpgradeOptions) Run(ctx context.Context) error {
	c := o.cluster
	d, deploy, err := findInstalled(ctx, c, o.namespace, o.Name)
	if err != nil {
		return err
	}
	switch d.InstallMethod {
	case delegate.Legacy:
		return fmt.Errorf("delegate %s is a legacy StatefulSet delegate (end of support 2024-01-31): install a new one with kubectl delegate install and remove the old one", d.Name)
	case delegate.Helm:
		if !o.Force {
			return fmt.Errorf("delegate %s belongs to Helm release %q, which would undo this change on its next upgrade; run:\n  %s\nor pass --force to change it here anyway",
				d.Name, helmRelease(d), helmUpgradeCommand(d, o.changes))
		}
		fmt.Fprintf(o.ErrOut, "Warning: delegate %s belongs to Helm release %q; the next helm upgrade will revert this change\n", d.Name, helmRelease(d))
		return o.upgradeDeploymentFields(ctx, d, deploy)
	case delegate.Manifest:
		return o.upgradeDeploymentFields(ctx, d, deploy)
	}
	return o.upgradePlugin(ctx, deploy)
}

// upgradePlugin re-renders every object from the recorded settings with the changes, applies
// them, removes objects no longer wanted, and rolls back to the recorded settings on failure.
func (o *UpgradeOptions) upgradePlugin(ctx context.Context, deploy *appsv1.Deployment) error {
	c := o.cluster
	old, err := install.SettingsOf(deploy)
	if err != nil {
		return err
	}
	v := old.Overlay(o.changes)
	if err := install.Validate(v, false); err != nil {
		return err
	}
	if err := resolveCustomRole(ctx, c.kube, &v, o.namespace); err != nil {
		return explainServerError(c.server, err)
	}
	checksum := deploy.Spec.Template.Annotations[install.AnnotationSecretChecksum]
	objs := install.Render(v, install.RenderOptions{Namespace: o.namespace, PluginVersion: buildinfo.Version, SecretChecksum: checksum})
	previous := install.Render(old, install.RenderOptions{Namespace: o.namespace, PluginVersion: deploy.Annotations[delegate.AnnotationPluginVersion], SecretChecksum: checksum})
	existing, err := install.Lookup(ctx, c.dynamic, objs)
	if err != nil {
		return explainServerError(c.server, err)
	}
	if conflicts := install.Conflicts(existing, v.DelegateName); len(conflicts) > 0 && !o.ForceConflicts {
		return &install.ConflictError{Conflicts: conflicts}
	}
	if o.DryRun == "server" {
		results, err := install.Apply(ctx, c.dynamic, objs, existing, install.ApplyOptions{DryRun: true, Force: o.ForceConflicts})
		if err != nil {
			return err
		}
		return printObjects(o.Out, o.Output, objs, results, o.ShowSecrets)
	}
	if err := checkThenApply(ctx, c, objs, existing, o.ForceConflicts, "upgrade", o.Out); err != nil {
		return err
	}
	if err := o.prune(ctx, objs, v); err != nil {
		return err
	}
	rollback := func(ctx context.Context) error {
		before, err := install.Lookup(ctx, c.dynamic, previous)
		if err != nil {
			return err
		}
		results, err := install.Apply(ctx, c.dynamic, previous, before, install.ApplyOptions{Force: true})
		printResults(o.Out, results)
		if err != nil {
			return err
		}
		return o.prune(ctx, previous, old)
	}
	return o.waitOrRollBack(ctx, deploy, rollback, o.changes.DelegateToken != "")
}

// prune deletes the plugin's objects for the delegate that the new rendering no longer has.
func (o *UpgradeOptions) prune(ctx context.Context, rendered []install.Object, v install.Values) error {
	installed, err := install.Installed(ctx, o.cluster.dynamic, o.namespace, v.DelegateName)
	if err != nil {
		return err
	}
	deleted, err := install.Delete(ctx, o.cluster.dynamic, install.Stale(installed, rendered, v))
	for _, ref := range deleted {
		fmt.Fprintf(o.Out, "%s deleted\n", kubectlRef(ref))
	}
	return err
}

// upgradeDeploymentFields changes, on a Deployment the plugin did not make, only the fields
// the flags name: image, replicas, resources and the settings kept in its environment.
func (o *UpgradeOptions) upgradeDeploymentFields(ctx context.Context, d delegate.Delegate, deploy *appsv1.Deployment) error {
	if unsupported := o.unsupportedForManifest(); len(unsupported) > 0 {
		return fmt.Errorf("delegate %s was installed by %s, whose objects this plugin does not own; %s cannot be changed here: reinstall it with kubectl delegate install, or change the manifest",
			d.Name, d.InstallMethod, strings.Join(unsupported, ", "))
	}
	changes := install.ManifestChanges{Image: o.changes.DelegateDockerImage, Replicas: o.changes.Replicas,
		CPU: o.changes.CPU, Memory: o.changes.Memory, Env: install.ManifestEnv(o.changes)}
	if changes.Empty() {
		return errors.New("nothing to change: name what to upgrade, e.g. --image, --replicas, --cpu, --memory, --tags")
	}
	after, before, err := install.ManifestPatch(deploy, d.Workload.Container, changes)
	if err != nil {
		return err
	}
	existing := []install.Existing{{Object: after, ResourceVersion: deploy.ResourceVersion}}
	// Force: the fields belong to kubectl apply (or Helm); the plugin takes over just these.
	if o.DryRun == "server" {
		results, err := install.Apply(ctx, o.cluster.dynamic, []install.Object{after}, existing, install.ApplyOptions{DryRun: true, Force: true})
		if err != nil {
			return err
		}
		return printObjects(o.Out, o.Output, []install.Object{after}, results, o.ShowSecrets)
	}
	results, err := install.Apply(ctx, o.cluster.dynamic, []install.Object{after}, existing, install.ApplyOptions{Force: true})
	printResults(o.Out, results)
	if err != nil {
		return err
	}
	rollback := func(ctx context.Context) error {
		results, err := install.Apply(ctx, o.cluster.dynamic, []install.Object{before}, existing, install.ApplyOptions{Force: true})
		printResults(o.Out, results)
		return err
	}
	return o.waitOrRollBack(ctx, deploy, rollback, false)
}

func (o *UpgradeOptions) unsupportedForManifest() []string {
	var out []string
	for _, flag := range []string{"role", "upgrader", "ca-file", "proxy-user", "proxy-password-file", "token", "token-file", "token-secret", "min-ready-seconds"} {
		if o.settings.changed(flag) {
			out = append(out, "--"+flag)
		}
	}
	return out
}

// waitOrRollBack waits for the rollout; on failure it rolls back (unless --atomic=false),
// waits for the old revision, and says what happened.
func (o *UpgradeOptions) waitOrRollBack(ctx context.Context, deploy *appsv1.Deployment, rollback func(context.Context) error, tokenRotated bool) error {
	if !o.Wait {
		return nil
	}
	c := o.cluster
	lowest := int32(1 << 30)
	waitErr := waitRolloutWatching(ctx, c.kube, deploy.Namespace, deploy.Name, o.Timeout, o.Out, &lowest)
	if waitErr == nil {
		return nil
	}
	if !o.Atomic {
		return fmt.Errorf("%w\nthe new revision stays in place (--atomic=false): kubectl rollout undo deployment/%s -n %s goes back", waitErr, deploy.Name, deploy.Namespace)
	}
	fmt.Fprintf(o.ErrOut, "Upgrade failed: %v\nRolling back to the previous revision...\n", waitErr)
	// The rollback runs even when the wait ran out of time, with its own deadline.
	rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.Timeout)
	defer cancel()
	if err := rollback(rbCtx); err != nil {
		return fmt.Errorf("upgrade failed and the rollback failed too: %v; the upgrade failed because: %w", err, waitErr)
	}
	if err := waitRolloutWatching(rbCtx, c.kube, deploy.Namespace, deploy.Name, o.Timeout, o.Out, &lowest); err != nil {
		return fmt.Errorf("upgrade failed and the rolled-back revision is not available either: %v; the upgrade failed because: %w", err, waitErr)
	}
	note := ""
	if tokenRotated {
		note = " The new token stays in the token Secret."
	}
	desired := int32(1)
	if deploy.Spec.Replicas != nil {
		desired = *deploy.Spec.Replicas
	}
	return &exitError{code: 1, err: fmt.Errorf("upgrade of %s failed and was rolled back: the previous revision is serving again (%d of %d replicas stayed available throughout).%s\nwhy it failed: %v",
		deploy.Name, max(lowest, 0), desired, note, waitErr)}
}

// findInstalled finds the delegate by name in the namespace, and its Deployment.
func findInstalled(ctx context.Context, c *installClient, namespace, name string) (delegate.Delegate, *appsv1.Deployment, error) {
	objs, err := delegate.Gather(ctx, c.kube, delegate.GatherOptions{Namespace: namespace})
	if err != nil {
		return delegate.Delegate{}, nil, explainServerError(c.server, err)
	}
	d, err := findByName(delegate.Build(objs, time.Now()), name, namespace)
	if err != nil {
		return d, nil, err
	}
	if d.Workload.Kind != "Deployment" {
		return d, nil, nil
	}
	deploy, err := c.kube.AppsV1().Deployments(namespace).Get(ctx, d.Workload.Name, metav1.GetOptions{})
	if err != nil {
		return d, nil, explainServerError(c.server, err)
	}
	return d, deploy, nil
}

func helmRelease(d delegate.Delegate) string {
	if d.Helm != nil && d.Helm.Release != "" {
		return d.Helm.Release
	}
	return d.Name
}

// helmUpgradeCommand is the helm upgrade that makes the same change.
func helmUpgradeCommand(d delegate.Delegate, v install.Values) string {
	sets := map[string]string{}
	if v.DelegateDockerImage != "" {
		sets["delegateDockerImage"] = v.DelegateDockerImage
	}
	if v.Replicas != nil {
		sets["replicas"] = fmt.Sprint(*v.Replicas)
	}
	if v.CPU != "" {
		sets["cpu"] = v.CPU
	}
	if v.Memory != "" {
		// The chart's memory is a number of Mi.
		memory := resource.MustParse(v.Memory)
		sets["memory"] = fmt.Sprint(memory.Value() >> 20)
	}
	if v.Tags != "" {
		sets["tags"] = v.Tags
	}
	if v.K8sPermissionsType != "" {
		sets["k8sPermissionsType"] = v.K8sPermissionsType
	}
	keys := make([]string, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	cmd := fmt.Sprintf("helm upgrade %s harness-delegate/harness-delegate-ng -n %s --reuse-values", helmRelease(d), d.Namespace)
	for _, k := range keys {
		cmd += fmt.Sprintf(" --set %s=%s", k, sets[k])
	}
	return cmd
}
