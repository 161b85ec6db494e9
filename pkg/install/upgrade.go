package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// SettingsOf reads the settings the plugin recorded on a Deployment it installed.
func SettingsOf(d *appsv1.Deployment) (Values, error) {
	var v Values
	raw := d.Annotations[AnnotationSettings]
	if raw == "" {
		return v, fmt.Errorf("deployment %s/%s has no %s annotation: it was not installed by this plugin, or by an older version", d.Namespace, d.Name, AnnotationSettings)
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return v, fmt.Errorf("deployment %s/%s: annotation %s is not valid: %w", d.Namespace, d.Name, AnnotationSettings, err)
	}
	return v, nil
}

// ManifestChanges are the settings an upgrade may change on a delegate installed from the
// plain manifest, where they live in the Deployment alone.
type ManifestChanges struct {
	Image    string
	Replicas *int32
	CPU      string
	Memory   string
	// Env are environment variables to set on the delegate container, by name.
	Env map[string]string
}

// Empty says whether nothing would change.
func (c ManifestChanges) Empty() bool {
	return c.Image == "" && c.Replicas == nil && c.CPU == "" && c.Memory == "" && len(c.Env) == 0
}

// ManifestEnv maps install settings to the manifest's inline environment variables.
func ManifestEnv(v Values) map[string]string {
	env := map[string]string{}
	set := func(name, value string) {
		if value != "" {
			env[name] = value
		}
	}
	set("ACCOUNT_ID", v.AccountID)
	set("MANAGER_HOST_AND_PORT", v.ManagerEndpoint)
	if v.ManagerEndpoint != "" {
		env["LOG_STREAMING_SERVICE_URL"] = strings.TrimSuffix(v.ManagerEndpoint, "/") + "/log-service/"
	}
	set("DELEGATE_TAGS", v.Tags)
	set("DELEGATE_DESCRIPTION", v.Description)
	set("INIT_SCRIPT", v.InitScript)
	set("JAVA_OPTS", v.JavaOpts)
	if v.PollForTasks != nil {
		env["POLL_FOR_TASKS"] = strconv.FormatBool(*v.PollForTasks)
	}
	set("PROXY_HOST", v.ProxyHost)
	set("PROXY_PORT", v.ProxyPort)
	set("PROXY_SCHEME", v.ProxyScheme)
	set("NO_PROXY", v.NoProxy)
	return env
}

// ManifestPatch is a sparse apply configuration of a manifest-installed Deployment holding
// only the fields an upgrade changes, and the same fields as they are now, for a rollback.
// Applied with force, the plugin takes over just those fields from kubectl apply.
func ManifestPatch(d *appsv1.Deployment, container string, c ManifestChanges) (after, before Object, err error) {
	var current *corev1.Container
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == container {
			current = &d.Spec.Template.Spec.Containers[i]
		}
	}
	if current == nil {
		return after, before, fmt.Errorf("deployment %s has no container %q", d.Name, container)
	}
	newC := corev1ac.Container().WithName(container)
	oldC := corev1ac.Container().WithName(container)
	newD := appsv1ac.Deployment(d.Name, d.Namespace)
	oldD := appsv1ac.Deployment(d.Name, d.Namespace)
	newSpec, oldSpec := appsv1ac.DeploymentSpec(), appsv1ac.DeploymentSpec()
	if c.Replicas != nil {
		newSpec.WithReplicas(*c.Replicas)
		oldSpec.WithReplicas(ptrValue(d.Spec.Replicas, 1))
	}
	if c.Image != "" {
		newC.WithImage(c.Image)
		oldC.WithImage(current.Image)
	}
	if c.CPU != "" || c.Memory != "" {
		newC.WithResources(resourcesWith(current.Resources, c.CPU, c.Memory))
		oldC.WithResources(resourcesWith(current.Resources, "", ""))
	}
	names := make([]string, 0, len(c.Env))
	for name := range c.Env {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if fromRef(current.Env, name) {
			return after, before, fmt.Errorf("deployment %s sets %s from a Secret or ConfigMap reference; change it there, not with a flag", d.Name, name)
		}
		newC.WithEnv(corev1ac.EnvVar().WithName(name).WithValue(c.Env[name]))
		if old, ok := envValue(current.Env, name); ok {
			oldC.WithEnv(corev1ac.EnvVar().WithName(name).WithValue(old))
		}
	}
	newSpec.WithTemplate(corev1ac.PodTemplateSpec().WithSpec(corev1ac.PodSpec().WithContainers(newC)))
	oldSpec.WithTemplate(corev1ac.PodTemplateSpec().WithSpec(corev1ac.PodSpec().WithContainers(oldC)))
	newD.WithSpec(newSpec)
	oldD.WithSpec(oldSpec)
	wrap := func(cfg *appsv1ac.DeploymentApplyConfiguration) Object {
		return Object{Resource: gvrDeployment, Kind: "Deployment", Namespace: d.Namespace, Name: d.Name, Config: cfg}
	}
	return wrap(newD), wrap(oldD), nil
}

func resourcesWith(r corev1.ResourceRequirements, cpu, memory string) *corev1ac.ResourceRequirementsApplyConfiguration {
	requests := corev1.ResourceList{}
	limits := corev1.ResourceList{}
	for k, q := range r.Requests {
		requests[k] = q
	}
	for k, q := range r.Limits {
		limits[k] = q
	}
	if cpu != "" {
		requests[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memory != "" {
		m := resource.MustParse(memory)
		requests[corev1.ResourceMemory] = m
		limits[corev1.ResourceMemory] = m
	}
	out := corev1ac.ResourceRequirements()
	if len(requests) > 0 {
		out.WithRequests(requests)
	}
	if len(limits) > 0 {
		out.WithLimits(limits)
	}
	return out
}

func envValue(env []corev1.EnvVar, name string) (string, bool) {
	for _, e := range env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	return "", false
}

func fromRef(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name && e.ValueFrom != nil {
			return true
		}
	}
	return false
}

func ptrValue(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// Installed lists every object the plugin made for the delegate, cluster-scoped bindings
// included, by its labels: one LIST per kind.
func Installed(ctx context.Context, dyn dynamic.Interface, namespace, name string) ([]Object, error) {
	selector := labels.Set{delegate.LabelManagedBy: delegate.ManagedByPlugin, delegate.LabelName: name}.AsSelector().String()
	var out []Object
	for _, k := range Kinds {
		ri := dyn.Resource(k.Resource)
		var list interface {
			UnstructuredContent() map[string]any
		}
		var err error
		if k.Namespaced {
			list, err = ri.Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		} else {
			list, err = ri.List(ctx, metav1.ListOptions{LabelSelector: selector})
		}
		if err != nil {
			return nil, fmt.Errorf("listing %ss labelled %s: %w", k.Kind, selector, err)
		}
		items, _ := list.UnstructuredContent()["items"].([]any)
		for _, item := range items {
			m, _ := item.(map[string]any)
			meta, _ := m["metadata"].(map[string]any)
			objName, _ := meta["name"].(string)
			objNS, _ := meta["namespace"].(string)
			if !k.Namespaced {
				// A ClusterRoleBinding of another namespace's delegate of the same name is not ours.
				if !bindsNamespace(m, namespace) {
					continue
				}
			}
			out = append(out, Object{Resource: k.Resource, Kind: k.Kind, Namespace: objNS, Name: objName})
		}
	}
	return out, nil
}

func bindsNamespace(binding map[string]any, namespace string) bool {
	subjects, _ := binding["subjects"].([]any)
	for _, s := range subjects {
		m, _ := s.(map[string]any)
		if ns, _ := m["namespace"].(string); ns == namespace {
			return true
		}
	}
	return false
}

// Stale are the installed objects a new rendering no longer has, e.g. the old binding after
// --role changed: an upgrade deletes them once the new objects are applied.
func Stale(installed, rendered []Object, v Values) []Object {
	keep := map[string]bool{}
	for _, o := range rendered {
		keep[o.Ref()] = true
	}
	for _, name := range v.ReferencedSecrets() {
		for _, o := range installed {
			if o.Kind == "Secret" && o.Name == name {
				keep[o.Ref()] = true
			}
		}
	}
	var out []Object
	for _, o := range installed {
		if !keep[o.Ref()] {
			out = append(out, o)
		}
	}
	return out
}

// Delete removes the objects, ignoring those already gone; the Deployment first, so that no
// pod restarts without its configuration.
func Delete(ctx context.Context, dyn dynamic.Interface, objs []Object) ([]string, error) {
	ordered := append([]Object(nil), objs...)
	sort.SliceStable(ordered, func(i, j int) bool { return kindRank(ordered[i].Kind) > kindRank(ordered[j].Kind) })
	var deleted []string
	background := metav1.DeletePropagationBackground
	for _, o := range ordered {
		err := resourceFor(dyn, o).Delete(ctx, o.Name, metav1.DeleteOptions{PropagationPolicy: &background})
		if err != nil && !isNotFound(err) {
			return deleted, fmt.Errorf("deleting %s: %w", o.Ref(), err)
		}
		if err == nil {
			deleted = append(deleted, o.Ref())
		}
	}
	return deleted, nil
}

func kindRank(kind string) int {
	for i, k := range Kinds {
		if k.Kind == kind {
			return i
		}
	}
	return -1
}

// LegacyError is a legacy StatefulSet delegate, which no upgrade can move forward.
type LegacyError struct{ Delegate string }

func (e *LegacyError) Error() string {
	return fmt.Sprintf("delegate %s is a legacy StatefulSet delegate (end of support 2024-01-31): install a new one with kubectl delegate install and remove the old one", e.Delegate)
}

// HelmOwnedError is a delegate of a Helm release, which would undo a change made here on its
// next upgrade; Command is the helm upgrade that makes the same change.
type HelmOwnedError struct{ Delegate, Release, Command string }

func (e *HelmOwnedError) Error() string {
	return fmt.Sprintf("delegate %s belongs to Helm release %q, which would undo this change on its next upgrade; run:\n  %s", e.Delegate, e.Release, e.Command)
}

// ManifestError is an upgrade of a delegate the plugin did not install that asks for settings
// only the plugin's own objects hold; Settings are named as the caller named them.
type ManifestError struct {
	Delegate string
	Method   delegate.InstallMethod
	Settings []string
}

func (e *ManifestError) Error() string {
	return fmt.Sprintf("delegate %s was installed by %s, whose objects this plugin does not own; %s cannot be changed here: reinstall it with kubectl delegate install, or change the manifest",
		e.Delegate, e.Method, strings.Join(e.Settings, ", "))
}

// ErrNothingToChange is an upgrade of a manifest-installed delegate that names no change.
var ErrNothingToChange = errors.New("nothing to change: name what to upgrade")

// KeptError is a failed rollout left in place because the upgrade is not atomic.
type KeptError struct {
	Namespace, Deployment string
	Err                   error
}

func (e *KeptError) Error() string {
	return fmt.Sprintf("%v\nthe new revision stays in place: kubectl rollout undo deployment/%s -n %s goes back", e.Err, e.Deployment, e.Namespace)
}
func (e *KeptError) Unwrap() error { return e.Err }

// RolledBackError is a failed upgrade whose previous revision serves again.
type RolledBackError struct {
	Deployment string
	// Lowest is the fewest replicas available during upgrade and rollback, of Desired.
	Lowest, Desired int32
	// TokenRotated: the new token stays in the token Secret, which the rollback keeps.
	TokenRotated bool
	Err          error
}

func (e *RolledBackError) Error() string {
	note := ""
	if e.TokenRotated {
		note = " The new token stays in the token Secret."
	}
	return fmt.Sprintf("upgrade of %s failed and was rolled back: the previous revision is serving again (%d of %d replicas stayed available throughout).%s\nwhy it failed: %v",
		e.Deployment, max(e.Lowest, 0), e.Desired, note, e.Err)
}
func (e *RolledBackError) Unwrap() error { return e.Err }

// Upgrade changes an installed delegate the way its install method allows: a plugin install
// is re-rendered from its recorded settings with the changes; on any other Deployment only the
// fields the changes name are taken over. pluginOnly are the changes, named as the caller
// names them, that only a plugin install can take. With DryRun it returns what it would apply.
func (i *Installer) Upgrade(ctx context.Context, d delegate.Delegate, deploy *appsv1.Deployment, changes Values, pluginOnly []string) ([]Object, []Result, error) {
	switch d.InstallMethod {
	case delegate.Legacy:
		return nil, nil, &LegacyError{Delegate: d.Name}
	case delegate.Helm:
		if !i.settings.TakeOverHelm {
			return nil, nil, &HelmOwnedError{Delegate: d.Name, Release: HelmRelease(d), Command: HelmUpgradeCommand(d, changes)}
		}
		i.progress(Event{Kind: HelmTakeOver, Delegate: d.Name, Ref: HelmRelease(d)})
		fallthrough
	case delegate.Manifest:
		if len(pluginOnly) > 0 {
			return nil, nil, &ManifestError{Delegate: d.Name, Method: d.InstallMethod, Settings: pluginOnly}
		}
		return i.upgradeFields(ctx, d, deploy, changes)
	}
	return i.upgradePlugin(ctx, deploy, changes)
}

// upgradePlugin re-renders every object from the recorded settings with the changes, applies
// them, removes objects no longer wanted, and rolls back to the recorded settings on failure.
func (i *Installer) upgradePlugin(ctx context.Context, deploy *appsv1.Deployment, changes Values) ([]Object, []Result, error) {
	old, err := SettingsOf(deploy)
	if err != nil {
		return nil, nil, err
	}
	v := old.Overlay(changes).withProxyScheme()
	// The proxy password stays in its Secret while the user it belongs to stays the same.
	kept := old.HasProxyCredentials() && v.ProxyUser == old.ProxyUser && changes.ProxyPassword == ""
	if err := validate(v, validateOptions{proxyPasswordKept: kept}); err != nil {
		return nil, nil, err
	}
	if err := ResolveCustomRole(ctx, i.kube, &v, i.settings.Namespace); err != nil {
		return nil, nil, err
	}
	checksum := deploy.Spec.Template.Annotations[AnnotationSecretChecksum]
	objs := Render(v, RenderOptions{Namespace: i.settings.Namespace, PluginVersion: i.settings.PluginVersion, SecretChecksum: checksum})
	previous := Render(old, RenderOptions{Namespace: i.settings.Namespace, PluginVersion: deploy.Annotations[delegate.AnnotationPluginVersion], SecretChecksum: checksum})
	existing, err := Lookup(ctx, i.dyn, objs)
	if err != nil {
		return nil, nil, clusterError(err)
	}
	if conflicts := Conflicts(existing, v.DelegateName); len(conflicts) > 0 && !i.settings.ForceConflicts {
		return nil, nil, &ConflictError{Conflicts: conflicts}
	}
	if i.settings.DryRun {
		results, err := Apply(ctx, i.dyn, objs, existing, ApplyOptions{DryRun: true, Force: i.settings.ForceConflicts})
		return objs, results, err
	}
	rollback := func(ctx context.Context) error {
		before, err := Lookup(ctx, i.dyn, previous)
		if err != nil {
			return err
		}
		if _, err := i.applyNow(ctx, previous, before, true); err != nil {
			return err
		}
		return i.Prune(ctx, previous, old)
	}
	if _, err := i.Apply(ctx, objs, existing, v, "upgrade"); err != nil {
		return objs, nil, i.interruptedApply(ctx, deploy, rollback, err)
	}
	if err := i.Prune(ctx, objs, v); err != nil {
		return objs, nil, i.interruptedApply(ctx, deploy, rollback, err)
	}
	return objs, nil, i.WaitOrRollBack(ctx, deploy, rollback, changes.DelegateToken != "")
}

// Prune deletes the plugin's objects for the delegate that the rendering no longer has.
func (i *Installer) Prune(ctx context.Context, rendered []Object, v Values) error {
	installed, err := Installed(ctx, i.dyn, i.settings.Namespace, v.DelegateName)
	if err != nil {
		return err
	}
	return i.Delete(ctx, Stale(installed, rendered, v))
}

// upgradeFields changes, on a Deployment the plugin did not make, only the fields the changes
// name: image, replicas, resources and the settings kept in its environment.
func (i *Installer) upgradeFields(ctx context.Context, d delegate.Delegate, deploy *appsv1.Deployment, v Values) ([]Object, []Result, error) {
	changes := ManifestChanges{Image: v.DelegateDockerImage, Replicas: v.Replicas, CPU: v.CPU, Memory: v.Memory, Env: ManifestEnv(v)}
	if changes.Empty() {
		return nil, nil, ErrNothingToChange
	}
	after, before, err := ManifestPatch(deploy, d.Workload.Container, changes)
	if err != nil {
		return nil, nil, err
	}
	objs := []Object{after}
	existing := []Existing{{Object: after, ResourceVersion: deploy.ResourceVersion}}
	// Force: the fields belong to kubectl apply (or Helm); the plugin takes over just these.
	if i.settings.DryRun {
		results, err := Apply(ctx, i.dyn, objs, existing, ApplyOptions{DryRun: true, Force: true})
		return objs, results, err
	}
	rollback := func(ctx context.Context) error {
		_, err := i.applyNow(ctx, []Object{before}, existing, true)
		return err
	}
	if _, err := i.applyNow(ctx, objs, existing, true); err != nil {
		return objs, nil, i.interruptedApply(ctx, deploy, rollback, err)
	}
	return objs, nil, i.WaitOrRollBack(ctx, deploy, rollback, false)
}

// InterruptedError is an install or upgrade stopped by a signal (Ctrl-C, SIGTERM): State says
// what the cluster holds now, Finish and Undo are the commands that complete or revert it.
type InterruptedError struct {
	What, State, Finish, Undo string
}

func (e *InterruptedError) Error() string {
	msg := fmt.Sprintf("%s interrupted: %s", e.What, e.State)
	if e.Finish != "" {
		msg += "\nto finish it: " + e.Finish
	}
	if e.Undo != "" {
		msg += "\nto undo it:   " + e.Undo
	}
	return msg
}

// NoGoodRevisionError is a failed upgrade of a Deployment whose revision before it was not
// available either (an earlier upgrade failed or was interrupted): rolling back would go back
// to a broken revision, so the new one stays.
type NoGoodRevisionError struct {
	Namespace, Deployment string
	Err                   error
}

func (e *NoGoodRevisionError) Error() string {
	return fmt.Sprintf("%v\nthe revision before this upgrade was broken too (it had not become available: an earlier upgrade failed or was interrupted), so it was not rolled back to; the new revision stays: upgrade again with settings that work, or list the revisions with kubectl rollout history deployment/%s -n %s and go back to one that worked with kubectl rollout undo deployment/%s -n %s --to-revision=N",
		e.Err, e.Deployment, e.Namespace, e.Deployment, e.Namespace)
}
func (e *NoGoodRevisionError) Unwrap() error { return e.Err }

// interrupted says whether ctx was ended by the caller (a signal), not by a timeout.
func interrupted(ctx context.Context) bool { return errors.Is(ctx.Err(), context.Canceled) }

// interruptedApply turns an apply that failed because of a signal into a rollback, when
// Atomic and the revision before was available; other errors are returned as they are.
func (i *Installer) interruptedApply(ctx context.Context, deploy *appsv1.Deployment, rollback func(context.Context) error, err error) error {
	if !interrupted(ctx) {
		return err
	}
	undo := fmt.Sprintf("kubectl rollout undo deployment/%s -n %s", deploy.Name, deploy.Namespace)
	if !i.settings.Atomic || !available(deploy) {
		return &InterruptedError{What: "upgrade", State: "some objects were changed and some not",
			Finish: "run the same kubectl delegate upgrade again", Undo: undo}
	}
	i.progress(Event{Kind: RollingBack, Deployment: deploy.Name, Err: err})
	rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.settings.Timeout)
	defer cancel()
	if rerr := rollback(rbCtx); rerr != nil {
		return &InterruptedError{What: "upgrade", State: fmt.Sprintf("some objects were changed and the rollback failed: %v", rerr),
			Finish: "run the same kubectl delegate upgrade again", Undo: undo}
	}
	return &InterruptedError{What: "upgrade", State: "rolled back: the objects are as before the upgrade"}
}

// available says whether the Deployment's current revision finished rolling out: only then is
// it something to roll back to.
func available(d *appsv1.Deployment) bool {
	s, err := DeploymentRolloutStatus(d)
	return err == nil && s.Done
}

// WaitOrRollBack waits for the rollout and then (UntilRegistered) for the new pods to
// register; when the rollout fails, or a new pod's log says it will not register, it rolls
// back (when Atomic), waits for the old revision, and says what happened in a *KeptError or
// *RolledBackError. It never rolls back to a revision that was not available
// (*NoGoodRevisionError), and a signal while waiting rolls back too (when Atomic) or says
// what is left (*InterruptedError).
func (i *Installer) WaitOrRollBack(ctx context.Context, deploy *appsv1.Deployment, rollback func(context.Context) error, tokenRotated bool) error {
	if !i.settings.Wait {
		return nil
	}
	lowest := int32(1 << 30)
	start := time.Now()
	status := fmt.Sprintf("kubectl rollout status deployment/%s -n %s", deploy.Name, deploy.Namespace)
	state, waiting := "the new revision is applied and still rolling out", "the rollout"
	waitErr := i.WaitForRollout(ctx, deploy.Name, &lowest)
	if waitErr == nil {
		waitErr = i.WaitForRegistration(ctx, deploy.Name, start)
		// A known failure line is as sure a sign of a broken revision as a failed rollout,
		// and the rollback restores what the upgrade changed in the ConfigMap and Deployment
		// (account, endpoint, proxy host, image; Secrets keep their new content). A wait
		// that only ran out of time is not: the delegate may be slow to start or its log
		// unreadable to this user, so the rolled-out revision is kept.
		var failed *RegistrationError
		if waitErr == nil || (!errors.As(waitErr, &failed) && !interrupted(ctx)) {
			return waitErr
		}
		state, waiting = "the new revision is rolled out and its pods have not registered with the manager yet", "the new pods to register"
		status = fmt.Sprintf("kubectl delegate inspect %s -n %s", deploy.Name, deploy.Namespace)
	}
	undo := fmt.Sprintf("kubectl rollout undo deployment/%s -n %s", deploy.Name, deploy.Namespace)
	switch {
	case interrupted(ctx) && (!i.settings.Atomic || !available(deploy)):
		return &InterruptedError{What: "upgrade", State: state, Finish: status, Undo: undo}
	case !i.settings.Atomic:
		return &KeptError{Namespace: deploy.Namespace, Deployment: deploy.Name, Err: waitErr}
	case !available(deploy):
		return &NoGoodRevisionError{Namespace: deploy.Namespace, Deployment: deploy.Name, Err: waitErr}
	}
	if interrupted(ctx) {
		waitErr = errors.New("interrupted while waiting for " + waiting)
	}
	i.progress(Event{Kind: RollingBack, Deployment: deploy.Name, Err: waitErr})
	// The rollback runs even when the wait ran out of time, with its own deadline.
	rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.settings.Timeout)
	defer cancel()
	if err := rollback(rbCtx); err != nil {
		return fmt.Errorf("upgrade failed and the rollback failed too: %v; the upgrade failed because: %w", err, waitErr)
	}
	if err := i.WaitForRollout(rbCtx, deploy.Name, &lowest); err != nil {
		return fmt.Errorf("upgrade failed and the rolled-back revision is not available either: %v; the upgrade failed because: %w", err, waitErr)
	}
	return &RolledBackError{Deployment: deploy.Name, Lowest: lowest, Desired: ptrValue(deploy.Spec.Replicas, 1), TokenRotated: tokenRotated, Err: waitErr}
}

// HelmRelease is the Helm release a delegate belongs to.
func HelmRelease(d delegate.Delegate) string {
	if d.Helm != nil && d.Helm.Release != "" {
		return d.Helm.Release
	}
	return d.Name
}

// HelmUpgradeCommand is the helm upgrade that makes the same change: a --set per setting the
// changes name, read off the settings table so that none is dropped. Secrets are left out
// (they would stay in the shell's history); the chart reads them from --set-file or its Secret.
func HelmUpgradeCommand(d delegate.Delegate, v Values) string {
	cmd := fmt.Sprintf("helm upgrade %s harness-delegate/harness-delegate-ng -n %s --reuse-values", HelmRelease(d), d.Namespace)
	for _, s := range Settings {
		text, ok := s.ChartText(v)
		if !ok || s.Key == "delegateName" || s.Key == "delegateToken" || s.Key == "proxyPassword" {
			continue
		}
		if s.Key == "memory" {
			// The chart's memory is a number of Mi.
			memory := resource.MustParse(v.Memory)
			text = fmt.Sprint(memory.Value() >> 20)
		}
		cmd += " " + helmSet(s, text)
	}
	return cmd
}

// helmSet is the --set of one setting as a shell passes it to Helm. Helm splits --set on
// commas (tags=a,b would set a tag a and a key b): a string's commas and backslashes are
// escaped, and a string Helm would read as a number, boolean or null goes in --set-string.
// The argument is quoted for the shell when it holds anything but plain characters.
func helmSet(s Setting, text string) string {
	flag := "--set"
	if s.Type() == TypeString && s.Key != "cpu" && s.Key != "memory" {
		text = strings.NewReplacer(`\`, `\\`, ",", `\,`).Replace(text)
		if _, err := strconv.ParseFloat(text, 64); err == nil || text == "true" || text == "false" || text == "null" {
			flag = "--set-string"
		}
	}
	arg := s.Key + "=" + text
	if strings.IndexFunc(arg, notShellPlain) >= 0 {
		arg = "'" + strings.ReplaceAll(arg, "'", `'\''`) + "'"
	}
	return flag + " " + arg
}

func notShellPlain(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+", r))
}
