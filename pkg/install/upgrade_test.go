package install

import (
	"context"
	"maps"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// manifestDeployment is a Deployment as the plain manifest makes it: settings inline in env.
func manifestDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes-delegate", Namespace: "harness-delegate-ng"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "sidecar", Image: "busybox"},
				{
					Name: "delegate", Image: "harness/delegate:24.01.82000",
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("2048Mi")},
						Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2048Mi")},
					},
					Env: []corev1.EnvVar{
						{Name: "ACCOUNT_ID", Value: "acc"},
						{Name: "DELEGATE_TAGS", Value: "old"},
						{Name: "DELEGATE_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "DELEGATE_TOKEN"}}},
					},
				},
			}}},
		},
	}
}

// asYAML is the patch as the API server would receive it.
func asYAML(t *testing.T, o Object) string {
	t.Helper()
	u, err := ToUnstructured(o)
	if err != nil {
		t.Fatal(err)
	}
	data, err := yaml.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestManifestPatch(t *testing.T) {
	d := manifestDeployment()
	after, before, err := ManifestPatch(d, "delegate", ManifestChanges{
		Image: "harness/delegate:26.02.88404", Replicas: ptr.To(int32(2)), Memory: "4Gi",
		Env: map[string]string{"DELEGATE_TAGS": "new", "POLL_FOR_TASKS": "true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantAfter := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: kubernetes-delegate
  namespace: harness-delegate-ng
spec:
  replicas: 2
  template:
    spec:
      containers:
      - env:
        - name: DELEGATE_TAGS
          value: new
        - name: POLL_FOR_TASKS
          value: "true"
        image: harness/delegate:26.02.88404
        name: delegate
        resources:
          limits:
            memory: 4Gi
          requests:
            cpu: 500m
            memory: 4Gi
`
	// The rollback holds the old values of the same fields (quantities in canonical form),
	// and no entry for an env variable that did not exist: applying it removes what the
	// upgrade added.
	wantBefore := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: kubernetes-delegate
  namespace: harness-delegate-ng
spec:
  replicas: 1
  template:
    spec:
      containers:
      - env:
        - name: DELEGATE_TAGS
          value: old
        image: harness/delegate:24.01.82000
        name: delegate
        resources:
          limits:
            memory: 2Gi
          requests:
            cpu: 500m
            memory: 2Gi
`
	if got := asYAML(t, after); got != wantAfter {
		t.Errorf("after:\n%s\nwant\n%s", got, wantAfter)
	}
	if got := asYAML(t, before); got != wantBefore {
		t.Errorf("before:\n%s\nwant\n%s", got, wantBefore)
	}
	if after.Ref() != "harness-delegate-ng/Deployment/kubernetes-delegate" || before.Ref() != after.Ref() {
		t.Errorf("refs %s %s", after.Ref(), before.Ref())
	}
	// The input is not modified.
	if d.Spec.Template.Spec.Containers[1].Image != "harness/delegate:24.01.82000" {
		t.Errorf("ManifestPatch changed the Deployment it read")
	}
}

func TestManifestPatchOnlyImage(t *testing.T) {
	after, before, err := ManifestPatch(manifestDeployment(), "delegate", ManifestChanges{Image: "harness/delegate:26.02.88404"})
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: replicas, resources and env stay with whoever owns them.
	for _, o := range []Object{after, before} {
		y := asYAML(t, o)
		for _, absent := range []string{"replicas", "resources", "env", "sidecar"} {
			if strings.Contains(y, absent) {
				t.Errorf("patch holds %s:\n%s", absent, y)
			}
		}
	}
}

func TestManifestPatchMissingContainer(t *testing.T) {
	_, _, err := ManifestPatch(manifestDeployment(), "harness-delegate", ManifestChanges{Image: "x"})
	if err == nil || !strings.Contains(err.Error(), `no container "harness-delegate"`) {
		t.Errorf("error %v", err)
	}
}

func TestManifestEnvAndEmpty(t *testing.T) {
	if !(ManifestChanges{}).Empty() || (ManifestChanges{Env: map[string]string{"A": "b"}}).Empty() {
		t.Errorf("Empty")
	}
	env := ManifestEnv(Values{ManagerEndpoint: "https://h.example.com/", Tags: "a", PollForTasks: ptr.To(false), ProxyHost: "p"})
	want := map[string]string{"MANAGER_HOST_AND_PORT": "https://h.example.com/", "LOG_STREAMING_SERVICE_URL": "https://h.example.com/log-service/",
		"DELEGATE_TAGS": "a", "POLL_FOR_TASKS": "false", "PROXY_HOST": "p"}
	if !maps.Equal(env, want) {
		t.Errorf("env %v, want %v", env, want)
	}
	if len(ManifestEnv(Values{})) != 0 {
		t.Errorf("nothing set gives env")
	}
}

func TestStale(t *testing.T) {
	v := base()
	v.K8sPermissionsType = PermNamespaceAdmin
	// An upgrade is given no token: the token Secrets are not rendered, but still used.
	v.DelegateToken = ""
	v.ManagedCASecret = "prod-ca-bundle"
	rendered := render(v)
	ns := testNamespace
	obj := func(kind, namespace, name string) Object { return Object{Kind: kind, Namespace: namespace, Name: name} }
	installed := []Object{
		obj("ServiceAccount", ns, "prod"),
		obj("Secret", ns, "prod"),
		obj("Secret", ns, "prod-upgrader-token"),
		obj("Secret", ns, "prod-ca-bundle"),
		obj("Secret", ns, "prod-proxy"), // the proxy was removed
		obj("ConfigMap", ns, "prod"),
		obj("ClusterRoleBinding", "", "prod-cluster-admin"), // --role changed
		obj("Role", ns, "prod-harness-namespace-admin"),
		obj("RoleBinding", ns, "prod-harness-namespace-admin"),
		obj("Deployment", ns, "prod"),
	}
	var got []string
	for _, o := range Stale(installed, rendered, v) {
		got = append(got, o.Ref())
	}
	want := "harness-delegate-ng/Secret/prod-proxy ClusterRoleBinding/prod-cluster-admin"
	if strings.Join(got, " ") != want {
		t.Errorf("stale %v, want %s", got, want)
	}
}

func TestConflicts(t *testing.T) {
	objs := render(base())
	existing := make([]Existing, len(objs))
	for i, o := range objs {
		existing[i].Object = o
	}
	// 0 ServiceAccount: not there. 1 Secret: ours. 2 ConfigMap: Helm's. 3 binding: a manifest's.
	existing[1].ResourceVersion, existing[1].Owner = "1", delegate.Owner{Plugin: true, Delegate: "prod"}
	existing[2].ResourceVersion, existing[2].Owner = "2", delegate.Owner{Delegate: "prod", Description: `Helm release "prod" in namespace harness-delegate-ng`}
	existing[3].ResourceVersion, existing[3].Owner = "3", delegate.Owner{Description: "a manifest applied with kubectl apply (field managers: kubectl-client-side-apply)"}
	// 4: the plugin's, for another delegate of that name.
	existing[4].ResourceVersion, existing[4].Owner = "4", delegate.Owner{Plugin: true, Delegate: "other", Description: `kubectl-delegate (delegate "other")`}
	got := Conflicts(existing, "prod")
	var lines []string
	for _, c := range got {
		lines = append(lines, c.String())
	}
	want := []string{
		`harness-delegate-ng/ConfigMap/prod belongs to Helm release "prod" in namespace harness-delegate-ng`,
		"ClusterRoleBinding/prod-cluster-admin belongs to a manifest applied with kubectl apply (field managers: kubectl-client-side-apply)",
		`harness-delegate-ng/ServiceAccount/prod-upgrader-cronjob-sa belongs to kubectl-delegate (delegate "other")`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("conflicts:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	msg := (&ConflictError{Conflicts: got}).Error()
	for _, w := range []string{"3 object(s) already exist", "nothing was changed", "helm uninstall"} {
		if !strings.Contains(msg, w) {
			t.Errorf("ConflictError %q does not say %q", msg, w)
		}
	}
	if Conflicts(existing[:2], "prod") != nil {
		t.Errorf("own and missing objects conflict")
	}
}

// TestLookupOwners reads rendered objects from a fake cluster: missing ones, the plugin's
// own, Helm's, and a ClusterRoleBinding of the same name that the plugin made for a delegate
// of the same name in another namespace. Cluster-scoped names are shared by every
// namespace, so that binding is not this delegate's to rewrite.
func TestLookupOwners(t *testing.T) {
	pluginLabels := map[string]any{delegate.LabelManagedBy: delegate.ManagedByPlugin, delegate.LabelName: "prod"}
	crb := func(ns string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
			"metadata": map[string]any{"name": "prod-cluster-admin", "labels": pluginLabels, "resourceVersion": "7"},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "prod", "namespace": ns}},
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
		}}
	}
	helmCM := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "prod", "namespace": testNamespace, "resourceVersion": "3",
			"labels":      map[string]any{delegate.LabelManagedBy: "Helm", delegate.LabelName: "prod"},
			"annotations": map[string]any{delegate.AnnotationHelmRelease: "prod", "meta.helm.sh/release-namespace": testNamespace}},
	}}
	objs := render(base())
	for _, tc := range []struct {
		name, bindingNS string
		wantConflicts   []string
	}{
		{"same namespace", testNamespace, []string{"harness-delegate-ng/ConfigMap/prod"}},
		{"other namespace", "elsewhere", []string{"harness-delegate-ng/ConfigMap/prod", "ClusterRoleBinding/prod-cluster-admin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), nil, helmCM.DeepCopy(), crb(tc.bindingNS))
			existing, err := Lookup(context.Background(), dyn, objs)
			if err != nil {
				t.Fatal(err)
			}
			if len(existing) != len(objs) {
				t.Fatalf("%d answers for %d objects", len(existing), len(objs))
			}
			var found int
			for _, e := range existing {
				if e.Exists() {
					found++
				}
			}
			if found != 2 {
				t.Errorf("%d objects exist, want 2", found)
			}
			var got []string
			for _, c := range Conflicts(existing, "prod") {
				got = append(got, c.Ref)
				if c.Ref == "ClusterRoleBinding/prod-cluster-admin" && !strings.Contains(c.Owner, "elsewhere") {
					t.Errorf("owner %q does not name the other namespace", c.Owner)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.wantConflicts, " ") {
				t.Errorf("conflicts %v, want %v", got, tc.wantConflicts)
			}
		})
	}
}

func TestSettingsOf(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "prod", Namespace: "ns"}}
	if _, err := SettingsOf(d); err == nil || !strings.Contains(err.Error(), "was not installed by this plugin") {
		t.Errorf("no annotation: %v", err)
	}
	d.Annotations = map[string]string{AnnotationSettings: "{"}
	if _, err := SettingsOf(d); err == nil || !strings.Contains(err.Error(), "is not valid") {
		t.Errorf("bad annotation: %v", err)
	}
}

func TestKindsOrder(t *testing.T) {
	// Delete removes the Deployment first and the ServiceAccount last: no pod restarts
	// without what it reads.
	if kindRank("Deployment") <= kindRank("Secret") || kindRank("ServiceAccount") != 0 || kindRank("Pod") != -1 {
		t.Errorf("kind ranks: Deployment %d Secret %d", kindRank("Deployment"), kindRank("Secret"))
	}
}
