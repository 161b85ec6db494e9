package install

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// Config says how an Installer works, whatever the caller's flags are called (stern's
// Config): pkg/cmd fills them once and the Installer never sees a flag.
type Config struct {
	Namespace     string
	PluginVersion string
	// DryRun has the API server check and default every object without writing any.
	DryRun bool
	// ForceConflicts takes over objects and fields that belong to someone else.
	ForceConflicts bool
	SkipPreflight  bool
	SupportMatrix  diagnose.SupportMatrix
	// Wait waits for the rollout, and for WaitFor, for at most Timeout in all.
	Wait    bool
	Timeout time.Duration
	// WaitFor is what Wait waits for; "" is UntilRollout.
	WaitFor WaitCondition
	// Redact hides secrets in the log lines read while waiting, before any is kept; nil
	// keeps them as they are.
	Redact func(string) string
	// Atomic rolls a failed upgrade back to the previous revision.
	Atomic bool
	// TakeOverHelm upgrades a delegate of a Helm release anyway.
	TakeOverHelm bool
	// Interval is how often the rollout is looked at; 0 is a second.
	Interval time.Duration
}

// EventKind says what an Event reports.
type EventKind int

const (
	// NamespaceCreated: Ref is the namespace.
	NamespaceCreated EventKind = iota
	// Applied: Ref and Action say what one apply did.
	Applied
	// Deleted: Ref is gone.
	Deleted
	// Rollout: Rollout is a new look at Deployment's rollout.
	Rollout
	// Reinstalling: the delegate Deployment is installed already, by the plugin.
	Reinstalling
	// PreflightWarnings: Report has warnings and no failure; the install goes on.
	PreflightWarnings
	// PreflightFailed: Report has failures; the install stops with a *PreflightError.
	PreflightFailed
	// RollingBack: the upgrade failed with Err and is being rolled back.
	RollingBack
	// HelmTakeOver: Delegate belongs to Helm release Ref and is changed anyway.
	HelmTakeOver
	// Unbound: the ClusterRoleBinding Ref no longer names the deleted namespace's ServiceAccounts.
	Unbound
	// Registration: Registration is a new count of Deployment's pods registered with the manager.
	Registration
)

// Event is one step of an install, upgrade or uninstall, told to Installer's progress callback
// as it happens (collect.Options.Progress's way), so that the caller decides how it reads.
type Event struct {
	Kind       EventKind
	Delegate   string
	Deployment string
	Ref        string
	Action     string
	Rollout    RolloutStatus
	// Registration is set for a Registration event.
	Registration RegistrationStatus
	Report       diagnose.Report
	Err          error
}

// Installer installs, upgrades and uninstalls delegates in one namespace.
type Installer struct {
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	settings Config
	progress func(Event)
	// readLog reads a pod's log tail for the registration wait; nil reads it from kube.
	// Tests plant logs here: the fake clientset serves every pod the same text.
	readLog logReader
}

// New builds an Installer. progress may be nil.
func New(kube kubernetes.Interface, dyn dynamic.Interface, settings Config, progress func(Event)) *Installer {
	if progress == nil {
		progress = func(Event) {}
	}
	return &Installer{kube: kube, dyn: dyn, settings: settings, progress: progress}
}

// ClusterError is a request to the API server that failed; the caller may explain it
// (which server, why it cannot be reached).
type ClusterError struct{ Err error }

func (e *ClusterError) Error() string { return e.Err.Error() }
func (e *ClusterError) Unwrap() error { return e.Err }

func clusterError(err error) error {
	if err == nil {
		return nil
	}
	return &ClusterError{Err: err}
}

// RoleError is a custom role (values key k8sPermissionsType) that could not be resolved:
// Err is the failed lookup, or nil when there is no Role or ClusterRole of that name.
type RoleError struct {
	Role, Namespace string
	Err             error
}

func (e *RoleError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("looking up k8sPermissionsType %s: %v", e.Role, e.Err)
	}
	return fmt.Sprintf("k8sPermissionsType %s: no Role %s in namespace %s and no ClusterRole %s; create it first, or use cluster-admin, cluster-viewer or namespace-admin",
		e.Role, e.Role, e.Namespace, e.Role)
}
func (e *RoleError) Unwrap() error { return e.Err }

// PreflightError is a preflight with failures: nothing was changed.
type PreflightError struct{ Report diagnose.Report }

func (e *PreflightError) Error() string {
	return fmt.Sprintf("preflight failed: %d check(s) failed", e.Report.Summary.Fail)
}

// NamespaceMissingError is a server dry run in a namespace that does not exist yet.
type NamespaceMissingError struct {
	Namespace string
	Err       error
}

func (e *NamespaceMissingError) Error() string {
	return fmt.Sprintf("a server dry run needs namespace %s to exist (install creates it; a dry run cannot): %v", e.Namespace, e.Err)
}
func (e *NamespaceMissingError) Unwrap() error { return e.Err }

// RejectedError is an install or upgrade the API server refused in its dry run: nothing was
// changed.
type RejectedError struct {
	What string // install or upgrade
	Err  error
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("the API server rejected the %s, nothing was changed: %v", e.What, e.Err)
}
func (e *RejectedError) Unwrap() error { return e.Err }

// Plan is what an install would write and what the cluster holds under those names.
type Plan struct {
	Values   Values
	Objects  []Object
	Existing []Existing
	// LookupErr is why the objects could not be read, kept when the preflight can explain it.
	LookupErr error
}

// Conflicts are the planned objects that belong to someone else.
func (p *Plan) Conflicts() []Conflict { return Conflicts(p.Existing, p.Values.DelegateName) }

// Reinstall says whether the plugin installed this delegate already.
func (p *Plan) Reinstall() bool {
	for _, e := range p.Existing {
		if e.Object.Kind == "Deployment" && e.Exists() {
			return e.Owner.Plugin
		}
	}
	return false
}

func (i *Installer) renderOptions() RenderOptions {
	return RenderOptions{Namespace: i.settings.Namespace, PluginVersion: i.settings.PluginVersion}
}

// Plan resolves a custom role, renders the objects and reads what exists under their names.
// A read the user is forbidden is kept in LookupErr for the preflight to explain.
func (i *Installer) Plan(ctx context.Context, v Values) (*Plan, error) {
	if err := ResolveCustomRole(ctx, i.kube, &v, i.settings.Namespace); err != nil {
		return nil, err
	}
	p := &Plan{Values: v, Objects: Render(v, i.renderOptions())}
	p.Existing, p.LookupErr = Lookup(ctx, i.dyn, p.Objects)
	if p.LookupErr != nil && (i.settings.SkipPreflight || !apierrors.IsForbidden(p.LookupErr)) {
		return nil, clusterError(p.LookupErr)
	}
	return p, nil
}

// Install plans, runs the preflight, creates the namespace, applies and waits for the
// rollout. With DryRun it stops after the server's dry run and returns what it would do.
func (i *Installer) Install(ctx context.Context, v Values) (*Plan, []Result, error) {
	p, err := i.Plan(ctx, v)
	if err != nil {
		return nil, nil, err
	}
	if p.Reinstall() && !i.settings.DryRun {
		i.progress(Event{Kind: Reinstalling, Delegate: v.DelegateName})
	}
	if err := i.checkPlan(ctx, p); err != nil {
		return p, nil, err
	}
	if i.settings.DryRun {
		results, err := Apply(ctx, i.dyn, p.Objects, p.Existing, ApplyOptions{DryRun: true, Force: i.settings.ForceConflicts})
		if apierrors.IsNotFound(err) && strings.Contains(err.Error(), "namespaces") {
			return p, nil, &NamespaceMissingError{Namespace: i.settings.Namespace, Err: err}
		}
		return p, results, err
	}
	if err := i.EnsureNamespace(ctx); err != nil {
		return p, nil, err
	}
	// The API server checks every object before the claim writes the first.
	if err := i.dryRun(ctx, p.Objects, p.Existing, "install"); err != nil {
		return p, nil, err
	}
	if err := i.claim(ctx, p); err != nil {
		return p, nil, err
	}
	results, err := i.applyStamped(ctx, p.Objects, p.Existing, v)
	if err != nil {
		return p, nil, i.interruptedInstall(ctx, v, fmt.Sprintf("%d of %d objects were applied", len(results), len(p.Objects)), err)
	}
	if err := i.recheck(ctx, v.DelegateName, p.Objects, results); err != nil {
		return p, nil, err
	}
	if !i.settings.Wait {
		return p, nil, nil
	}
	start := time.Now()
	if err = i.WaitForRollout(ctx, v.DelegateName, nil); err != nil {
		return p, nil, i.interruptedInstall(ctx, v, "every object is applied and the delegate is still rolling out", err)
	}
	err = i.WaitForRegistration(ctx, v.DelegateName, start)
	return p, nil, i.interruptedInstall(ctx, v, "the delegate is rolled out and has not registered with the manager yet", err)
}

// interruptedInstall says, of an install stopped by a signal, what it left and how to finish
// or undo it; other errors are returned as they are.
func (i *Installer) interruptedInstall(ctx context.Context, v Values, state string, err error) error {
	if err == nil || !interrupted(ctx) {
		return err
	}
	return &InterruptedError{What: "install", State: state,
		Finish: "run the same kubectl delegate install again",
		Undo:   fmt.Sprintf("kubectl delegate uninstall %s -n %s", v.DelegateName, i.settings.Namespace)}
}

// ConcurrentError is an install that met another install or upgrade of the same delegate.
// Before: it changed nothing (the other changed an object since the plan read it). Otherwise
// the other wrote while this one applied, and the delegate may hold a mix of both.
type ConcurrentError struct {
	Delegate, Ref string
	Before        bool
}

func (e *ConcurrentError) Error() string {
	if e.Before {
		return fmt.Sprintf("another install or upgrade of delegate %s is running: %s changed since this install read it; nothing was changed by this one: run it again once the other has finished", e.Delegate, e.Ref)
	}
	return fmt.Sprintf("another install or upgrade of delegate %s ran at the same time: %s changed while this install applied, and the delegate may hold settings of both: run this install again once the other has finished", e.Delegate, e.Ref)
}

// claim makes the install the only one of its delegate, with optimistic concurrency: a
// first install creates the ServiceAccount (a create fails when another install made it
// first), and every object must still be as the plan read it, so that of two installs at
// once the second fails before it writes. Nothing is written on a reinstall.
func (i *Installer) claim(ctx context.Context, p *Plan) error {
	claimed := -1
	for n, e := range p.Existing {
		if e.Object.Kind != "ServiceAccount" || e.Object.Name != p.Values.DelegateName || e.Exists() {
			continue
		}
		u, err := ToUnstructured(e.Object)
		if err != nil {
			return err
		}
		_, err = resourceFor(i.dyn, e.Object).Create(ctx, u, metav1.CreateOptions{FieldManager: FieldManager})
		if apierrors.IsAlreadyExists(err) {
			return &ConcurrentError{Delegate: p.Values.DelegateName, Ref: e.Object.Ref(), Before: true}
		}
		if err != nil {
			return clusterError(fmt.Errorf("creating %s: %w", e.Object.Ref(), err))
		}
		claimed = n
	}
	now, err := Lookup(ctx, i.dyn, p.Objects)
	if err != nil {
		return clusterError(err)
	}
	for n, e := range now {
		if n != claimed && (e.Exists() != p.Existing[n].Exists() || e.Content != p.Existing[n].Content) {
			return &ConcurrentError{Delegate: p.Values.DelegateName, Ref: e.Object.Ref(), Before: true}
		}
	}
	return nil
}

// recheck reads the applied objects again (results are those of objs, in order): one that
// is not as this install left it was written by another install meanwhile.
func (i *Installer) recheck(ctx context.Context, name string, objs []Object, results []Result) error {
	now, err := Lookup(ctx, i.dyn, objs[:len(results)])
	if err != nil {
		return clusterError(err)
	}
	for n, e := range now {
		if e.Content != contentDigest(results[n].Applied) {
			return &ConcurrentError{Delegate: name, Ref: e.Object.Ref()}
		}
	}
	return nil
}

// checkPlan runs the preflight, or without it refuses conflicts that are not to be forced.
func (i *Installer) checkPlan(ctx context.Context, p *Plan) error {
	if i.settings.SkipPreflight {
		if conflicts := p.Conflicts(); len(conflicts) > 0 && !i.settings.ForceConflicts {
			return &ConflictError{Conflicts: conflicts}
		}
		return nil
	}
	// A user who may not even read the objects hears why from the preflight.
	report, err := i.Preflight(ctx, p)
	if err != nil {
		return clusterError(err)
	}
	if report.Summary.Fail > 0 {
		i.progress(Event{Kind: PreflightFailed, Delegate: p.Values.DelegateName, Report: report})
		return &PreflightError{Report: report}
	}
	if report.Summary.Warn > 0 {
		i.progress(Event{Kind: PreflightWarnings, Delegate: p.Values.DelegateName, Report: report})
	}
	return clusterError(p.LookupErr)
}

// Preflight runs doctor --pre's checks on the plan.
func (i *Installer) Preflight(ctx context.Context, p *Plan) (diagnose.Report, error) {
	return PreflightReport(ctx, i.kube, p, i.settings.Namespace, i.settings.ForceConflicts, i.settings.SupportMatrix)
}

// PreflightReport runs doctor --pre's checks on a planned install.
func PreflightReport(ctx context.Context, kube kubernetes.Interface, p *Plan, namespace string, force bool, matrix diagnose.SupportMatrix) (diagnose.Report, error) {
	v := p.Values
	plan := diagnose.PrePlan{Delegate: plannedDelegate(v, namespace), SupportMatrix: matrix, ForceConflicts: force, Grants: grantsOf(v, namespace)}
	if p.LookupErr != nil {
		plan.ExistingError = p.LookupErr.Error()
	}
	for _, obj := range p.Objects {
		plan.Objects = append(plan.Objects, diagnose.PlannedObject{Group: obj.Resource.Group, Resource: obj.Resource.Resource,
			Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name})
	}
	for _, e := range p.Existing {
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
func grantsOf(v Values, namespace string) []diagnose.PlannedObject {
	clusterRole := func(name string) diagnose.PlannedObject {
		return diagnose.PlannedObject{Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Kind: "ClusterRole", Name: name}
	}
	switch v.K8sPermissionsType {
	case PermClusterAdmin:
		return []diagnose.PlannedObject{clusterRole("cluster-admin")}
	case PermClusterViewer:
		return []diagnose.PlannedObject{clusterRole("view")}
	case PermNamespaceAdmin:
		return nil // the Role is created by the install: create covers it
	}
	if v.CustomRoleKind == "ClusterRole" {
		g := clusterRole(v.K8sPermissionsType)
		g.Namespace = namespace // bound by a RoleBinding, within the namespace
		return []diagnose.PlannedObject{g}
	}
	return []diagnose.PlannedObject{{Group: "rbac.authorization.k8s.io", Resource: "roles", Kind: "Role", Namespace: namespace, Name: v.K8sPermissionsType}}
}

func plannedDelegate(v Values, namespace string) delegate.Delegate {
	memory := resource.MustParse(v.Memory)
	requests := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(v.CPU), corev1.ResourceMemory: memory}
	limits := corev1.ResourceList{corev1.ResourceMemory: memory}
	return diagnose.PlannedDelegate(namespace, v.DelegateName, *v.Replicas, requests, limits)
}

// ResolveCustomRole finds out whether a custom role name is a Role in the namespace or a
// ClusterRole, when the values did not say.
func ResolveCustomRole(ctx context.Context, kube kubernetes.Interface, v *Values, namespace string) error {
	switch v.K8sPermissionsType {
	case PermClusterAdmin, PermClusterViewer, PermNamespaceAdmin:
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
		return clusterError(&RoleError{Role: v.K8sPermissionsType, Namespace: namespace, Err: err})
	}
	if _, err := kube.RbacV1().ClusterRoles().Get(ctx, v.K8sPermissionsType, metav1.GetOptions{}); err == nil {
		v.CustomRoleKind = "ClusterRole"
		return nil
	} else if !apierrors.IsNotFound(err) {
		return clusterError(&RoleError{Role: v.K8sPermissionsType, Namespace: namespace, Err: err})
	}
	return &RoleError{Role: v.K8sPermissionsType, Namespace: namespace}
}

// EnsureNamespace creates the namespace when it is missing.
func (i *Installer) EnsureNamespace(ctx context.Context) error {
	namespace := i.settings.Namespace
	_, err := i.kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err == nil || !apierrors.IsNotFound(err) {
		return clusterError(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := i.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: FieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return clusterError(fmt.Errorf("creating namespace %s: %w", namespace, err))
	}
	i.progress(Event{Kind: NamespaceCreated, Ref: namespace})
	return nil
}

// Apply has the API server check every object in a dry run before the first is written, so
// that a rejected object does not leave half an install behind, then applies them: the
// Deployment last, stamped with the Secrets of v as applied, so that its pods restart when a
// Secret they read at start changes, and only then.
func (i *Installer) Apply(ctx context.Context, objs []Object, existing []Existing, v Values, what string) ([]Result, error) {
	if err := i.dryRun(ctx, objs, existing, what); err != nil {
		return nil, err
	}
	return i.applyStamped(ctx, objs, existing, v)
}

// dryRun has the API server check every object, writing none.
func (i *Installer) dryRun(ctx context.Context, objs []Object, existing []Existing, what string) error {
	if _, err := Apply(ctx, i.dyn, objs, existing, ApplyOptions{DryRun: true, Force: i.settings.ForceConflicts}); err != nil {
		return &RejectedError{What: what, Err: err}
	}
	return nil
}

// applyStamped applies the objects, the Deployment last with the stamp of v's Secrets.
func (i *Installer) applyStamped(ctx context.Context, objs []Object, existing []Existing, v Values) ([]Result, error) {
	force := i.settings.ForceConflicts
	last := len(objs) - 1
	if last < 0 || objs[last].Kind != "Deployment" {
		return i.applyNow(ctx, objs, existing, force)
	}
	results, err := i.applyNow(ctx, objs[:last], existing, force)
	if err != nil {
		return results, err
	}
	stamp, err := SecretStamp(ctx, i.dyn, i.settings.Namespace, v.Settings().ReferencedSecrets())
	if err != nil {
		return results, clusterError(err)
	}
	if d, ok := objs[last].Config.(*appsv1ac.DeploymentApplyConfiguration); ok && stamp != "" {
		d.Spec.Template.WithAnnotations(map[string]string{AnnotationSecretChecksum: stamp})
	}
	deployment, err := i.applyNow(ctx, objs[last:], existing, force)
	return append(results, deployment...), err
}

// SecretStamp stands for the Secrets as the cluster holds them: a digest of each one's uid
// and resourceVersion, which change when it is recreated or changed and say nothing about
// what it holds. Secrets that do not exist are left out; "" when none does.
func SecretStamp(ctx context.Context, dyn dynamic.Interface, namespace string, names []string) (string, error) {
	versions := map[string]string{}
	for _, name := range names {
		s, err := dyn.Resource(gvrSecret).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
		}
		versions[name] = string(s.GetUID()) + "/" + s.GetResourceVersion()
	}
	if len(versions) == 0 {
		return "", nil
	}
	return checksum(versions), nil
}

// applyNow applies the objects, telling what happened to each.
func (i *Installer) applyNow(ctx context.Context, objs []Object, existing []Existing, force bool) ([]Result, error) {
	results, err := Apply(ctx, i.dyn, objs, existing, ApplyOptions{Force: force})
	for _, r := range results {
		i.progress(Event{Kind: Applied, Ref: r.Ref, Action: r.Action})
	}
	return results, err
}

// WaitForRollout waits for the delegate's Deployment, telling each new status; lowest, when
// not nil, hears the fewest replicas available meanwhile.
func (i *Installer) WaitForRollout(ctx context.Context, name string, lowest *int32) error {
	progress := func(s RolloutStatus) { i.progress(Event{Kind: Rollout, Deployment: name, Rollout: s}) }
	return WaitForRollout(ctx, i.kube, i.settings.Namespace, name,
		WaitOptions{Timeout: i.settings.Timeout, Interval: i.settings.Interval, Progress: progress, MinAvailable: lowest})
}

// Installed lists the objects the plugin made for the delegate.
func (i *Installer) Installed(ctx context.Context, name string) ([]Object, error) {
	objs, err := Installed(ctx, i.dyn, i.settings.Namespace, name)
	return objs, clusterError(err)
}

// Delete deletes the objects, telling each that is gone.
func (i *Installer) Delete(ctx context.Context, objs []Object) error {
	deleted, err := Delete(ctx, i.dyn, objs)
	for _, ref := range deleted {
		i.progress(Event{Kind: Deleted, Ref: ref})
	}
	return err
}

// DeleteNamespace deletes the namespace with everything in it.
func (i *Installer) DeleteNamespace(ctx context.Context) error {
	namespace := i.settings.Namespace
	if err := i.kube.CoreV1().Namespaces().Delete(ctx, namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting namespace %s: %w", namespace, err)
	}
	i.progress(Event{Kind: Deleted, Ref: "Namespace/" + namespace})
	return nil
}

// WaitForPodsGone waits until no pod of the delegate is left.
func (i *Installer) WaitForPodsGone(ctx context.Context, name string) error {
	selector := labels.Set{delegate.LabelName: name}.AsSelector().String()
	interval := i.settings.Interval
	if interval == 0 {
		interval = time.Second
	}
	err := wait.PollUntilContextTimeout(ctx, interval, i.settings.Timeout, true, func(ctx context.Context) (bool, error) {
		pods, err := i.kube.CoreV1().Pods(i.settings.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		return len(pods.Items) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the pods of %s to go: %w", name, err)
	}
	return nil
}
