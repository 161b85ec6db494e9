package install

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current rendering")

// testVersion is fixed so that the goldens do not change with the build.
const testVersion = "v0.0.0-test"

const testNamespace = "harness-delegate-ng"

// testToken is a token-shaped value; tests look for it where it must not appear.
const testToken = "dGVzdC10b2tlbi1ub3QtcmVhbA=="

// base is a defaulted, valid install as `kubectl delegate install prod --account-id ...
// --token-file ...` makes it.
func base() Values {
	return Values{DelegateName: "prod", AccountID: "acct_ABC-123", DelegateToken: testToken}.WithDefaults()
}

// testCA is a self-signed CA made once (ECDSA P-256, valid 2026-2036) and kept in testdata,
// so that the CA goldens do not change from run to run.
func testCA(t testing.TB) string {
	t.Helper()
	ca, err := readTestCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func readTestCA() (string, error) {
	data, err := os.ReadFile(filepath.Join("testdata", "ca.pem"))
	return string(data), err
}

func render(v Values) []Object {
	return Render(v, RenderOptions{Namespace: testNamespace, PluginVersion: testVersion})
}

// renderYAML is what --dry-run -o yaml prints: every object, in apply order, as YAML.
func renderYAML(t testing.TB, objs []Object) []byte {
	t.Helper()
	var b bytes.Buffer
	for i, o := range objs {
		u, err := ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		data, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(data)
	}
	return b.Bytes()
}

func goldenCases(t *testing.T) map[string]Values {
	withRole := func(perm, kind string) Values {
		v := base()
		v.K8sPermissionsType, v.CustomRoleKind = perm, kind
		return v
	}
	proxy := base()
	proxy.ProxyHost, proxy.ProxyPort, proxy.ProxyScheme = "proxy.example.com", "3128", "http"
	proxy.NoProxy = "10.0.0.0/8,.svc,.cluster.local"
	proxy.ProxyUser, proxy.ProxyPassword = "proxyuser", "proxy-pa55word"

	caFile := base()
	caFile.CACertificates = testCA(t)

	caSecret := base()
	caSecret.DelegateCustomCa.SecretName = "corp-ca"

	upgraderOff := base()
	upgraderOff.Upgrader.Enabled = ptr.To(false)

	existingToken := base()
	existingToken.DelegateToken, existingToken.ExistingDelegateToken = "", "prod-token"

	return map[string]Values{
		"cluster-admin":      base(),
		"cluster-viewer":     withRole(PermClusterViewer, ""),
		"namespace-admin":    withRole(PermNamespaceAdmin, ""),
		"custom-role":        withRole("deployer", "Role"),
		"custom-clusterrole": withRole("harness-deployer", "ClusterRole"),
		"proxy":              proxy,
		"ca-file":            caFile,
		"ca-secret":          caSecret,
		"upgrader-off":       upgraderOff,
		"existing-token":     existingToken,
	}
}

// TestRenderGolden pins every object of each kind of install. Run with -update after a
// deliberate change and read the diff: it is what every user's cluster will get.
func TestRenderGolden(t *testing.T) {
	for name, v := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			if err := Validate(v, v.ExistingDelegateToken == ""); err != nil {
				t.Fatalf("the golden input must be valid: %v", err)
			}
			got := renderYAML(t, render(v))
			path := filepath.Join("testdata", name+".yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/install -run TestRenderGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rendering differs from %s; if the change is intended, rerun with -update and review the diff\n%s", path, firstDiff(string(want), string(got)))
			}
		})
	}
}

// firstDiff shows the first differing line, enough to see what moved.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, wl, gl)
		}
	}
	return ""
}

func TestRenderIsDeterministic(t *testing.T) {
	for name, v := range goldenCases(t) {
		a, b := renderYAML(t, render(v)), renderYAML(t, render(v))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two renderings of the same values differ", name)
		}
	}
}

// find returns the object of that kind and name, converted to its typed form.
func find[T any](t *testing.T, objs []Object, kind, name string) *T {
	t.Helper()
	for _, o := range objs {
		if o.Kind != kind || o.Name != name {
			continue
		}
		u, err := ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		out := new(T)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
			t.Fatalf("%s/%s: %v", kind, name, err)
		}
		return out
	}
	t.Fatalf("no %s/%s among %v", kind, name, refs(objs))
	return nil
}

func refs(objs []Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Ref()
	}
	return out
}

func has(objs []Object, kind, name string) bool {
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			return true
		}
	}
	return false
}

// TestRenderObjectNames: the names are the chart's, so that a Helm user's tooling, RBAC
// and doctor's discovery find the same objects, and so that the conflict check catches an
// earlier Helm or manifest install.
func TestRenderObjectNames(t *testing.T) {
	objs := render(base())
	want := []string{
		"harness-delegate-ng/ServiceAccount/prod",
		"harness-delegate-ng/Secret/prod",
		"harness-delegate-ng/ConfigMap/prod",
		"ClusterRoleBinding/prod-cluster-admin",
		"harness-delegate-ng/ServiceAccount/prod-upgrader-cronjob-sa",
		"harness-delegate-ng/Role/prod-upgrader",
		"harness-delegate-ng/RoleBinding/prod-upgrader-cronjob",
		"harness-delegate-ng/Secret/prod-upgrader-token",
		"harness-delegate-ng/ConfigMap/prod-upgrader-config",
		"harness-delegate-ng/CronJob/prod-upgrader-job",
		"harness-delegate-ng/Deployment/prod",
	}
	if got := refs(objs); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("objects:\n got %v\nwant %v", got, want)
	}
	// Every kind rendered is one Installed lists and uninstall deletes.
	for _, o := range objs {
		if kindRank(o.Kind) < 0 {
			t.Errorf("%s is of a kind missing from Kinds: uninstall would leave it behind", o.Ref())
		}
		for _, k := range Kinds {
			if k.Kind == o.Kind && (k.Resource != o.Resource || k.Namespaced != (o.Namespace != "")) {
				t.Errorf("%s: resource %v namespaced=%v, Kinds says %v %v", o.Ref(), o.Resource, o.Namespace != "", k.Resource, k.Namespaced)
			}
		}
	}
	// The Deployment comes last: what it reads exists before its pods start.
	if last := objs[len(objs)-1]; last.Kind != "Deployment" {
		t.Errorf("last object is %s, want the Deployment", last.Ref())
	}
}

func TestRenderLabels(t *testing.T) {
	for name, v := range goldenCases(t) {
		for _, o := range render(v) {
			u, err := ToUnstructured(o)
			if err != nil {
				t.Fatal(err)
			}
			l := u.GetLabels()
			for k, want := range map[string]string{
				"app.kubernetes.io/name":     "prod",
				"app.kubernetes.io/instance": "prod",
				delegate.LabelName:           "prod",
				delegate.LabelManagedBy:      delegate.ManagedByPlugin,
			} {
				if l[k] != want {
					t.Errorf("%s: %s label %s=%q, want %q", name, o.Ref(), k, l[k], want)
				}
			}
			if got := u.GetAnnotations()[delegate.AnnotationPluginVersion]; got != testVersion {
				t.Errorf("%s: %s version annotation %q", name, o.Ref(), got)
			}
			if u.GetNamespace() != o.Namespace || u.GetName() != o.Name || u.GetKind() != o.Kind {
				t.Errorf("%s: object says %s/%s/%s, its Object %s", name, u.GetNamespace(), u.GetKind(), u.GetName(), o.Ref())
			}
			// The owner check must recognise every object install makes as its own.
			if owner := delegate.OwnerOf(metaFromU(u.Object), FieldManager); !owner.Plugin || owner.Delegate != "prod" {
				t.Errorf("%s: %s is not recognised as the plugin's: %+v", name, o.Ref(), owner)
			}
		}
	}
}

func metaFromU(obj map[string]any) (m metav1.ObjectMeta) {
	raw, _ := obj["metadata"].(map[string]any)
	_ = runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &m)
	return m
}

func TestRenderDeployment(t *testing.T) {
	v := base()
	v.Memory, v.CPU = "4Gi", "500m"
	v.Replicas = ptr.To(int32(3))
	d := find[appsv1.Deployment](t, render(v), "Deployment", "prod")

	sel := map[string]string{"app.kubernetes.io/name": "prod", "app.kubernetes.io/instance": "prod", delegate.LabelName: "prod"}
	if !maps.Equal(d.Spec.Selector.MatchLabels, sel) {
		t.Errorf("selector %v, want the chart's %v", d.Spec.Selector.MatchLabels, sel)
	}
	// The selector is immutable; the managed-by label stays off the pods so that a Helm
	// install's selector and ours agree.
	if !maps.Equal(d.Spec.Template.Labels, sel) {
		t.Errorf("pod labels %v, want %v", d.Spec.Template.Labels, sel)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	if d.Spec.MinReadySeconds != DefaultMinReadySeconds {
		t.Errorf("minReadySeconds %d", d.Spec.MinReadySeconds)
	}
	spec := d.Spec.Template.Spec
	if spec.ServiceAccountName != "prod" || spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds != 600 {
		t.Errorf("serviceAccount %q, grace %v", spec.ServiceAccountName, spec.TerminationGracePeriodSeconds)
	}
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "delegate" {
		t.Fatalf("containers %+v, want one named delegate", spec.Containers)
	}
	c := spec.Containers[0]
	if c.Image != DefaultImage {
		t.Errorf("image %q", c.Image)
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	if !req.Memory().Equal(*lim.Memory()) || req.Memory().String() != "4Gi" {
		t.Errorf("memory request %s, limit %s: the chart sets both to memory", req.Memory(), lim.Memory())
	}
	if req.Cpu().String() != "500m" {
		t.Errorf("cpu request %s", req.Cpu())
	}
	if _, ok := lim[corev1.ResourceCPU]; ok {
		t.Errorf("cpu limit %s: the chart sets none, a limit throttles the JVM", lim.Cpu())
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/api/health" || p.HTTPGet.Port.IntValue() != 3460 {
			t.Errorf("%s probe %+v, want HTTP GET /api/health:3460", name, p)
		}
	}
	if c.ReadinessProbe != nil {
		t.Errorf("readiness probe %+v: the chart has none", c.ReadinessProbe)
	}
	if c.StartupProbe.FailureThreshold != 40 || c.LivenessProbe.PeriodSeconds != 20 {
		t.Errorf("probe timings differ from the chart's values.yaml")
	}
	ports := map[int32]string{}
	for _, p := range c.Ports {
		ports[p.ContainerPort] = p.Name
	}
	if name, ok := ports[3460]; !ok || name != "api" || len(ports) != 2 {
		t.Errorf("ports %v, want 8080 and api:3460", ports)
	}
	var envFrom []string
	for _, e := range c.EnvFrom {
		switch {
		case e.ConfigMapRef != nil:
			envFrom = append(envFrom, "cm:"+e.ConfigMapRef.Name)
		case e.SecretRef != nil:
			envFrom = append(envFrom, "secret:"+e.SecretRef.Name)
		}
	}
	if got := strings.Join(envFrom, " "); got != "cm:prod secret:prod cm:prod-proxy secret:prod-proxy" {
		t.Errorf("envFrom %s", got)
	}
	if len(c.Env) != 0 {
		t.Errorf("inline env %v: every setting comes from the ConfigMap and Secrets", c.Env)
	}
	if d.Spec.Template.Annotations["prometheus.io/port"] != "3460" || d.Spec.Template.Annotations[AnnotationConfigChecksum] == "" {
		t.Errorf("pod annotations %v", d.Spec.Template.Annotations)
	}
}

func TestRenderConfigMap(t *testing.T) {
	v := base()
	v.ManagerEndpoint = "https://harness.example.com/"
	v.Tags, v.Description, v.PollForTasks = "a,b", "desc", ptr.To(true)
	cm := find[corev1.ConfigMap](t, render(v), "ConfigMap", "prod")
	want := map[string]string{
		"ACCOUNT_ID": "acct_ABC-123", "MANAGER_HOST_AND_PORT": "https://harness.example.com/",
		"DEPLOY_MODE": "KUBERNETES", "DELEGATE_NAME": "prod", "POLL_FOR_TASKS": "true", "NEXT_GEN": "true",
		"DELEGATE_TAGS": "a,b", "DELEGATE_DESCRIPTION": "desc", "JAVA_OPTS": DefaultJavaOpts,
		"DELEGATE_TYPE": "HELM_DELEGATE", "DELEGATE_NAMESPACE": testNamespace, "INIT_SCRIPT": "",
		"CLIENT_TOOLS_DOWNLOAD_DISABLED": "true",
		// The chart writes <endpoint>/log-service/; a trailing slash must not double.
		"LOG_STREAMING_SERVICE_URL": "https://harness.example.com/log-service/",
	}
	if !maps.Equal(cm.Data, want) {
		t.Errorf("data:\n got %v\nwant %v", cm.Data, want)
	}
}

func TestRenderRoles(t *testing.T) {
	cases := []struct {
		perm, kind string
		want       []string // refs of the RBAC objects for the delegate
		roleRef    string   // Kind/name
	}{
		{PermClusterAdmin, "", []string{"ClusterRoleBinding/prod-cluster-admin"}, "ClusterRole/cluster-admin"},
		{PermClusterViewer, "", []string{"ClusterRoleBinding/prod-cluster-viewer"}, "ClusterRole/view"},
		{PermNamespaceAdmin, "", []string{"harness-delegate-ng/Role/prod-harness-namespace-admin", "harness-delegate-ng/RoleBinding/prod-harness-namespace-admin"}, "Role/prod-harness-namespace-admin"},
		{"deployer", "", []string{"harness-delegate-ng/RoleBinding/prod-custom-roleBinding"}, "Role/deployer"},
		{"deployer", "Role", []string{"harness-delegate-ng/RoleBinding/prod-custom-roleBinding"}, "Role/deployer"},
		{"harness-deployer", "ClusterRole", []string{"harness-delegate-ng/RoleBinding/prod-custom-roleBinding"}, "ClusterRole/harness-deployer"},
	}
	for _, c := range cases {
		v := base()
		v.K8sPermissionsType, v.CustomRoleKind, v.Upgrader.Enabled = c.perm, c.kind, ptr.To(false)
		objs := render(v)
		var got []string
		var roleRef rbacv1.RoleRef
		var subjects []rbacv1.Subject
		for _, o := range objs {
			switch o.Kind {
			case "ClusterRoleBinding":
				b := find[rbacv1.ClusterRoleBinding](t, objs, o.Kind, o.Name)
				roleRef, subjects = b.RoleRef, b.Subjects
			case "RoleBinding":
				b := find[rbacv1.RoleBinding](t, objs, o.Kind, o.Name)
				roleRef, subjects = b.RoleRef, b.Subjects
			case "Role":
				r := find[rbacv1.Role](t, objs, o.Kind, o.Name)
				if len(r.Rules) != 1 || strings.Join(r.Rules[0].Verbs, ",") != "*" || strings.Join(r.Rules[0].Resources, ",") != "*" || strings.Join(r.Rules[0].APIGroups, ",") != "*" {
					t.Errorf("%s: namespace admin rules %+v, want the chart's * on * in *", c.perm, r.Rules)
				}
			default:
				continue
			}
			got = append(got, o.Ref())
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s %s: RBAC objects %v, want %v", c.perm, c.kind, got, c.want)
		}
		if ref := roleRef.Kind + "/" + roleRef.Name; ref != c.roleRef || roleRef.APIGroup != rbacv1.GroupName {
			t.Errorf("%s %s: roleRef %+v, want %s", c.perm, c.kind, roleRef, c.roleRef)
		}
		if len(subjects) != 1 || subjects[0].Kind != "ServiceAccount" || subjects[0].Name != "prod" || subjects[0].Namespace != testNamespace {
			t.Errorf("%s: subjects %+v, want the delegate's ServiceAccount", c.perm, subjects)
		}
	}
}

func TestRenderUpgrader(t *testing.T) {
	objs := render(base())
	cj := find[batchv1.CronJob](t, objs, "CronJob", "prod-upgrader-job")
	if cj.Spec.Schedule != "0 */1 * * *" || cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("schedule %q, concurrency %q", cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy)
	}
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	if pod.ServiceAccountName != "prod-upgrader-cronjob-sa" || pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("serviceAccount %q restart %q", pod.ServiceAccountName, pod.RestartPolicy)
	}
	c := pod.Containers[0]
	if len(c.EnvFrom) == 0 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != "prod-upgrader-token" {
		t.Errorf("upgrader envFrom %+v, want the token Secret first", c.EnvFrom)
	}
	tok := find[corev1.Secret](t, objs, "Secret", "prod-upgrader-token")
	if string(tok.Data["UPGRADER_TOKEN"]) != testToken {
		t.Errorf("upgrader token Secret data keys %v", keys(tok.Data))
	}
	rb := find[rbacv1.RoleBinding](t, objs, "RoleBinding", "prod-upgrader-cronjob")
	if rb.RoleRef.Name != "prod-upgrader" || rb.Subjects[0].Name != "prod-upgrader-cronjob-sa" {
		t.Errorf("upgrader binding %+v", rb)
	}
	role := find[rbacv1.Role](t, objs, "Role", "prod-upgrader")
	if len(role.Rules) != 2 || role.Rules[1].Resources[0] != "deployments" {
		t.Errorf("upgrader rules %+v", role.Rules)
	}
	cm := find[corev1.ConfigMap](t, objs, "ConfigMap", "prod-upgrader-config")
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatalf("upgrader config.yaml is not YAML: %v", err)
	}
	if cfg["workloadName"] != "prod" || cfg["namespace"] != testNamespace || cfg["containerName"] != "delegate" {
		t.Errorf("upgrader config %v", cfg)
	}

	off := base()
	off.Upgrader.Enabled = ptr.To(false)
	for _, o := range render(off) {
		if strings.Contains(o.Name, "upgrader") {
			t.Errorf("upgrader off still renders %s", o.Ref())
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRenderExistingToken(t *testing.T) {
	v := base()
	v.DelegateToken, v.ExistingDelegateToken = "", "prod-token"
	objs := render(v)
	for _, o := range objs {
		if o.Kind == "Secret" {
			t.Errorf("with an existing token Secret, install writes no Secret, got %s", o.Ref())
		}
	}
	d := find[appsv1.Deployment](t, objs, "Deployment", "prod")
	if ref := d.Spec.Template.Spec.Containers[0].EnvFrom[1].SecretRef; ref == nil || ref.Name != "prod-token" {
		t.Errorf("delegate reads its token from %+v, want Secret prod-token", ref)
	}
	cj := find[batchv1.CronJob](t, objs, "CronJob", "prod-upgrader-job")
	c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	var found bool
	for _, e := range c.Env {
		if e.Name == "UPGRADER_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
			e.ValueFrom.SecretKeyRef.Name == "prod-token" && e.ValueFrom.SecretKeyRef.Key == "DELEGATE_TOKEN" {
			found = true
		}
	}
	if !found {
		t.Errorf("upgrader env %+v, want UPGRADER_TOKEN from prod-token's DELEGATE_TOKEN", c.Env)
	}
	for _, e := range c.EnvFrom {
		if e.SecretRef != nil && e.SecretRef.Name == "prod-upgrader-token" {
			t.Errorf("upgrader reads prod-upgrader-token, which is not made with an existing token")
		}
	}
}

func TestRenderCustomCA(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		managed      bool
	}{
		{"ca-file", "prod-ca-bundle", true},
		{"ca-secret", "corp-ca", false},
	} {
		v := base()
		if tc.managed {
			v.CACertificates = testCA(t)
		} else {
			v.DelegateCustomCa.SecretName = tc.secret
		}
		objs := render(v)
		if has(objs, "Secret", tc.secret) != tc.managed {
			t.Errorf("%s: Secret %s rendered=%v, want %v", tc.name, tc.secret, !tc.managed, tc.managed)
		}
		if tc.managed {
			s := find[corev1.Secret](t, objs, "Secret", tc.secret)
			if string(s.Data["ca.bundle"]) != testCA(t) {
				t.Errorf("%s: ca.bundle holds %d bytes, want the PEM file", tc.name, len(s.Data["ca.bundle"]))
			}
		}
		d := find[appsv1.Deployment](t, objs, "Deployment", "prod")
		checkCAMount(t, tc.name+" delegate", d.Spec.Template.Spec, tc.secret, "/opt/harness-delegate/ca-bundle/")
		cj := find[batchv1.CronJob](t, objs, "CronJob", "prod-upgrader-job")
		checkCAMount(t, tc.name+" upgrader", cj.Spec.JobTemplate.Spec.Template.Spec, tc.secret, "/ca-bundle")
		if s := d.Annotations[AnnotationSettings]; strings.Contains(s, "BEGIN CERTIFICATE") {
			t.Errorf("%s: the settings annotation holds the certificates", tc.name)
		}
	}
}

func checkCAMount(t *testing.T, what string, spec corev1.PodSpec, secret, path string) {
	t.Helper()
	var vol *corev1.Volume
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == "custom-certs" {
			vol = &spec.Volumes[i]
		}
	}
	if vol == nil || vol.Secret == nil || vol.Secret.SecretName != secret {
		t.Errorf("%s: volume custom-certs %+v, want Secret %s", what, vol, secret)
	} else if vol.Secret.DefaultMode == nil || *vol.Secret.DefaultMode != 0o400 {
		t.Errorf("%s: defaultMode %v, want 0400", what, vol.Secret.DefaultMode)
	}
	var mounted bool
	for _, m := range spec.Containers[0].VolumeMounts {
		if m.Name == "custom-certs" && m.MountPath == path && m.ReadOnly {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("%s: mounts %+v, want custom-certs read-only at %s", what, spec.Containers[0].VolumeMounts, path)
	}
}

func TestRenderProxy(t *testing.T) {
	v := base()
	v.ProxyHost, v.ProxyPort, v.ProxyScheme, v.NoProxy = "proxy.example.com", "3128", "http", ".svc"
	v.ProxyUser, v.ProxyPassword = "proxyuser", "proxy-pa55word"
	objs := render(v)
	cm := find[corev1.ConfigMap](t, objs, "ConfigMap", "prod-proxy")
	if !maps.Equal(cm.Data, map[string]string{"PROXY_HOST": "proxy.example.com", "PROXY_PORT": "3128", "PROXY_SCHEME": "http", "NO_PROXY": ".svc"}) {
		t.Errorf("proxy ConfigMap %v", cm.Data)
	}
	s := find[corev1.Secret](t, objs, "Secret", "prod-proxy")
	if string(s.Data["PROXY_USER"]) != "proxyuser" || string(s.Data["PROXY_PASSWORD"]) != "proxy-pa55word" {
		t.Errorf("proxy Secret keys %v", keys(s.Data))
	}
	// The password lives in the Secret only: not in a ConfigMap, not in the settings.
	for _, o := range objs {
		if o.Kind == "Secret" {
			continue
		}
		y := renderYAML(t, []Object{o})
		if bytes.Contains(y, []byte("proxy-pa55word")) || bytes.Contains(y, []byte(testToken)) {
			t.Errorf("%s holds a secret value", o.Ref())
		}
	}
	cj := find[batchv1.CronJob](t, objs, "CronJob", "prod-upgrader-job")
	var readsProxySecret bool
	for _, e := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].EnvFrom {
		if e.SecretRef != nil && e.SecretRef.Name == "prod-proxy" {
			readsProxySecret = true
		}
	}
	if !readsProxySecret {
		t.Errorf("the upgrader's config leaves the proxy credentials out, so it must read them from Secret prod-proxy")
	}
	// Without credentials there is no proxy Secret.
	v.ProxyUser, v.ProxyPassword = "", ""
	if has(render(v), "Secret", "prod-proxy") {
		t.Errorf("proxy Secret rendered without credentials")
	}
}

// TestRenderChecksums: the pods restart when what they read at start changes, and only then.
func TestRenderChecksums(t *testing.T) {
	annotations := func(v Values, opts RenderOptions) map[string]string {
		opts.Namespace, opts.PluginVersion = testNamespace, testVersion
		return find[appsv1.Deployment](t, Render(v, opts), "Deployment", "prod").Spec.Template.Annotations
	}
	a := annotations(base(), RenderOptions{})

	tags := base()
	tags.Tags = "x"
	if b := annotations(tags, RenderOptions{}); b[AnnotationConfigChecksum] == a[AnnotationConfigChecksum] {
		t.Errorf("a configuration change leaves the config checksum as it was")
	} else if b[AnnotationSecretChecksum] != a[AnnotationSecretChecksum] {
		t.Errorf("a configuration change changes the secret checksum")
	}

	// The secret checksum is what the caller stamps, never derived from the Secrets' content:
	// a new token or password renders the same pod template (the Installer's stamp changes).
	rotated := base()
	rotated.DelegateToken = "another-token"
	if b := annotations(rotated, RenderOptions{}); b[AnnotationSecretChecksum] != a[AnnotationSecretChecksum] {
		t.Errorf("the secret checksum is derived from the token")
	}
	if b := annotations(base(), RenderOptions{SecretChecksum: "stamp"}); b[AnnotationSecretChecksum] != "stamp" {
		t.Errorf("secret checksum %q, want the one passed in", b[AnnotationSecretChecksum])
	}
	for name, v := range goldenCases(t) {
		for k, val := range annotations(v, RenderOptions{}) {
			if len(val) > 63 && strings.HasPrefix(k, "checksum/") {
				t.Errorf("%s: %s is %d characters", name, k, len(val))
			}
		}
	}
}

// TestRenderSettingsRoundTrip: the settings annotation is what an upgrade starts from, so
// rendering from it (with the token kept) must give the same objects.
func TestRenderSettingsRoundTrip(t *testing.T) {
	for name, v := range goldenCases(t) {
		objs := render(v)
		d := find[appsv1.Deployment](t, objs, "Deployment", "prod")
		settings, err := SettingsOf(d)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if settings.DelegateToken != "" || settings.ProxyPassword != "" || settings.CACertificates != "" {
			t.Errorf("%s: settings annotation holds a secret: %+v", name, settings)
		}
		checksum := d.Spec.Template.Annotations[AnnotationSecretChecksum]
		again := Render(settings, RenderOptions{Namespace: testNamespace, PluginVersion: testVersion, SecretChecksum: checksum})
		if a, b := renderYAML(t, []Object{objs[len(objs)-1]}), renderYAML(t, []Object{again[len(again)-1]}); !bytes.Equal(a, b) {
			t.Errorf("%s: the Deployment rendered from its own settings differs:\n%s", name, firstDiff(string(a), string(b)))
		}
		// What is not rendered again (the Secrets) is kept by the upgrade's prune.
		kept := map[string]bool{}
		for _, s := range settings.ReferencedSecrets() {
			kept[s] = true
		}
		for _, o := range objs {
			if o.Kind == "Secret" && !has(again, "Secret", o.Name) && !kept[o.Name] {
				t.Errorf("%s: Secret %s is neither rendered again nor referenced: an upgrade would delete it", name, o.Name)
			}
		}
	}
}
