package cmd

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubectl-delegate/kubectl-delegate/internal/buildinfo"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/install"
)

// capacityFlags are the settings doctor takes only with --pre.
var capacityFlags = []string{"replicas", "cpu", "memory", "role", "upgrader"}

func (o *DoctorOptions) validatePre() error {
	if !o.Pre {
		for _, flag := range capacityFlags {
			if o.preSettings.changed(flag) {
				return errors.New("--" + flag + " describes a planned install: it goes with --pre")
			}
		}
		return nil
	}
	if o.AllNamespaces || o.ECSTaskSpecFile != "" {
		return errors.New("--pre checks one planned install: it does not go with -A or --ecs-task-spec")
	}
	v, err := o.plannedValues()
	if err != nil {
		return err
	}
	return install.Validate(v, false)
}

// plannedValues are the install doctor --pre looks at; account and token do not change what
// it checks, so stand-ins fill them.
func (o *DoctorOptions) plannedValues() (install.Values, error) {
	v, err := o.preSettings.values(o.In, o.ErrOut)
	if err != nil {
		return v, err
	}
	v.DelegateName = o.Name
	if v.DelegateName == "" {
		v.DelegateName = install.DefaultNamespace
	}
	v.AccountID, v.DelegateToken = "planned", "planned"
	return v.WithDefaults(), nil
}

// runPre checks the planned install: what install's preflight checks.
func (o *DoctorOptions) runPre(ctx context.Context) error {
	c, err := newInstallClient(o.configFlags)
	if err != nil {
		return err
	}
	namespace := installNamespace(o.configFlags)
	v, err := o.plannedValues()
	if err != nil {
		return err
	}
	if err := resolveCustomRole(ctx, c.kube, &v, namespace); err != nil {
		return explainServerError(c.server, err)
	}
	objs := install.Render(v, install.RenderOptions{Namespace: namespace, PluginVersion: buildinfo.Version})
	existing, lookupErr := install.Lookup(ctx, c.dynamic, objs)
	if lookupErr != nil && !apierrors.IsForbidden(lookupErr) {
		return explainServerError(c.server, lookupErr)
	}
	report, err := preflightReport(ctx, c.kube, v, namespace, objs, existing, lookupErr, false, o.matrix)
	if err != nil {
		return explainServerError(c.server, err)
	}
	return o.report(report)
}
