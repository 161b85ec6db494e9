package install

import (
	"k8s.io/utils/ptr"

	"context"
	"encoding/base64"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// badImage is an image whose pods never become available in the fake cluster.
const badImage = "harness/delegate:crash-loop"

// fakeCluster is a fake clientset and dynamic client that agree: server-side apply writes into
// the dynamic client's store (a dry run writes nothing), and the typed client reads the
// Deployment from there with the status a controller would give it, failed for badImage.
type fakeCluster struct {
	kube   *kubefake.Clientset
	dyn    *dynamicfake.FakeDynamicClient
	events []Event
}

func newFakeCluster(t *testing.T, kubeObjs []runtime.Object, dynObjs ...runtime.Object) *fakeCluster {
	t.Helper()
	listKinds := map[schema.GroupVersionResource]string{}
	for _, k := range Kinds {
		listKinds[k.Resource] = k.Kind + "List"
	}
	c := &fakeCluster{
		kube: kubefake.NewClientset(kubeObjs...),
		dyn:  dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, dynObjs...),
	}
	c.dyn.PrependReactor("patch", "*", c.apply)
	// A create gets a resourceVersion, as from an API server.
	c.dyn.PrependReactor("create", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if u, ok := action.(clienttesting.CreateAction).GetObject().(*unstructured.Unstructured); ok && u.GetResourceVersion() == "" {
			u.SetResourceVersion("1")
		}
		return false, nil, nil
	})
	c.kube.PrependReactor("get", "deployments", c.deployment)
	return c
}

func (c *fakeCluster) installer(s Config) *Installer {
	if s.Namespace == "" {
		s.Namespace = testNamespace
	}
	s.PluginVersion = testVersion
	s.Interval = time.Millisecond
	if s.Timeout == 0 {
		s.Timeout = 5 * time.Second
	}
	return New(c.kube, c.dyn, s, func(e Event) { c.events = append(c.events, e) })
}

// apply stores an applied object whole, with a resourceVersion that changes when it does.
func (c *fakeCluster) apply(action clienttesting.Action) (bool, runtime.Object, error) {
	p, ok := action.(clienttesting.PatchActionImpl)
	if !ok || p.GetPatchType() != types.ApplyPatchType {
		return false, nil, nil
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(p.GetPatch()); err != nil {
		return true, nil, err
	}
	if len(p.PatchOptions.DryRun) > 0 {
		return true, obj, nil
	}
	tracker, gvr, ns := c.dyn.Tracker(), p.GetResource(), p.GetNamespace()
	old, err := tracker.Get(gvr, ns, p.GetName())
	if apierrors.IsNotFound(err) {
		obj.SetResourceVersion("1")
		return true, obj, tracker.Create(gvr, obj, ns)
	}
	if err != nil {
		return true, nil, err
	}
	rv := old.(*unstructured.Unstructured).GetResourceVersion()
	obj.SetResourceVersion(rv)
	if equality.Semantic.DeepEqual(old.(*unstructured.Unstructured).Object, obj.Object) {
		return true, old, nil
	}
	n, _ := strconv.Atoi(rv)
	obj.SetResourceVersion(strconv.Itoa(n + 1))
	return true, obj, tracker.Update(gvr, obj, ns)
}

// deployment is the applied Deployment with a finished rollout, or a failed one for badImage.
func (c *fakeCluster) deployment(action clienttesting.Action) (bool, runtime.Object, error) {
	get := action.(clienttesting.GetAction)
	u, err := c.dyn.Tracker().Get(gvrDeployment, get.GetNamespace(), get.GetName())
	if err != nil {
		return true, nil, err
	}
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.(*unstructured.Unstructured).Object, &d); err != nil {
		return true, nil, err
	}
	d.UID = types.UID("uid-" + d.Name) // as the API server gives it: ReplicaSets name it as their owner
	desired := ptrValue(d.Spec.Replicas, 1)
	d.Status = appsv1.DeploymentStatus{Replicas: desired, UpdatedReplicas: desired, AvailableReplicas: desired}
	if d.Spec.Template.Spec.Containers[0].Image == badImage {
		// The new pods crash; all but one old pod keep serving.
		d.Status.AvailableReplicas = desired - 1
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded"}}
	}
	return true, &d, nil
}

// installed is the Deployment as the cluster holds it, and the delegate list would find it.
func (c *fakeCluster) installed(t *testing.T, name string) (delegate.Delegate, *appsv1.Deployment) {
	t.Helper()
	d, err := c.kube.AppsV1().Deployments(testNamespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return delegate.Delegate{Name: name, Namespace: testNamespace, InstallMethod: delegate.Plugin}, d
}

// refs are the Refs of the events of a kind, with their action.
func (c *fakeCluster) refs(kind EventKind) []string {
	var out []string
	for _, e := range c.events {
		if e.Kind == kind {
			out = append(out, strings.TrimSpace(e.Ref+" "+e.Action))
		}
	}
	return out
}

func (c *fakeCluster) writes() []string {
	var out []string
	for _, a := range c.dyn.Actions() {
		if p, ok := a.(clienttesting.PatchActionImpl); ok && len(p.PatchOptions.DryRun) == 0 {
			out = append(out, p.GetResource().Resource+"/"+p.GetName())
		}
		if a.GetVerb() == "delete" {
			out = append(out, "delete "+a.GetResource().Resource)
		}
	}
	return out
}

func helmConfigMap(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": testNamespace, "resourceVersion": "3",
			"labels":      map[string]any{delegate.LabelManagedBy: "Helm", delegate.LabelName: name},
			"annotations": map[string]any{delegate.AnnotationHelmRelease: name, "meta.helm.sh/release-namespace": testNamespace}},
	}}
}

// TestPlan: the plan resolves a custom role to the kind that exists, renders the chart's set,
// and reads what exists under those names.
func TestPlan(t *testing.T) {
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: testNamespace}}
	clusterRole := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "auditor"}}
	for _, tc := range []struct {
		name, role, wantKind string
		dyn                  []runtime.Object
		wantConflicts        int
		wantReinstall        bool
	}{
		{name: "empty cluster", role: PermClusterAdmin},
		{name: "custom Role", role: "deployer", wantKind: "Role"},
		{name: "custom ClusterRole", role: "auditor", wantKind: "ClusterRole"},
		{name: "Helm's objects", role: PermClusterAdmin, dyn: []runtime.Object{helmConfigMap("prod")}, wantConflicts: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster(t, []runtime.Object{role, clusterRole}, tc.dyn...)
			v := base()
			v.K8sPermissionsType = tc.role
			p, err := c.installer(Config{}).Plan(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			if p.Values.CustomRoleKind != tc.wantKind {
				t.Errorf("role %s resolved to %q, want %q", tc.role, p.Values.CustomRoleKind, tc.wantKind)
			}
			if len(p.Objects) != len(Render(p.Values, RenderOptions{Namespace: testNamespace})) || len(p.Existing) != len(p.Objects) {
				t.Errorf("%d objects and %d lookups", len(p.Objects), len(p.Existing))
			}
			if got := len(p.Conflicts()); got != tc.wantConflicts {
				t.Errorf("%d conflicts, want %d: %v", got, tc.wantConflicts, p.Conflicts())
			}
			if p.Reinstall() {
				t.Error("nothing installed, yet the plan is a reinstall")
			}
			if w := c.writes(); len(w) > 0 {
				t.Errorf("a plan wrote %v", w)
			}
		})
	}
	t.Run("missing role", func(t *testing.T) {
		v := base()
		v.K8sPermissionsType = "nobody"
		_, err := newFakeCluster(t, nil).installer(Config{}).Plan(ctx, v)
		var roleErr *RoleError
		var clusterErr *ClusterError
		if !errors.As(err, &roleErr) || roleErr.Err != nil || errors.As(err, &clusterErr) {
			t.Errorf("a role that exists nowhere: %#v, want a *RoleError that is no *ClusterError", err)
		}
	})
}

// TestInstallWithoutPreflight: conflicts stop an install before any write unless forced; an
// install applies after a dry run, and a second one changes nothing.
func TestInstallWithoutPreflight(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(t, nil, helmConfigMap("prod"))
	_, _, err := c.installer(Config{SkipPreflight: true}).Install(ctx, base())
	var conflict *ConflictError
	if !errors.As(err, &conflict) || len(conflict.Conflicts) != 1 {
		t.Fatalf("install over Helm's ConfigMap: %v, want a *ConflictError", err)
	}
	if w := c.writes(); len(w) > 0 {
		t.Fatalf("a refused install wrote %v", w)
	}

	c = newFakeCluster(t, nil)
	if _, _, err := c.installer(Config{SkipPreflight: true, Wait: true}).Install(ctx, base()); err != nil {
		t.Fatal(err)
	}
	applied := c.refs(Applied)
	if c.refs(NamespaceCreated)[0] != testNamespace || len(applied) != len(render(base())) {
		t.Fatalf("events %v", c.events)
	}
	for _, a := range applied {
		if !strings.HasSuffix(a, " created") {
			t.Errorf("first install: %s", a)
		}
	}
	if last := c.events[len(c.events)-1]; last.Kind != Rollout || !last.Rollout.Done {
		t.Errorf("the install did not wait for the rollout: %+v", last)
	}

	c.events = nil
	if _, _, err := c.installer(Config{SkipPreflight: true}).Install(ctx, base()); err != nil {
		t.Fatal(err)
	}
	if c.events[0].Kind != Reinstalling {
		t.Errorf("a second install does not say it reinstalls: %+v", c.events[0])
	}
	for _, a := range c.refs(Applied) {
		if !strings.HasSuffix(a, " unchanged") {
			t.Errorf("second install: %s", a)
		}
	}
}

// TestUpgradeOverlay: an upgrade keeps the recorded settings it is not given and takes the new
// ones; run again with the same change it changes nothing.
func TestUpgradeOverlay(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(t, nil)
	v := base()
	v.Replicas, v.Tags = ptr.To(int32(2)), "gpu,eu"
	if _, _, err := c.installer(Config{SkipPreflight: true}).Install(ctx, v); err != nil {
		t.Fatal(err)
	}
	s := Config{Wait: true, Atomic: true}
	changes := Values{DelegateDockerImage: "harness/delegate:26.03.1", Memory: "4Gi"}
	for run := range 2 {
		c.events = nil
		d, deploy := c.installed(t, "prod")
		if _, _, err := c.installer(s).Upgrade(ctx, d, deploy, changes, nil); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		_, deploy = c.installed(t, "prod")
		got, err := SettingsOf(deploy)
		if err != nil {
			t.Fatal(err)
		}
		if got.DelegateDockerImage != changes.DelegateDockerImage || got.Memory != "4Gi" || *got.Replicas != 2 || got.Tags != "gpu,eu" || got.AccountID != v.AccountID {
			t.Errorf("run %d: recorded settings %+v, want the install's with the new image and memory", run, got)
		}
		if image := deploy.Spec.Template.Spec.Containers[0].Image; image != changes.DelegateDockerImage {
			t.Errorf("run %d: the Deployment runs %s", run, image)
		}
		var changed []string
		for _, a := range c.refs(Applied) {
			if !strings.HasSuffix(a, " unchanged") {
				changed = append(changed, a)
			}
		}
		if run == 1 && len(changed) > 0 {
			t.Errorf("the same upgrade again changed %v", changed)
		}
		if run == 0 && !slices.Contains(changed, testNamespace+"/Deployment/prod configured") {
			t.Errorf("the upgrade did not configure the Deployment: %v", changed)
		}
	}
}

// TestUpgradeRollBack: the decision after a failed rollout.
func TestUpgradeRollBack(t *testing.T) {
	ctx := context.Background()
	first := "harness/delegate:26.02.1"
	for _, tc := range []struct {
		name      string
		settings  Config
		changes   Values
		wantImage string
		want      func(t *testing.T, err error)
	}{
		{"atomic: the previous revision is applied again", Config{Wait: true, Atomic: true}, Values{DelegateDockerImage: badImage}, first,
			func(t *testing.T, err error) {
				var rb *RolledBackError
				if !errors.As(err, &rb) || rb.Lowest != 1 || rb.Desired != 2 || rb.TokenRotated {
					t.Errorf("got %#v, want a *RolledBackError with 1 of 2 available", err)
				}
				var rollout *RolloutError
				if !errors.As(err, &rollout) || !strings.Contains(rollout.Cause, "progress deadline") {
					t.Errorf("the rollback does not carry why the rollout failed: %v", err)
				}
			}},
		{"atomic off: the new revision is kept", Config{Wait: true}, Values{DelegateDockerImage: badImage}, badImage,
			func(t *testing.T, err error) {
				var kept *KeptError
				if !errors.As(err, &kept) || kept.Deployment != "prod" || kept.Namespace != testNamespace {
					t.Errorf("got %#v, want a *KeptError", err)
				}
			}},
		{"token rotated: rolled back, new token kept", Config{Wait: true, Atomic: true}, Values{DelegateDockerImage: badImage, DelegateToken: "bmV3LXRva2Vu"}, first,
			func(t *testing.T, err error) {
				var rb *RolledBackError
				if !errors.As(err, &rb) || !rb.TokenRotated || !strings.Contains(err.Error(), "new token stays") {
					t.Errorf("got %v, want a rollback that keeps the new token", err)
				}
			}},
		{"rolled out, not registered: kept, not rolled back", Config{Wait: true, Atomic: true, WaitFor: UntilRegistered, Timeout: 50 * time.Millisecond},
			Values{DelegateDockerImage: "harness/delegate:26.02.2"}, "harness/delegate:26.02.2",
			func(t *testing.T, err error) {
				var timeout *RegistrationTimeoutError
				if !errors.As(err, &timeout) || timeout.Status != (RegistrationStatus{Pods: 2}) {
					t.Errorf("got %v, want a wait for registration that timed out with 0 of 2 pods registered", err)
				}
			}},
		{"no wait: nothing to decide", Config{}, Values{DelegateDockerImage: badImage}, badImage,
			func(t *testing.T, err error) {
				if err != nil {
					t.Errorf("got %v", err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster(t, nil)
			v := base()
			v.DelegateDockerImage, v.Replicas = first, ptr.To(int32(2))
			if _, _, err := c.installer(Config{SkipPreflight: true}).Install(ctx, v); err != nil {
				t.Fatal(err)
			}
			d, deploy := c.installed(t, "prod")
			c.events = nil
			_, _, err := c.installer(tc.settings).Upgrade(ctx, d, deploy, tc.changes, nil)
			tc.want(t, err)
			_, deploy = c.installed(t, "prod")
			if image := deploy.Spec.Template.Spec.Containers[0].Image; image != tc.wantImage {
				t.Errorf("the Deployment runs %s, want %s", image, tc.wantImage)
			}
			rollingBack := slices.ContainsFunc(c.events, func(e Event) bool { return e.Kind == RollingBack })
			if rollingBack != (tc.wantImage == first) {
				t.Errorf("rolling back: %v, want %v", rollingBack, tc.wantImage == first)
			}
			if tc.changes.DelegateToken != "" {
				secret, err := c.dyn.Resource(gvrSecret).Namespace(testNamespace).Get(ctx, "prod", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if token, _, _ := unstructured.NestedString(secret.Object, "data", "DELEGATE_TOKEN"); token == "" || token == v.DelegateToken {
					t.Errorf("the token Secret holds %q after the rollback, want the new token", token)
				}
			}
		})
	}
}

// TestPrune: what the new rendering no longer has is deleted, and nothing else: not another
// delegate's objects, not objects without the plugin's labels.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	other := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "other", "namespace": testNamespace, "resourceVersion": "1",
			"labels": map[string]any{delegate.LabelManagedBy: delegate.ManagedByPlugin, delegate.LabelName: "other"}},
	}}
	unlabelled := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
		"metadata": map[string]any{"name": "prod-by-hand", "resourceVersion": "1"},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "prod", "namespace": testNamespace}},
	}}
	c := newFakeCluster(t, nil, other, unlabelled)
	if _, _, err := c.installer(Config{SkipPreflight: true}).Install(ctx, base()); err != nil {
		t.Fatal(err)
	}
	d, deploy := c.installed(t, "prod")
	c.events = nil
	changes := Values{K8sPermissionsType: PermNamespaceAdmin}
	if _, _, err := c.installer(Config{}).Upgrade(ctx, d, deploy, changes, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := c.refs(Deleted), []string{"ClusterRoleBinding/prod-cluster-admin"}; !slices.Equal(got, want) {
		t.Errorf("pruned %v, want %v", got, want)
	}
	for _, kept := range []struct {
		gvr      schema.GroupVersionResource
		ns, name string
	}{{gvrConfigMap, testNamespace, "other"}, {gvrClusterRoleBinding, "", "prod-by-hand"}, {gvrRoleBinding, testNamespace, "prod-harness-namespace-admin"}} {
		if _, err := c.dyn.Tracker().Get(kept.gvr, kept.ns, kept.name); err != nil {
			t.Errorf("%s %s: %v", kept.gvr.Resource, kept.name, err)
		}
	}

	c.events = nil
	v := base()
	v.K8sPermissionsType = PermNamespaceAdmin
	if err := c.installer(Config{}).Prune(ctx, Render(v, RenderOptions{Namespace: testNamespace}), v); err != nil {
		t.Fatal(err)
	}
	if got := c.refs(Deleted); len(got) > 0 {
		t.Errorf("a second prune deleted %v", got)
	}
}

// TestUpgradeByInstallMethod: what an upgrade does with a delegate it did not install.
func TestUpgradeByInstallMethod(t *testing.T) {
	ctx := context.Background()
	manifest := manifestDeployment()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(manifest)
	if err != nil {
		t.Fatal(err)
	}
	manifestObj := &unstructured.Unstructured{Object: u}
	manifestObj.SetAPIVersion("apps/v1")
	manifestObj.SetKind("Deployment")
	manifestObj.SetResourceVersion("5")
	d := delegate.Delegate{Name: manifest.Name, Namespace: testNamespace, Workload: delegate.WorkloadRef{Kind: "Deployment", Name: manifest.Name, Container: "delegate"}}
	image := Values{DelegateDockerImage: "harness/delegate:26.03.1"}

	for _, tc := range []struct {
		name       string
		method     delegate.InstallMethod
		settings   Config
		changes    Values
		pluginOnly []string
		want       func(error) bool
		wantWrites int
	}{
		{"legacy", delegate.Legacy, Config{}, image, nil, func(err error) bool { var e *LegacyError; return errors.As(err, &e) }, 0},
		{"helm", delegate.Helm, Config{}, image, nil, func(err error) bool {
			var e *HelmOwnedError
			return errors.As(err, &e) && strings.Contains(e.Command, "--set delegateDockerImage=harness/delegate:26.03.1")
		}, 0},
		{"helm taken over", delegate.Helm, Config{TakeOverHelm: true}, image, nil, func(err error) bool { return err == nil }, 1},
		{"manifest, plugin-only setting", delegate.Manifest, Config{}, image, []string{"role"}, func(err error) bool {
			var e *ManifestError
			return errors.As(err, &e) && slices.Equal(e.Settings, []string{"role"})
		}, 0},
		{"manifest, nothing to change", delegate.Manifest, Config{}, Values{}, nil, func(err error) bool { return errors.Is(err, ErrNothingToChange) }, 0},
		{"manifest", delegate.Manifest, Config{}, image, nil, func(err error) bool { return err == nil }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster(t, nil, manifestObj.DeepCopy())
			d.InstallMethod = tc.method
			_, _, err := c.installer(tc.settings).Upgrade(ctx, d, manifest, tc.changes, tc.pluginOnly)
			if !tc.want(err) {
				t.Errorf("got %v", err)
			}
			if got := len(c.writes()); got != tc.wantWrites {
				t.Errorf("%d writes, want %d: %v", got, tc.wantWrites, c.writes())
			}
		})
	}
}

// TestErrorsNameNoFlag: the installer's messages name settings and fields, never a flag;
// pkg/cmd names the flag.
func TestErrorsNameNoFlag(t *testing.T) {
	cause := errors.New("cause")
	for _, err := range []error{
		&ConflictError{Conflicts: []Conflict{{Ref: "ConfigMap/prod", Owner: "Helm"}}},
		&FieldConflictError{Ref: "ConfigMap/prod", Err: cause},
		&RoleError{Role: "r", Namespace: "ns"}, &RoleError{Role: "r", Err: cause},
		&PreflightError{}, &NamespaceMissingError{Namespace: "ns", Err: cause},
		&RejectedError{What: "install", Err: cause}, &LegacyError{Delegate: "d"},
		&HelmOwnedError{Delegate: "d", Release: "r", Command: "helm upgrade r"},
		&KeptError{Namespace: "ns", Deployment: "d", Err: cause},
		&RolledBackError{Deployment: "d", Err: cause}, ErrNothingToChange,
	} {
		if strings.Contains(err.Error(), "--") {
			t.Errorf("%T names a flag: %s", err, err)
		}
	}
}

// TestUninstallSteps: the plugin's objects of the delegate are found and deleted, the
// Deployment first, and the wait ends when no pod is left.
func TestUninstallSteps(t *testing.T) {
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "prod-abc", Namespace: testNamespace, Labels: map[string]string{delegate.LabelName: "prod"}}}
	c := newFakeCluster(t, []runtime.Object{pod}, helmConfigMap("other"))
	inst := c.installer(Config{SkipPreflight: true, Timeout: time.Second})
	if _, _, err := inst.Install(ctx, base()); err != nil {
		t.Fatal(err)
	}
	objs, err := inst.Installed(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != len(render(base())) {
		t.Fatalf("found %d objects, want %d", len(objs), len(render(base())))
	}
	c.events = nil
	if err := inst.Delete(ctx, objs); err != nil {
		t.Fatal(err)
	}
	deleted := c.refs(Deleted)
	if len(deleted) != len(objs) || deleted[0] != testNamespace+"/Deployment/prod" {
		t.Errorf("deleted %v", deleted)
	}
	if left, _ := inst.Installed(ctx, "prod"); len(left) > 0 {
		t.Errorf("left %v", left)
	}
	if err := inst.WaitForPodsGone(ctx, "prod"); err == nil {
		t.Error("the wait ended with a pod left")
	}
	if err := c.kube.CoreV1().Pods(testNamespace).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := inst.WaitForPodsGone(ctx, "prod"); err != nil {
		t.Error(err)
	}
}

// withProxyCredentials is base with a proxy that needs a user and password.
func withProxyCredentials(password string) Values {
	v := base()
	v.ProxyHost, v.ProxyPort, v.ProxyScheme = "proxy.example.com", "3128", "http"
	v.ProxyUser, v.ProxyPassword = "proxy-user", password
	return v
}

// TestUpgradeKeepsProxyCredentials: an upgrade that names no proxy setting keeps the password
// in its Secret instead of demanding it again; a new proxy user needs its password.
func TestUpgradeKeepsProxyCredentials(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(t, nil)
	if _, _, err := c.installer(Config{SkipPreflight: true}).Install(ctx, withProxyCredentials("pa55-w0rd")); err != nil {
		t.Fatal(err)
	}
	d, deploy := c.installed(t, "prod")
	if _, _, err := c.installer(Config{Wait: true, Atomic: true}).Upgrade(ctx, d, deploy, Values{Replicas: ptr.To(int32(1))}, nil); err != nil {
		t.Fatalf("upgrade --replicas 1 of a delegate with proxy credentials: %v", err)
	}
	if _, err := c.dyn.Tracker().Get(gvrSecret, testNamespace, "prod-proxy"); err != nil {
		t.Errorf("the proxy Secret is gone after the upgrade: %v", err)
	}
	d, deploy = c.installed(t, "prod")
	_, _, err := c.installer(Config{Wait: true, Atomic: true}).Upgrade(ctx, d, deploy, Values{ProxyUser: "someone-else"}, nil)
	if err == nil || !strings.Contains(err.Error(), "needs a password") {
		t.Errorf("a new proxy user without a password: %v, want it refused", err)
	}
}

// TestHelmUpgradeCommand: the helm command a Helm-owned delegate is refused with makes the
// same change when pasted: no setting dropped, commas escaped for --set, quoted for the shell.
func TestHelmUpgradeCommand(t *testing.T) {
	d := delegate.Delegate{Name: "prod", Namespace: "harness", Helm: &delegate.HelmRelease{Release: "rel"}}
	got := HelmUpgradeCommand(d, Values{Replicas: ptr.To(int32(2)), Memory: "4Gi", Tags: "a,b", Description: "edge delegate", ProxyPassword: "pa55-w0rd"})
	want := `helm upgrade rel harness-delegate/harness-delegate-ng -n harness --reuse-values --set replicas=2 --set memory=4096 --set 'tags=a\,b' --set 'description=edge delegate'`
	if got != want {
		t.Errorf("helm command\n got %s\nwant %s", got, want)
	}
	if strings.Contains(got, "pa55") {
		t.Error("the helm command carries the proxy password")
	}
	if got := HelmUpgradeCommand(d, Values{Description: `it's \ odd`}); !strings.HasSuffix(got, ` --set 'description=it'\''s \\ odd'`) {
		t.Errorf("quoting: %s", got)
	}
	if got := HelmUpgradeCommand(d, Values{Tags: "123"}); !strings.HasSuffix(got, " --set-string tags=123") {
		t.Errorf("a tag of digits would become a number: %s", got)
	}
}

// TestSecretChecksumRevealsNothing: checksum/secret, readable by anyone who may read
// Deployments, changes when a Secret the pods read changes but is no function of its content,
// so a password cannot be tested against it offline.
func TestSecretChecksumRevealsNothing(t *testing.T) {
	ctx := context.Background()
	stamp := func(c *fakeCluster) string {
		_, d := c.installed(t, "prod")
		return d.Spec.Template.Annotations[AnnotationSecretChecksum]
	}
	one, other := newFakeCluster(t, nil), newFakeCluster(t, nil)
	for c, password := range map[*fakeCluster]string{one: "pa55-w0rd", other: "another-password"} {
		if _, _, err := c.installer(Config{SkipPreflight: true}).Install(ctx, withProxyCredentials(password)); err != nil {
			t.Fatal(err)
		}
	}
	first := stamp(one)
	if first == "" || first != stamp(other) {
		t.Fatalf("checksum/secret %q and %q differ with the password alone: it is derived from the Secret's content", first, stamp(other))
	}
	d, deploy := one.installed(t, "prod")
	if _, _, err := one.installer(Config{Wait: true, Atomic: true}).Upgrade(ctx, d, deploy, Values{Replicas: ptr.To(int32(2))}, nil); err != nil {
		t.Fatal(err)
	}
	if got := stamp(one); got != first {
		t.Errorf("an upgrade that changes no Secret changed checksum/secret: %q -> %q", first, got)
	}
	d, deploy = one.installed(t, "prod")
	rotate := Values{ProxyUser: "proxy-user", ProxyPassword: "a-new-password"}
	if _, _, err := one.installer(Config{Wait: true, Atomic: true}).Upgrade(ctx, d, deploy, rotate, nil); err != nil {
		t.Fatal(err)
	}
	if got := stamp(one); got == first {
		t.Error("a new proxy password left checksum/secret as it was: the pods keep the old one")
	}
}

// TestConcurrentInstalls: of two installs of one delegate at once, one fails clearly, and
// the delegate holds the token of the one that succeeded.
func TestConcurrentInstalls(t *testing.T) {
	ctx := context.Background()
	token := func(c *fakeCluster) string {
		s, err := c.dyn.Resource(gvrSecret).Namespace(testNamespace).Get(ctx, "prod", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, _, _ := unstructured.NestedStringMap(s.Object, "data")
		token, err := base64.StdEncoding.DecodeString(data["DELEGATE_TOKEN"])
		if err != nil {
			t.Fatal(err)
		}
		return string(token)
	}
	other := base()
	other.DelegateToken = "the-other-install-token"
	for _, tc := range []struct {
		name string
		// during is the event of the first install at which the second one runs whole.
		during     func(Event) bool
		wantBefore bool
	}{
		{"the second starts while the first creates the namespace", func(e Event) bool { return e.Kind == NamespaceCreated }, true},
		{"the second runs while the first applies", func(e Event) bool { return e.Kind == Applied && strings.Contains(e.Ref, "Deployment/") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster(t, nil)
			var secondErr error
			ran := false
			first := New(c.kube, c.dyn, Config{Namespace: testNamespace, SkipPreflight: true}, func(e Event) {
				if tc.during(e) && !ran {
					ran = true
					_, _, secondErr = c.installer(Config{SkipPreflight: true}).Install(ctx, other)
				}
			})
			_, _, err := first.Install(ctx, base())
			if !ran || secondErr != nil {
				t.Fatalf("the second install: ran %v, %v", ran, secondErr)
			}
			var concurrent *ConcurrentError
			if !errors.As(err, &concurrent) || concurrent.Before != tc.wantBefore {
				t.Fatalf("the first install: %v, want a *ConcurrentError (before applying: %v)", err, tc.wantBefore)
			}
			if got := token(c); got != other.DelegateToken {
				t.Errorf("the token Secret holds %q, want the second install's", got)
			}
		})
	}
}

// TestInterrupted: a signal (the context canceled) during an upgrade rolls it back when
// atomic, or says what is left and the commands that finish or undo it; so does an install.
func TestInterrupted(t *testing.T) {
	first := "harness/delegate:26.02.1"
	setup := func(t *testing.T) (*fakeCluster, delegate.Delegate, *appsv1.Deployment) {
		c := newFakeCluster(t, nil)
		v := base()
		v.DelegateDockerImage = first
		if _, _, err := c.installer(Config{SkipPreflight: true}).Install(context.Background(), v); err != nil {
			t.Fatal(err)
		}
		d, deploy := c.installed(t, "prod")
		return c, d, deploy
	}
	// cancelOnDeployment is an installer whose context is canceled once the Deployment is applied.
	cancelOnDeployment := func(c *fakeCluster, s Config) (*Installer, context.Context) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		s.Namespace, s.Interval, s.Timeout = testNamespace, time.Millisecond, 5*time.Second
		return New(c.kube, c.dyn, s, func(e Event) {
			c.events = append(c.events, e)
			if e.Kind == Applied && strings.Contains(e.Ref, "Deployment/") {
				cancel()
			}
		}), ctx
	}
	image := func(c *fakeCluster) string {
		_, deploy := c.installed(t, "prod")
		return deploy.Spec.Template.Spec.Containers[0].Image
	}

	t.Run("atomic upgrade rolls back", func(t *testing.T) {
		c, d, deploy := setup(t)
		inst, ctx := cancelOnDeployment(c, Config{Wait: true, Atomic: true})
		_, _, err := inst.Upgrade(ctx, d, deploy, Values{DelegateDockerImage: badImage}, nil)
		var rb *RolledBackError
		if !errors.As(err, &rb) || !strings.Contains(err.Error(), "interrupted") || image(c) != first {
			t.Errorf("got %v running %s, want a rollback to %s that says it was interrupted", err, image(c), first)
		}
	})
	t.Run("upgrade without atomic says what is left", func(t *testing.T) {
		c, d, deploy := setup(t)
		inst, ctx := cancelOnDeployment(c, Config{Wait: true})
		_, _, err := inst.Upgrade(ctx, d, deploy, Values{DelegateDockerImage: badImage}, nil)
		var ie *InterruptedError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "kubectl rollout status deployment/prod -n "+testNamespace) ||
			!strings.Contains(err.Error(), "kubectl rollout undo deployment/prod -n "+testNamespace) {
			t.Errorf("got %v, want an *InterruptedError with the commands to finish and undo", err)
		}
	})
	t.Run("install says what is left", func(t *testing.T) {
		c := newFakeCluster(t, nil)
		inst, ctx := cancelOnDeployment(c, Config{SkipPreflight: true, Wait: true})
		v := base()
		v.DelegateDockerImage = badImage // a rollout still going when the signal comes
		_, _, err := inst.Install(ctx, v)
		var ie *InterruptedError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "kubectl delegate uninstall prod -n "+testNamespace) {
			t.Errorf("got %v, want an *InterruptedError with the uninstall that undoes it", err)
		}
	})
	// A rerun after a failed or interrupted upgrade finds a broken revision in place: it must not
	// roll back to it.
	t.Run("never back to a broken revision", func(t *testing.T) {
		ctx := context.Background()
		c, d, deploy := setup(t)
		if _, _, err := c.installer(Config{Wait: true}).Upgrade(ctx, d, deploy, Values{DelegateDockerImage: badImage}, nil); err == nil {
			t.Fatal("the upgrade to a crashing image succeeded")
		}
		d, deploy = c.installed(t, "prod")
		c.events = nil
		_, _, err := c.installer(Config{Wait: true, Atomic: true}).Upgrade(ctx, d, deploy, Values{Replicas: ptr.To(int32(3))}, nil)
		var none *NoGoodRevisionError
		if !errors.As(err, &none) || strings.Contains(err.Error(), "not available either") {
			t.Errorf("got %v, want a *NoGoodRevisionError", err)
		}
		if slices.ContainsFunc(c.events, func(e Event) bool { return e.Kind == RollingBack }) {
			t.Error("rolled back to the broken revision")
		}
	})
}

// TestUpgradeRollsBackWhenTheNewPodsWillNotRegister: with --atomic, a new pod whose log says
// it will not register (a known failure line: here the account the upgrade changed to) rolls
// the upgrade back as a failed rollout does, and so does a signal during that wait; without
// --atomic the new revision stays (issue 14, point 1). A wait that only ran out of time keeps
// it (TestUpgradeRollBack): that is no evidence the revision is broken.
func TestUpgradeRollsBackWhenTheNewPodsWillNotRegister(t *testing.T) {
	const accountLine = "2026-11-30T16:00:05Z Account ID: wrongAccount01 not found. Stop launching delegate.\n"
	for _, tc := range []struct {
		name        string
		atomic      bool
		interrupt   bool
		wantAccount string
		want        func(t *testing.T, err error)
	}{
		{"atomic: rolled back", true, false, "", func(t *testing.T, err error) {
			var rb *RolledBackError
			var failed *RegistrationError
			if !errors.As(err, &rb) || !errors.As(err, &failed) || !strings.Contains(failed.Cause, "account") {
				t.Errorf("got %v, want a *RolledBackError carrying the registration failure", err)
			}
		}},
		{"atomic off: kept", false, false, "wrongAccount01", func(t *testing.T, err error) {
			var kept *KeptError
			var failed *RegistrationError
			if !errors.As(err, &kept) || !errors.As(err, &failed) {
				t.Errorf("got %v, want a *KeptError carrying the registration failure", err)
			}
		}},
		{"interrupted while waiting to register: rolled back", true, true, "", func(t *testing.T, err error) {
			var rb *RolledBackError
			if !errors.As(err, &rb) || !strings.Contains(err.Error(), "interrupted while waiting for the new pods to register") {
				t.Errorf("got %v, want a *RolledBackError that says the wait for registration was interrupted", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster(t, nil)
			v := base()
			if _, _, err := c.installer(Config{SkipPreflight: true}).Install(context.Background(), v); err != nil {
				t.Fatal(err)
			}
			if tc.wantAccount == "" {
				tc.wantAccount = v.AccountID
			}
			d, deploy := c.installed(t, "prod")
			// The new revision's ReplicaSet and its pod, as the Deployment controller makes them.
			rsLabels := map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: "new"}
			maps.Copy(rsLabels, deploy.Spec.Selector.MatchLabels)
			objs := []runtime.Object{
				&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "prod-new", Namespace: testNamespace, Labels: rsLabels,
					OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "prod", UID: deploy.UID, Controller: ptr.To(true)}}}},
				&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "prod-new-a", Namespace: testNamespace, Labels: rsLabels}, Spec: corev1.PodSpec{NodeName: "n"}},
			}
			for _, o := range objs {
				if err := c.kube.Tracker().Add(o); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			inst := c.installer(Config{Wait: true, Atomic: tc.atomic, WaitFor: UntilRegistered})
			inst.readLog = func(context.Context, string, string) (string, error) {
				if tc.interrupt {
					cancel()
					return "Starting delegate\n", nil
				}
				return accountLine, nil
			}
			c.events = nil
			_, _, err := inst.Upgrade(ctx, d, deploy, Values{AccountID: "wrongAccount01"}, nil)
			tc.want(t, err)
			_, deploy = c.installed(t, "prod")
			got, serr := SettingsOf(deploy)
			if serr != nil {
				t.Fatal(serr)
			}
			if got.AccountID != tc.wantAccount {
				t.Errorf("after the upgrade the recorded account is %s, want %s", got.AccountID, tc.wantAccount)
			}
			rolledBack := slices.ContainsFunc(c.events, func(e Event) bool { return e.Kind == RollingBack })
			if rolledBack != tc.atomic {
				t.Errorf("rolling back: %v, want %v (events %+v)", rolledBack, tc.atomic, c.events)
			}
		})
	}
}
