package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/install"
)

// UpgradeOptions are the inputs of `kubectl delegate upgrade`.
type UpgradeOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
	settings settingsFlags

	applyFlags
	Name   string
	Atomic bool
	Force  bool

	namespace string
	changes   install.Values
	cluster   *installClient
}

// NewUpgradeCommand builds `kubectl delegate upgrade`.
func NewUpgradeCommand(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return newUpgradeCommand(&UpgradeOptions{configFlags: configFlags, IOStreams: streams})
}

// newUpgradeCommand binds the command's flags to o.
func newUpgradeCommand(o *UpgradeOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upgrade NAME [--image IMAGE] [--replicas N] [--cpu Q] [--memory Q] [...]",
		Short: "Change a delegate's image, replicas, resources or settings, and roll back if it fails",
		Long: `Upgrade a delegate installed by this plugin or from the plain manifest: change what the flags
name and keep everything else. The command waits for the rollout and for the new pods to register
with the manager; when the new pods do not become available (crash loop, image pull failure,
timeout), or a new pod's log says it will not register (wrong account, invalid token, unreachable
manager, ...), it rolls back to the previous revision, unless --atomic=false. With 2 or more replicas the old pods keep serving until new ones are available.

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
	o.applyFlags.add(cmd)
	cmd.Flags().BoolVar(&o.Atomic, "atomic", true, "Roll back to the previous revision when the new pods do not become available, or their log says they will not register")
	cmd.Flags().BoolVar(&o.Force, "force", false, fmt.Sprintf("Upgrade a Helm-managed delegate anyway (Helm will revert it on its next upgrade), or to more than %d replicas, the most the documented delegate sizing covers", install.MaxSizedReplicas))
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
	if err := o.validateWait(); err != nil {
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
	probe := install.Values{DelegateName: o.Name, AccountID: "probe", ExistingDelegateToken: "probe"}.Overlay(o.changes).WithDefaults()
	if o.changes.DelegateToken == "" && o.changes.ExistingDelegateToken == "" {
		probe.DelegateToken, probe.ExistingDelegateToken = "", "probe"
	}
	if err := install.Validate(probe, false); err != nil {
		return err
	}
	// The same bound as install's: --replicas 100000 is a typo, not a plan.
	if err := install.ValidateReplicasSized(o.changes); err != nil && !o.Force {
		return fmt.Errorf("%w; pass --force to upgrade to that many anyway", err)
	}
	return nil
}

// Run finds the delegate and upgrades it the way its install method allows.
func (o *UpgradeOptions) Run(ctx context.Context) error {
	d, deploy, err := findInstalled(ctx, o.cluster, o.namespace, o.Name)
	if err != nil {
		return err
	}
	// Ctrl-C or SIGTERM rolls back (--atomic) or says what is left and how to finish it.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	steps := newStepPrinter(o.IOStreams)
	inst := install.New(o.cluster.kube, o.cluster.dynamic, o.upgradeSettings(), steps.event)
	objs, results, err := inst.Upgrade(ctx, d, deploy, o.changes, o.pluginOnlyFlags())
	steps.close()
	if err != nil {
		return explainInstallError(o.cluster.server, err)
	}
	if o.DryRun == "server" {
		return printObjects(o.Out, o.Output, objs, results, o.ShowSecrets)
	}
	return nil
}

// upgradeSettings are the flags as the installer takes them.
func (o *UpgradeOptions) upgradeSettings() install.Config {
	c := o.applyFlags.config(o.namespace)
	c.Atomic, c.TakeOverHelm = o.Atomic, o.Force
	c.Redact = redactText([]string{o.changes.DelegateToken})
	return c
}

// pluginOnlyFlags are the flags given that only a delegate installed by the plugin can take.
func (o *UpgradeOptions) pluginOnlyFlags() []string {
	var out []string
	for _, flag := range []string{"role", "upgrader", "ca-file", "proxy-user", "proxy-password-file", "token", "token-file", "token-secret", "min-ready-seconds"} {
		if o.settings.changed(flag) {
			out = append(out, "--"+flag)
		}
	}
	return out
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
