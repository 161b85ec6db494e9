//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// Issue 11: doctor sees the layers above the pods. Each test breaks a delegate the way real
// clusters do and asserts doctor's top finding about it and the exit code.

// applyFixtureIn applies a testdata fixture into an existing namespace, with its delegate
// renamed from -> to: doctor -n sees the same name in every namespace, so a test that wants
// no twin uses a name no other test does.
func applyFixtureIn(t *testing.T, ns, fixture, from, to string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", fixture+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), fixture+".yaml")
	manifest := strings.ReplaceAll(strings.ReplaceAll(string(data), "NAMESPACE", ns), from, to)
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := runCommand(t, env.kubectl, "apply", "-f", path); res.code != 0 {
		t.Fatalf("kubectl apply %s: %s", fixture, res.stderr)
	}
	t.Cleanup(func() { runCommand(t, env.kubectl, "delete", "--ignore-not-found", "--wait=false", "-f", path) })
}

// applyRenamed applies a fixture, its delegate renamed, into a namespace of its own.
func applyRenamed(t *testing.T, fixture, from, to string) string {
	t.Helper()
	ns := testNamespace(t, "layers-"+fixture)
	applyFixtureIn(t, ns, fixture, from, to)
	return ns
}

// topOf is the report's first failure, else first warning, about one delegate and its pods.
func topOf(r diagnose.Report, prefix string) diagnose.Finding {
	var own diagnose.Report
	for _, f := range r.Findings {
		if strings.HasPrefix(f.Subject, prefix) {
			own.Findings = append(own.Findings, f)
		}
	}
	top, _ := own.Top()
	return top
}

// kubectlHint runs the kubectl command a hint gives, as a user would paste it.
func kubectlHint(t *testing.T, command string) {
	t.Helper()
	if !strings.HasPrefix(command, "kubectl ") {
		t.Fatalf("not a kubectl command: %q", command)
	}
	res := runCommand(t, "bash", "-c", env.kubectl+strings.TrimPrefix(command, "kubectl"))
	if res.code != 0 {
		t.Fatalf("%s: exit %d: %s", command, res.code, res.stderr)
	}
}

// between is the text of s after the first from and before the next to.
func between(s, from, to string) string {
	_, after, _ := strings.Cut(s, from)
	before, _, _ := strings.Cut(after, to)
	return before
}

func TestDoctorLayersQuotaRefusesPods(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := testNamespace(t, "layers-quota")
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "delegate-quota"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsMemory: mustQuantity("1Gi")}}}
	if _, err := env.client.CoreV1().ResourceQuotas(ns).Create(ctx, quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Until the quota controller has counted usage, admission refuses with "status unknown".
	eventually(t, time.Minute, func() (bool, string) {
		q, err := env.client.CoreV1().ResourceQuotas(ns).Get(ctx, quota.Name, metav1.GetOptions{})
		return err == nil && q.Status.Hard != nil, fmt.Sprintf("quota status %+v, %v", q.Status, err)
	})
	applyFixtureIn(t, ns, "plugin", "plugin-delegate", "quota-delegate")
	matrix := matrixWithServer(t)
	var top diagnose.Finding
	var res result
	eventually(t, 90*time.Second, func() (bool, string) {
		var r diagnose.Report
		r, res = doctor(t, "quota-delegate", "-n", ns, "--support-matrix", matrix)
		top = topOf(r, ns+"/quota-delegate")
		// Until the controller's FailedCreate event exists, DLG-300 says only that the
		// rollout is under way (a pass, well inside its deadline); the cause is a failure.
		return top.ID == "DLG-300" && top.Verdict == diagnose.Fail, fmt.Sprintf("exit %d, top %+v", res.code, top)
	})
	// The chart's 2048Mi against a 1Gi quota, with the command that fits the one replica.
	if res.code != 3 || top.Verdict != diagnose.Fail ||
		!strings.Contains(top.Finding, "1 of 1 pod(s) not created: ResourceQuota delegate-quota exceeded: requests.memory requested 2Gi, used 0, limited 1Gi") ||
		!strings.Contains(top.Hint, "kubectl patch resourcequota delegate-quota -n "+ns+` --type merge -p '{"spec":{"hard":{"requests.memory":"2Gi"}}}'`) {
		t.Fatalf("exit %d, top %+v", res.code, top)
	}
	// The fix as given lets the controller create the pod.
	kubectlHint(t, "kubectl patch resourcequota"+between(top.Hint, "kubectl patch resourcequota", "; or"))
	eventually(t, 2*time.Minute, func() (bool, string) {
		d := listDelegates(t, "-n", ns)[ns+"/quota-delegate"]
		return len(d.Pods) == 1 && d.Replicas.Available == 1, fmt.Sprintf("replicas %+v, pods %+v", d.Replicas, d.Pods)
	})

	// An upgrade the quota has no room for: the new ReplicaSet's pod is refused while the
	// previous revision's pod serves. The pod count is full, yet it is not "no refusal": a
	// warning (the delegate works), with the same fix.
	if res := runCommand(t, env.kubectl, "set", "env", "deployment/quota-delegate", "-n", ns, "E2E_REVISION=2"); res.code != 0 {
		t.Fatalf("kubectl set env: %s", res.stderr)
	}
	eventually(t, 90*time.Second, func() (bool, string) {
		var r diagnose.Report
		r, res = doctor(t, "quota-delegate", "-n", ns, "--support-matrix", matrix)
		top = topOf(r, ns+"/quota-delegate")
		return top.ID == "DLG-300" && strings.Contains(top.Finding, "of the current revision not created"), fmt.Sprintf("exit %d, top %+v", res.code, top)
	})
	if res.code != 4 || top.Verdict != diagnose.Warn ||
		!strings.Contains(top.Finding, "1 of 1 pod(s) of the current revision not created: ResourceQuota delegate-quota exceeded: requests.memory requested 2Gi, used 2Gi, limited 2Gi") ||
		!strings.Contains(top.Hint, `"requests.memory":"4Gi"`) {
		t.Fatalf("an upgrade the quota refuses: exit %d, top %+v", res.code, top)
	}
}

func TestDoctorLayersPodSecurityRestricted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := testNamespace(t, "layers-psa")
	n, err := env.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	if _, err := env.client.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	applyFixtureIn(t, ns, "plugin", "plugin-delegate", "psa-delegate")
	matrix := matrixWithServer(t)
	var top diagnose.Finding
	var res result
	eventually(t, 90*time.Second, func() (bool, string) {
		var r diagnose.Report
		r, res = doctor(t, "psa-delegate", "-n", ns, "--support-matrix", matrix)
		top = topOf(r, ns+"/psa-delegate")
		// Until the controller's FailedCreate event exists, DLG-300 says only that the
		// rollout is under way (a pass, well inside its deadline); the cause is a failure.
		return top.ID == "DLG-300" && top.Verdict == diagnose.Fail, fmt.Sprintf("exit %d, top %+v", res.code, top)
	})
	if res.code != 3 || top.Verdict != diagnose.Fail || !strings.Contains(top.Finding, `Pod Security admission enforces "restricted:latest" in namespace `+ns) ||
		!strings.Contains(top.Finding, "runAsNonRoot != true") ||
		!strings.Contains(top.Hint, "kubectl label namespace "+ns+" pod-security.kubernetes.io/enforce=baseline --overwrite") {
		t.Fatalf("exit %d, top %+v", res.code, top)
	}
	// The securityContext the hint gives meets restricted: the API server admits the pod.
	kubectlHint(t, between(top.Hint, "either run the delegate as restricted allows: ", " (trade-off"))
	eventually(t, 2*time.Minute, func() (bool, string) {
		d := listDelegates(t, "-n", ns)[ns+"/psa-delegate"]
		return len(d.Pods) >= 1, fmt.Sprintf("pods %+v", d.Pods)
	})
}

func TestDoctorLayersScaledToZero(t *testing.T) {
	t.Parallel()
	ns := applyRenamed(t, "plugin", "plugin-delegate", "scaled-delegate")
	if res := runCommand(t, env.kubectl, "scale", "deployment/scaled-delegate", "-n", ns, "--replicas=0"); res.code != 0 {
		t.Fatal(res.stderr)
	}
	matrix := matrixWithServer(t)
	eventually(t, 90*time.Second, func() (bool, string) {
		d := listDelegates(t, "-n", ns)[ns+"/scaled-delegate"]
		return len(d.Pods) == 0, fmt.Sprintf("pods %+v", d.Pods)
	})
	r, res := doctor(t, "scaled-delegate", "-n", ns, "--support-matrix", matrix)
	top := topOf(r, ns+"/scaled-delegate")
	if res.code != 4 || top.ID != "DLG-300" || top.Verdict != diagnose.Warn || top.Finding != "Deployment scaled-delegate is scaled to 0 replicas" ||
		!strings.Contains(top.Hint, "disconnected") {
		t.Errorf("exit %d, top %+v", res.code, top)
	}
	// No pod, no pass about pods.
	for _, f := range r.Findings {
		if f.Verdict == diagnose.Pass && strings.Contains(f.Finding, "pod(s)") {
			t.Errorf("a pass about pods that do not exist: %+v", f)
		}
	}
}

func TestDoctorLayersSameNameInAnotherNamespace(t *testing.T) {
	t.Parallel()
	ns, twin := applyRenamed(t, "plugin", "plugin-delegate", "twin-delegate"), applyRenamed(t, "plugin", "plugin-delegate", "twin-delegate")
	// Both running first: a replica still Pending (the nodes full of other tests' pods) is a
	// pod-layer failure, which would rightly lead over the name.
	eventually(t, 90*time.Second, func() (bool, string) {
		a, b := listDelegates(t, "-n", ns)[ns+"/twin-delegate"], listDelegates(t, "-n", twin)[twin+"/twin-delegate"]
		return a.Replicas.Ready == 1 && b.Replicas.Ready == 1, fmt.Sprintf("%+v, %+v", a.Replicas, b.Replicas)
	})
	matrix := matrixWithServer(t)
	r, res := doctor(t, "twin-delegate", "-n", ns, "--support-matrix", matrix)
	top := topOf(r, ns+"/twin-delegate")
	dup := findingsOf(r, "DLG-405", ns+"/twin-delegate")
	if res.code != 3 || len(dup) != 1 || dup[0].Verdict != diagnose.Fail || !strings.HasSuffix(dup[0].Finding, "also used in namespace(s) "+twin) || !strings.Contains(dup[0].Hint, "another cluster") {
		t.Errorf("exit %d, DLG-405 %+v", res.code, dup)
	}
	if top.ID != "DLG-405" {
		t.Errorf("top %+v", top)
	}
	// The one extra request: a LIST of Deployments in all namespaces, selected by the name.
	_, seen := countRequests(t, func(client kubernetes.Interface) error {
		_, err := diagnose.Gather(context.Background(), client, diagnose.GatherOptions{Namespace: ns, SupportMatrix: diagnose.DefaultSupportMatrix()})
		return err
	})
	if n := seen["GET /apis/apps/v1/deployments"]; n != 1 {
		t.Errorf("cluster-wide Deployment LISTs: %d, want 1: %v", n, seen)
	}
}

// A user who may not list Deployments in all namespaces: the name check says it could not
// look, instead of passing.
func TestDoctorLayersNameUncheckedWhenForbidden(t *testing.T) {
	if env.viewerKubeconfig == "" {
		t.Skip("the cluster named by KUBECONFIG has no viewer.kubeconfig beside it")
	}
	t.Parallel()
	applyFixtureIn(t, localcluster.ViewerNamespace, "plugin", "plugin-delegate", "unchecked-delegate")
	res := runCommand(t, env.plugin, "doctor", "unchecked-delegate", "--kubeconfig", env.viewerKubeconfig, "-o", "json")
	var r diagnose.Report
	if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
		t.Fatalf("doctor as the viewer: exit %d, %v\n%s%s", res.code, err, res.stdout, res.stderr)
	}
	names := findingsOf(r, "DLG-405", localcluster.ViewerNamespace+"/unchecked-delegate")
	if len(names) != 1 || names[0].Verdict != diagnose.Skip || !strings.Contains(names[0].Finding, "other namespaces were not searched") || !strings.Contains(names[0].Finding, "forbidden") {
		t.Errorf("DLG-405 as the viewer: %+v", names)
	}
}
