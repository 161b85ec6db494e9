package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/install"
)

// UninstallOptions are the inputs of `kubectl delegate uninstall`.
type UninstallOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Name            string
	Yes             bool
	DeleteNamespace bool
	Force           bool
	Wait            bool
	Timeout         time.Duration

	namespace string
	cluster   *installClient
}

// NewUninstallCommand builds `kubectl delegate uninstall`.
func NewUninstallCommand(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &UninstallOptions{configFlags: configFlags, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "uninstall NAME",
		Short: "Remove every object this plugin created for a delegate, and nothing else",
		Long: `Remove the objects kubectl delegate install created for the delegate, cluster-scoped bindings
included, found by their labels. Asks first on a terminal (--yes to skip). The namespace stays
unless --delete-namespace, which refuses when the namespace holds anything this uninstall did
not create (another delegate, say) unless --force; either way no ClusterRoleBinding is left
naming a ServiceAccount of the deleted namespace. A delegate installed by Helm or from a
manifest is refused with the command that removes it.`,
		Example: `  kubectl delegate uninstall prod-delegate
  kubectl delegate uninstall prod-delegate -n harness --yes --delete-namespace`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return runOptions(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	cmd.Flags().BoolVar(&o.DeleteNamespace, "delete-namespace", false, "Delete the namespace too; refused when it holds anything this uninstall did not create, unless --force")
	cmd.Flags().BoolVar(&o.Force, "force", false, "With --delete-namespace: delete the namespace even when it holds other delegates or objects")
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "Wait until the delegate's pods are gone")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Minute, "How long to wait for the pods to go")
	return cmd
}

// Complete builds the client.
func (o *UninstallOptions) Complete() error {
	o.namespace = installNamespace(o.configFlags)
	var err error
	o.cluster, err = newInstallClient(o.configFlags)
	return err
}

// Validate checks the flags.
func (o *UninstallOptions) Validate() error {
	if msgs := validationDNSLabel(o.Name); len(msgs) > 0 {
		return fmt.Errorf("NAME %q is not a delegate name: %s", o.Name, strings.Join(msgs, "; "))
	}
	if err := validateTimeout(o.Timeout); err != nil {
		return err
	}
	if o.Force && !o.DeleteNamespace {
		return errors.New("--force goes with --delete-namespace: without it, only the delegate's own objects are deleted")
	}
	if !o.Yes && !stdinIsTerminal(o.In) {
		return errors.New("uninstall asks for confirmation, and stdin is not a terminal: pass --yes")
	}
	return nil
}

// Run finds the objects, confirms, and deletes them.
func (o *UninstallOptions) Run(ctx context.Context) error {
	steps := newStepPrinter(o.IOStreams)
	inst := install.New(o.cluster.kube, o.cluster.dynamic, install.Config{Namespace: o.namespace, Timeout: o.Timeout}, steps.event)
	objs, err := inst.Installed(ctx, o.Name)
	if err != nil {
		return explainInstallError(o.cluster.server, err)
	}
	if len(objs) == 0 {
		return o.notOurs(ctx)
	}
	if o.DeleteNamespace && !o.Force {
		if err := inst.CheckNamespaceHoldsOnly(ctx, objs); err != nil {
			var foreign *install.ForeignError
			if errors.As(err, &foreign) {
				return fmt.Errorf("%w\nuninstall without --delete-namespace to keep them, or pass --force to delete them with the namespace", foreign)
			}
			return explainInstallError(o.cluster.server, err)
		}
	}
	if !o.Yes && !o.confirm(objs) {
		return errors.New("nothing was deleted")
	}
	if err := inst.Delete(ctx, objs); err != nil {
		return explainServerError(o.cluster.server, err)
	}
	if o.DeleteNamespace {
		if err := inst.DeleteNamespace(ctx); err != nil {
			return err
		}
		// The namespace's ServiceAccounts are going: no binding may outlive them.
		if err := inst.UnbindNamespace(ctx); err != nil {
			return explainInstallError(o.cluster.server, err)
		}
	}
	if !o.Wait {
		return nil
	}
	if err := inst.WaitForPodsGone(ctx, o.Name); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "delegate %s uninstalled\n", o.Name)
	return nil
}

// confirm lists what would go and asks.
func (o *UninstallOptions) confirm(objs []install.Object) bool {
	fmt.Fprintf(o.Out, "Delete these %d objects of delegate %s?\n", len(objs), o.Name)
	for _, obj := range objs {
		fmt.Fprintf(o.Out, "  %s\n", obj.Ref())
	}
	if o.DeleteNamespace {
		fmt.Fprintf(o.Out, "  Namespace/%s, with everything else in it, and the ClusterRoleBindings of its ServiceAccounts\n", o.namespace)
	}
	return confirm(o.In, o.Out)
}

// notOurs explains why there is nothing to uninstall: no such delegate, or one this plugin
// did not install, with the command that removes it.
func (o *UninstallOptions) notOurs(ctx context.Context) error {
	d, _, err := findInstalled(ctx, o.cluster, o.namespace, o.Name)
	if err != nil {
		return err
	}
	switch d.InstallMethod {
	case delegate.Helm:
		return fmt.Errorf("delegate %s belongs to Helm release %q; remove it with:\n  helm uninstall %s -n %s", d.Name, install.HelmRelease(d), install.HelmRelease(d), d.Namespace)
	case delegate.Manifest, delegate.Legacy:
		return fmt.Errorf("delegate %s was installed from a manifest (%s %s), not by this plugin; remove it with kubectl delete -f on that manifest, or:\n  kubectl delete %s/%s -n %s",
			d.Name, d.Workload.Kind, d.Workload.Name, strings.ToLower(d.Workload.Kind), d.Workload.Name, d.Namespace)
	}
	return fmt.Errorf("delegate %s in namespace %s has no objects labelled as made by this plugin", d.Name, d.Namespace)
}

func stdinIsTerminal(in io.Reader) bool {
	f, ok := in.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func confirm(in io.Reader, out io.Writer) bool {
	fmt.Fprint(out, "Type yes to delete: ")
	line, _ := bufio.NewReader(in).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "yes" || answer == "y"
}
