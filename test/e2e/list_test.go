//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

const fixtureToken = "e2e-token-value-that-must-never-print"

// applyFixture applies testdata/<name>.yaml into a fresh namespace with the real kubectl,
// as a user would, and returns the namespace.
func applyFixture(t *testing.T, name string) string {
	t.Helper()
	return applyFixtures(t, "disc-"+name, name)
}

func listDelegates(t *testing.T, args ...string) map[string]delegate.Delegate {
	t.Helper()
	res := plugin(t, append([]string{"list", "-o", "json"}, args...)...)
	if res.code != 0 {
		t.Fatalf("list %v: exit %d: %s", args, res.code, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, fixtureToken) {
		t.Fatalf("the token was printed")
	}
	var doc struct {
		APIVersion string
		Kind       string
		Items      []delegate.Delegate
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, res.stdout)
	}
	if doc.APIVersion != delegate.SchemaVersion || doc.Kind != "DelegateList" {
		t.Errorf("apiVersion %q kind %q", doc.APIVersion, doc.Kind)
	}
	out := map[string]delegate.Delegate{}
	for _, d := range doc.Items {
		out[d.Namespace+"/"+d.Name] = d
	}
	return out
}

func TestListFindsDelegatesInstalledFourWays(t *testing.T) {
	t.Parallel()
	namespaces := map[string]string{}
	for _, fixture := range []string{"helm-chart", "manifest", "plugin", "legacy"} {
		namespaces[fixture] = applyFixture(t, fixture)
	}
	key := func(fixture, name string) string { return namespaces[fixture] + "/" + name }

	var ds map[string]delegate.Delegate
	eventually(t, 90*time.Second, func() (bool, string) {
		ds = listDelegates(t, "-A")
		helm, manifest := ds[key("helm-chart", "helm-delegate")], ds[key("manifest", "manifest-delegate")]
		byPlugin, legacy := ds[key("plugin", "plugin-delegate")], ds[key("legacy", "legacy-delegate")]
		ok := helm.Replicas.Ready == 2 && byPlugin.Replicas.Ready == 1 && legacy.Replicas.Ready == 1 &&
			len(manifest.Pods) == 1 && manifest.Pods[0].Restarts >= 2
		return ok, fmt.Sprintf("helm %+v, manifest pods %+v, plugin %+v, legacy %+v", helm.Replicas, manifest.Pods, byPlugin.Replicas, legacy.Replicas)
	})

	helm := ds[key("helm-chart", "helm-delegate")]
	if helm.InstallMethod != delegate.Helm || helm.Helm.Release != "helm-delegate" || helm.Helm.ChartVersion != "1.0.15" ||
		helm.Version != "26.09.90000" || helm.Replicas.Desired != 2 || helm.AccountID != "e2eAccount01" ||
		helm.Token.Source != delegate.TokenFromSecret || helm.Token.Present == nil || !*helm.Token.Present ||
		helm.RBAC.Mode != delegate.ClusterAdmin || helm.Upgrader == nil || helm.Upgrader.CronJob != "helm-delegate-upgrader-job" {
		t.Errorf("helm delegate: %+v", helm)
	}
	manifest := ds[key("manifest", "manifest-delegate")]
	if manifest.InstallMethod != delegate.Manifest || manifest.Version != "26.05.89000" || !manifest.Minimal ||
		manifest.Replicas.Ready != 0 || manifest.Pods[0].Waiting != "CrashLoopBackOff" ||
		manifest.Pods[0].LastTermination == nil || manifest.Pods[0].LastTermination.Reason != "OOMKilled" ||
		manifest.RBAC.Mode != delegate.ClusterAdmin || manifest.Workload.ServiceAccount != "default" {
		t.Errorf("manifest delegate: %+v", manifest)
	}
	byPlugin := ds[key("plugin", "plugin-delegate")]
	if byPlugin.InstallMethod != delegate.Plugin || byPlugin.PluginVersion != "v0.1.0" || byPlugin.Version != "26.10.90500" {
		t.Errorf("plugin delegate: %+v", byPlugin)
	}
	legacy := ds[key("legacy", "legacy-delegate")]
	if legacy.InstallMethod != delegate.Legacy || legacy.Workload.Kind != "StatefulSet" || legacy.Version != "" ||
		legacy.Support.Status != delegate.UnknownSupport || legacy.Token.Source != delegate.TokenInline {
		t.Errorf("legacy delegate: %+v", legacy)
	}

	// The table, as people read it, in one namespace and across all.
	res := plugin(t, "list", "-n", namespaces["helm-chart"])
	if res.code != 0 || !strings.Contains(res.stdout, "helm-delegate") || !strings.Contains(res.stdout, "helm (harness-delegate-ng-1.0.15)") ||
		!strings.Contains(res.stdout, "2/2") || strings.Contains(res.stdout, "manifest-delegate") {
		t.Errorf("list -n: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = plugin(t, "list", "-A", "-o", "wide")
	for _, want := range []string{"NAMESPACE", "manifest-delegate", "legacy", "unknown", "cluster-admin", "secret/helm-delegate (present)"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("list -A -o wide lacks %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout+res.stderr, fixtureToken) {
		t.Error("the token was printed")
	}

	// Scripts pipe kubectl's JSONPath and -o name, as with kubectl get.
	res = plugin(t, "list", "-n", namespaces["legacy"], "-o", "jsonpath={.items[*].name}")
	if res.code != 0 || res.stdout != "legacy-delegate" {
		t.Errorf("list -o jsonpath={.items[*].name}: exit %d, %q %s", res.code, res.stdout, res.stderr)
	}
	res = plugin(t, "list", "-n", namespaces["helm-chart"], "-o", "name")
	if res.code != 0 || res.stdout != "delegate/helm-delegate\n" {
		t.Errorf("list -o name: exit %d, %q %s", res.code, res.stdout, res.stderr)
	}
	res = plugin(t, "list", "-A", "-o", `jsonpath={range .items[*]}{.namespace}/{.name} {.installMethod}{"\n"}{end}`)
	lines := strings.Split(res.stdout, "\n")
	for _, want := range []string{key("helm-chart", "helm-delegate") + " helm", key("manifest", "manifest-delegate") + " manifest",
		key("plugin", "plugin-delegate") + " plugin", key("legacy", "legacy-delegate") + " legacy"} {
		if !slices.Contains(lines, want) {
			t.Errorf("list -A -o jsonpath lacks the line %q: exit %d\n%s%s", want, res.code, res.stdout, res.stderr)
		}
	}
}

// countingTransport counts the requests a client makes, by verb and resource path.
type countingTransport struct {
	next  http.RoundTripper
	total atomic.Int64
	mu    sync.Mutex
	seen  map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.total.Add(1)
	c.mu.Lock()
	c.seen[r.Method+" "+r.URL.Path]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// countRequests runs gather with a client that counts its requests.
func countRequests(t *testing.T, gather func(kubernetes.Interface) error) (int64, map[string]int) {
	t.Helper()
	counter := &countingTransport{seen: map[string]int{}}
	cfg := rest.CopyConfig(env.config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter })
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := gather(client); err != nil {
		t.Fatal(err)
	}
	return counter.total.Load(), counter.seen
}

// listAllNamespaces is what list -A does; doctorAllNamespaces what doctor -A does.
func listAllNamespaces(client kubernetes.Interface) error {
	objs, err := delegate.Gather(context.Background(), client, delegate.GatherOptions{})
	if err == nil && len(delegate.Build(objs, time.Now())) == 0 {
		err = fmt.Errorf("no delegates found: the count would prove nothing")
	}
	return err
}

func doctorAllNamespaces(client kubernetes.Interface) error {
	s, err := diagnose.Gather(context.Background(), client, diagnose.GatherOptions{SupportMatrix: diagnose.DefaultSupportMatrix()})
	if err == nil && len(diagnose.Run(s)) == 0 {
		err = fmt.Errorf("no findings: the count would prove nothing")
	}
	return err
}

// TestListRequestsDoNotGrowWithPods: list -A costs the same requests with 10 pods in the
// cluster as with 500.
func TestListRequestsDoNotGrowWithPods(t *testing.T) {
	ctx := context.Background()
	// The one test that does not run in parallel: the parallel ones start when it ends. Its
	// eleven namespaces hold ten helm-delegates (twins to the parallel tests' doctor) and more
	// replicas than the nodes have room for; registered first, this runs after their own
	// cleanups and waits until they are gone.
	var namespaces []string
	t.Cleanup(func() {
		eventually(t, 2*time.Minute, func() (bool, string) {
			var left []string
			for _, ns := range namespaces {
				_, err := env.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
				if !apierrors.IsNotFound(err) {
					left = append(left, ns)
				}
			}
			return len(left) == 0, fmt.Sprintf("namespaces not deleted yet: %v", left)
		})
	})
	ns := applyFixture(t, "helm-chart")
	bulk := testNamespace(t, "bulk")
	namespaces = append(namespaces, ns, bulk)
	// Both replicas first: doctor reads the log of each delegate pod, so a count taken while
	// the ReplicaSet was still creating them read fewer logs than one taken after.
	eventually(t, 90*time.Second, func() (bool, string) {
		d := listDelegates(t, "-n", ns)[ns+"/helm-delegate"]
		return d.Replicas.Ready == 2 && len(d.Pods) == 2, fmt.Sprintf("%+v, %d pods", d.Replicas, len(d.Pods))
	})
	cfg := rest.CopyConfig(env.config)
	cfg.QPS, cfg.Burst = 200, 400
	fast, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := fast.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("nodes: %v", err)
	}
	createPods := func(from, to int) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 20)
		for i := from; i < to; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				p := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%03d", i), Labels: map[string]string{"app": "bulk"}},
					Spec: corev1.PodSpec{
						// Placed directly on a fake node: capacity is not the point here.
						NodeName:   nodes.Items[i%len(nodes.Items)].Name,
						Containers: []corev1.Container{{Name: "app", Image: "nginx"}},
					},
				}
				if _, err := fast.CoreV1().Pods(bulk).Create(ctx, p, metav1.CreateOptions{}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	// The pods count against the nodes' pod capacity: make sure they are gone before the
	// tests that run after this one schedule theirs.
	t.Cleanup(func() {
		_ = fast.CoreV1().Pods(bulk).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app=bulk"})
		eventually(t, time.Minute, func() (bool, string) {
			left, err := fast.CoreV1().Pods(bulk).List(ctx, metav1.ListOptions{LabelSelector: "app=bulk"})
			if err != nil {
				return false, err.Error()
			}
			return len(left.Items) == 0, fmt.Sprintf("%d bulk pods left", len(left.Items))
		})
	})
	createPods(0, 10)
	smallList, smallListSeen := countRequests(t, listAllNamespaces)
	smallDoctor, smallDoctorSeen := countRequests(t, doctorAllNamespaces)
	createPods(10, 500)
	largeList, largeListSeen := countRequests(t, listAllNamespaces)
	largeDoctor, largeDoctorSeen := countRequests(t, doctorAllNamespaces)
	if smallList != largeList {
		t.Errorf("list -A requests with 10 pods: %d %v; with 500 pods: %d %v", smallList, smallListSeen, largeList, largeListSeen)
	}
	if smallDoctor != largeDoctor {
		t.Errorf("doctor -A requests with 10 pods: %d %v; with 500 pods: %d %v", smallDoctor, smallDoctorSeen, largeDoctor, largeDoctorSeen)
	}
	logReads := 0
	for path, n := range largeDoctorSeen {
		switch {
		case strings.Contains(path, "/pods/") && strings.HasSuffix(path, "/log"):
			logReads += n // the log tails of the delegate's own pods, and only those
		case strings.Contains(path, "/pods/"):
			t.Errorf("a GET per pod: %s x%d", path, n)
		}
	}
	if logReads != 2 {
		t.Errorf("doctor read %d logs; the delegate has 2 pods", logReads)
	}
	t.Logf("with a delegate in %s, at 10 and at 500 pods: list -A %d requests %v; doctor -A %d requests %v", ns, largeList, largeListSeen, largeDoctor, largeDoctorSeen)

	// Nor with delegates: ten chart-installed delegates cost list -A what one does (their
	// ConfigMaps and Secrets come from two labelled LISTs), and doctor -A only its log
	// tails and one access review per delegate more.
	for range 9 {
		namespaces = append(namespaces, applyFixture(t, "helm-chart"))
	}
	tenList, tenListSeen := countRequests(t, listAllNamespaces)
	if tenList != largeList || tenList > 10 {
		t.Errorf("list -A requests with 1 delegate: %d %v; with 10: %d %v (want the same, at most 10)", largeList, largeListSeen, tenList, tenListSeen)
	}
	_, tenDoctorSeen := countRequests(t, doctorAllNamespaces)
	for path, n := range tenDoctorSeen {
		if strings.HasPrefix(path, "GET ") && (strings.Contains(path, "/configmaps/") || strings.Contains(path, "/secrets/")) {
			t.Errorf("doctor -A with 10 delegates read %s one by one (x%d)", path, n)
		}
	}
}

func TestInspectShowsOneDelegateWithItsEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := applyFixture(t, "manifest")
	var podName string
	eventually(t, time.Minute, func() (bool, string) {
		d := listDelegates(t, "-n", ns)[ns+"/manifest-delegate"]
		if len(d.Pods) == 1 && d.Pods[0].Restarts >= 1 {
			podName = d.Pods[0].Name
			return true, ""
		}
		return false, fmt.Sprintf("pods %+v", d.Pods)
	})
	// kwok runs no kubelet, so write the event a kubelet would for a crash loop: it names
	// the pod by UID too, which is what ties an event to the delegate.
	pod, err := env.client.CoreV1().Pods(ns).Get(ctx, podName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	_, err = env.client.CoreV1().Events(ns).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: podName + "."},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: podName, UID: pod.UID},
		Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container delegate",
		Count: 12, FirstTimestamp: now, LastTimestamp: now, Source: corev1.EventSource{Component: "kubelet"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	res := plugin(t, "inspect", "manifest-delegate", "-n", ns)
	for _, want := range []string{"Install method:   manifest", "CrashLoopBackOff", "OOMKilled (exit 137)",
		"Secret manifest-delegate-account-token, key DELEGATE_TOKEN (present)", "BackOff", "Back-off restarting failed container", "x12"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("inspect lacks %q:\n%s%s", want, res.stdout, res.stderr)
		}
	}
	if strings.Contains(res.stdout+res.stderr, fixtureToken) {
		t.Error("inspect printed the token")
	}

	res = plugin(t, "status", "manifest-delegate", "-n", ns, "-o", "json")
	var in struct {
		Kind          string
		Name          string
		WarningEvents []delegate.Event
	}
	if err := json.Unmarshal([]byte(res.stdout), &in); err != nil || in.Kind != "DelegateInspection" || in.Name != "manifest-delegate" {
		t.Errorf("status -o json: %v\n%s", err, res.stdout)
	}
	backOff := false
	for _, e := range in.WarningEvents {
		backOff = backOff || (e.Reason == "BackOff" && e.Count == 12 && e.Object == "Pod/"+podName)
	}
	if !backOff {
		t.Errorf("status -o json lacks the BackOff event: %+v", in.WarningEvents)
	}

	res = plugin(t, "inspect", "no-such-delegate", "-n", ns)
	if res.code != 1 || !strings.Contains(res.stderr, `no delegate named "no-such-delegate"`) || !strings.Contains(res.stderr, "delegates there: manifest-delegate") {
		t.Errorf("unknown name: exit %d, stderr %q", res.code, res.stderr)
	}

	// Shell completion offers the delegates' names.
	res = plugin(t, "__complete", "inspect", "-n", ns, "man")
	if !strings.Contains(res.stdout, "manifest-delegate\n") {
		t.Errorf("completion: %q", res.stdout)
	}
}

func TestListFlagsTheSameNameInTwoNamespaces(t *testing.T) {
	t.Parallel()
	first, second := applyFixture(t, "plugin"), applyFixture(t, "plugin")
	ds := listDelegates(t, "-A")
	for _, ns := range []string{first, second} {
		d, ok := ds[ns+"/plugin-delegate"]
		if !ok || d.Duplicate == nil || len(d.Duplicate.OtherNamespaces) == 0 {
			t.Errorf("%s/plugin-delegate not flagged: %+v", ns, d.Duplicate)
		}
	}
	res := plugin(t, "list", "-A")
	if !strings.Contains(res.stderr, `warning: delegate name "plugin-delegate" is used in namespaces`) ||
		!strings.Contains(res.stderr, first) || !strings.Contains(res.stderr, second) {
		t.Errorf("no warning naming both namespaces on stderr: %q", res.stderr)
	}
}

// The read-only user sees its one namespace; asking for all namespaces is refused with a
// message that says so, not a crash and not "cannot reach".
func TestListAsReadOnlyUser(t *testing.T) {
	if env.viewerKubeconfig == "" {
		t.Skip("the cluster named by KUBECONFIG has no viewer.kubeconfig beside it")
	}
	t.Parallel()
	res := runCommand(t, env.plugin, "list", "--kubeconfig", env.viewerKubeconfig, "-o", "json")
	if res.code != 0 {
		t.Errorf("list in the viewer's namespace: exit %d: %s", res.code, res.stderr)
	}
	res = runCommand(t, env.plugin, "list", "-A", "--kubeconfig", env.viewerKubeconfig)
	if res.code != 1 || !strings.Contains(res.stderr, "forbidden") || !strings.Contains(res.stderr, "-n NAMESPACE") || strings.Contains(res.stderr, "cannot reach") {
		t.Errorf("list -A as the viewer: exit %d, stderr %q", res.code, res.stderr)
	}
}
