package delegate

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func findDelegate(t *testing.T, ds []Delegate, name string) Delegate {
	t.Helper()
	for _, d := range ds {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no delegate %q among %d", name, len(ds))
	return Delegate{}
}

func TestBuildHelmChartDelegate(t *testing.T) {
	d := findDelegate(t, Build(chartObjects(), fixtureTime), "prod-delegate")
	if d.InstallMethod != Helm || d.Helm == nil || d.Helm.Release != "prod-delegate" || d.Helm.Chart != "harness-delegate-ng" || d.Helm.ChartVersion != "1.0.15" {
		t.Errorf("install method %s, helm %+v", d.InstallMethod, d.Helm)
	}
	if d.Version != "26.09.90000" || d.Minimal || d.Support.Status != Supported {
		t.Errorf("version %q minimal %v support %s", d.Version, d.Minimal, d.Support.Status)
	}
	if d.Replicas != (Replicas{Desired: 2, Ready: 1, Available: 1, Updated: 2}) {
		t.Errorf("replicas %+v", d.Replicas)
	}
	if len(d.Pods) != 2 || d.Pods[1].Restarts != 7 || d.Pods[1].Waiting != "CrashLoopBackOff" ||
		d.Pods[1].LastTermination == nil || d.Pods[1].LastTermination.Reason != "OOMKilled" ||
		!d.Pods[1].ReadyChanged.Equal(fixtureTime.Add(-50*time.Minute)) {
		t.Errorf("pods %+v", d.Pods)
	}
	if d.AccountID != "acc123" || d.ManagerEndpoint != "https://app.harness.io" || strings.Join(d.Tags, "|") != "prod|k8s" {
		t.Errorf("config from the ConfigMap via envFrom: account %q manager %q tags %q", d.AccountID, d.ManagerEndpoint, d.Tags)
	}
	if d.Token.Source != TokenFromSecret || d.Token.SecretName != "prod-delegate" || d.Token.SecretKey != "DELEGATE_TOKEN" || d.Token.Present == nil || !*d.Token.Present {
		t.Errorf("token %+v", d.Token)
	}
	if d.RBAC.Mode != ClusterAdmin || len(d.RBAC.Bindings) != 1 {
		t.Errorf("rbac %+v", d.RBAC)
	}
	if d.Upgrader == nil || d.Upgrader.Suspended || d.Upgrader.LastResult != "Failed" || d.Upgrader.Schedule != "0 */1 * * *" {
		t.Errorf("upgrader %+v", d.Upgrader)
	}
	if !reflect.DeepEqual(d.Workload, WorkloadRef{Kind: "Deployment", Name: "prod-delegate", Container: "delegate", ServiceAccount: "prod-delegate"}) {
		t.Errorf("workload %+v", d.Workload)
	}
}

func TestBuildManifestDelegate(t *testing.T) {
	d := findDelegate(t, Build(manifestObjects(), fixtureTime), "manifest-delegate")
	if d.InstallMethod != Manifest || d.Helm != nil {
		t.Errorf("install method %s", d.InstallMethod)
	}
	// Pods found through the Deployment's own selector (harness.io/name=delegate), and only
	// those its ReplicaSets own.
	if len(d.Pods) != 1 || d.Pods[0].Name != "manifest-delegate-7c6d5f4b3-x1y2z" {
		t.Errorf("pods %+v", d.Pods)
	}
	if d.Version != "26.05.89000" || !d.Minimal || d.Support.Status != EndOfSupport {
		t.Errorf("version %q minimal %v support %s", d.Version, d.Minimal, d.Support.Status)
	}
	if d.Token.Source != TokenFromSecret || d.Token.SecretName != "manifest-delegate-account-token" || d.Token.Present == nil || *d.Token.Present {
		t.Errorf("an empty token key must be reported as not present: %+v", d.Token)
	}
	if !d.Proxy.Configured || d.Proxy.Host != "proxy.corp" || d.Proxy.Port != "3128" || !d.Proxy.HasCredentials {
		t.Errorf("proxy %+v", d.Proxy)
	}
	if !d.PollForTasks || d.ManagerEndpoint != "https://app.harness.io/gratis" {
		t.Errorf("poll %v manager %q", d.PollForTasks, d.ManagerEndpoint)
	}
	if d.RBAC.Mode != ClusterAdmin || d.Workload.ServiceAccount != "default" {
		t.Errorf("rbac %+v via ServiceAccount %s", d.RBAC, d.Workload.ServiceAccount)
	}
	if d.Upgrader != nil {
		t.Errorf("no upgrader expected, got %+v", d.Upgrader)
	}
}

// The template's placement constraints travel with the delegate, so that the node fit can
// rule out the nodes the scheduler would; placement on the pods themselves is not read.
func TestBuildCarriesPlacement(t *testing.T) {
	objs := chartObjects()
	spec := &objs.Deployments[0].Spec.Template.Spec
	spec.NodeSelector = map[string]string{"disk": "ssd"}
	required := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}},
		MatchFields:      []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"n9"}}},
	}}}
	spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: required}}
	spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "infra", Effect: corev1.TaintEffectNoSchedule}}
	w := findDelegate(t, Build(objs, fixtureTime), "prod-delegate").Workload
	if !reflect.DeepEqual(w.NodeSelector, spec.NodeSelector) || !reflect.DeepEqual(w.RequiredNodeAffinity, required) || !reflect.DeepEqual(w.Tolerations, spec.Tolerations) {
		t.Errorf("placement %+v", w)
	}
	data, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"nodeSelector":{"disk":"ssd"}`, `"requiredNodeAffinity":{"nodeSelectorTerms"`, `"tolerations":[{"key":"dedicated"`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("JSON lacks %s: %s", key, data)
		}
	}
	// Preferred affinity alone does not bind the scheduler.
	spec.Affinity.NodeAffinity = &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
		{Weight: 1, Preference: required.NodeSelectorTerms[0]}}}
	spec.NodeSelector, spec.Tolerations = nil, nil
	data, err = json.Marshal(findDelegate(t, Build(objs, fixtureTime), "prod-delegate").Workload)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "nodeSelector") || strings.Contains(string(data), "requiredNodeAffinity") || strings.Contains(string(data), "tolerations") {
		t.Errorf("unset placement must be omitted: %s", data)
	}
}

func TestBuildLegacyDelegate(t *testing.T) {
	d := findDelegate(t, Build(legacyObjects(), fixtureTime), "legacy-delegate")
	if d.InstallMethod != Legacy || d.Workload.Kind != "StatefulSet" {
		t.Errorf("install method %s, workload %+v", d.InstallMethod, d.Workload)
	}
	if d.Version != "" || d.Support.Status != UnknownSupport || d.Image.Tag != "latest" {
		t.Errorf("latest must be unknown: version %q support %s", d.Version, d.Support.Status)
	}
	if d.Token.Source != TokenInline || d.Token.Variable != "ACCOUNT_SECRET" || d.Token.Present == nil || !*d.Token.Present {
		t.Errorf("token %+v", d.Token)
	}
	if d.RBAC.Mode != NoRBAC {
		t.Errorf("rbac %+v", d.RBAC)
	}
}

func TestBuildPluginDelegate(t *testing.T) {
	objs := manifestObjects()
	dep := &objs.Deployments[0]
	dep.Labels[LabelManagedBy] = ManagedByPlugin
	dep.Annotations = map[string]string{AnnotationPluginVersion: "v0.2.0"}
	d := findDelegate(t, Build(objs, fixtureTime), "manifest-delegate")
	if d.InstallMethod != Plugin || d.PluginVersion != "v0.2.0" {
		t.Errorf("install method %s, plugin version %q", d.InstallMethod, d.PluginVersion)
	}
}

func TestBuildIgnoresOtherWorkloadsAndFlagsDuplicates(t *testing.T) {
	objs := merge(chartObjects(), manifestObjects(), legacyObjects())
	objs.Deployments = append(objs.Deployments, appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx", Namespace: "default"},
	})
	// The same delegate name in a second namespace.
	twin := chartObjects()
	twin.Deployments[0].Namespace = "team-b"
	objs = merge(objs, twin)
	ds := Build(objs, fixtureTime)
	if len(ds) != 4 {
		t.Fatalf("want 4 delegates, got %d: %+v", len(ds), ds)
	}
	var flagged []string
	for _, d := range ds {
		if d.Duplicate != nil {
			flagged = append(flagged, d.Namespace+"/"+d.Name+"~"+strings.Join(d.Duplicate.OtherNamespaces, ","))
		}
	}
	want := "harness-delegate-ng/prod-delegate~team-b|team-b/prod-delegate~harness-delegate-ng"
	if strings.Join(flagged, "|") != want {
		t.Errorf("duplicates %q, want %q", flagged, want)
	}
}

func TestUnreadableBindingsMakeRBACUnknown(t *testing.T) {
	objs := legacyObjects()
	objs.Unreadable["clusterrolebindings"] = errForbidden
	if d := Build(objs, fixtureTime)[0]; d.RBAC.Mode != RBACUnknown {
		t.Errorf("rbac %+v", d.RBAC)
	}
}

// The model never carries a secret value: an inline token is reported present, not shown.
func TestModelCarriesNoSecretValues(t *testing.T) {
	data, err := json.Marshal(Build(merge(chartObjects(), manifestObjects(), legacyObjects()), fixtureTime))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "0123456789abcdef") {
		t.Errorf("the inline legacy token leaked into the model: %s", data)
	}
}

func TestSplitChart(t *testing.T) {
	for chart, want := range map[string][2]string{
		"harness-delegate-ng-1.0.15": {"harness-delegate-ng", "1.0.15"},
		"harness-delegate-ng":        {"harness-delegate-ng", ""},
		"mychart-":                   {"mychart-", ""},
		"":                           {"", ""},
	} {
		if n, v := splitChart(chart); n != want[0] || v != want[1] {
			t.Errorf("splitChart(%q) = %q, %q", chart, n, v)
		}
	}
}
