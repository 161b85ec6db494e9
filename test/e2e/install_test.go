//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/cmd"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/install"
)

const installToken = "e2e-install-token-that-must-never-print"

func tokenFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(installToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pluginObjects are the resourceVersions of every object the plugin labels as its own for the
// delegate, cluster-scoped bindings included, by Kind/namespace/name.
func pluginObjects(t *testing.T, ns, name string) map[string]string {
	t.Helper()
	dyn, err := dynamic.NewForConfig(env.config)
	if err != nil {
		t.Fatal(err)
	}
	selector := delegate.LabelManagedBy + "=" + delegate.ManagedByPlugin + "," + delegate.LabelName + "=" + name
	out := map[string]string{}
	for _, k := range install.Kinds {
		var ri dynamic.ResourceInterface = dyn.Resource(k.Resource)
		if k.Namespaced {
			ri = dyn.Resource(k.Resource).Namespace(ns)
		}
		list, err := ri.List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range list.Items {
			out[k.Kind+"/"+item.GetNamespace()+"/"+item.GetName()] = item.GetResourceVersion()
		}
	}
	return out
}

func deploymentImage(t *testing.T, ns, name string) (string, int32) {
	t.Helper()
	d, err := env.client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image, d.Status.AvailableReplicas
}

// runningPodsWithImage counts the delegate's pods that run on a node with the image.
func runningPodsWithImage(t *testing.T, ns, name, image string) int {
	t.Helper()
	pods, err := env.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: delegate.LabelName + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" && p.Spec.Containers[0].Image == image {
			n++
		}
	}
	return n
}

// watchAvailability records the fewest available replicas of the Deployment until stopped.
func watchAvailability(t *testing.T, ns, name string) (stop func() int32) {
	lowest := atomic.Int32{}
	lowest.Store(1 << 30)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			d, err := env.client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
			if err == nil && d.Status.AvailableReplicas < lowest.Load() {
				lowest.Store(d.Status.AvailableReplicas)
			}
		}
	}()
	return func() int32 { close(done); wg.Wait(); return lowest.Load() }
}

// TestInstallUpgradeRollbackUninstall walks a delegate through its life on the local cluster.
func TestInstallUpgradeRollbackUninstall(t *testing.T) {
	t.Parallel()
	ns := testNamespace(t, "install")
	const name = "life-delegate"
	firstImage := "harness/delegate:26.02.88404"
	secondImage := "harness/delegate:26.02.88405"
	args := []string{"install", name, "-n", ns, "--account-id", "e2eAccount01", "--token-file", tokenFile(t),
		"--image", firstImage, "--replicas", "2", "--min-ready-seconds", "1", "--timeout", "2m",
		"--support-matrix", matrixWithServer(t), "--wait-for=rollout"} // no log registers here: connect_test.go waits for that

	res := plugin(t, args...)
	if res.code != 0 {
		t.Fatalf("install: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if got := runningPodsWithImage(t, ns, name, firstImage); got != 2 {
		t.Fatalf("after install, %d pods run %s on a node, want 2\n%s", got, firstImage, res.stdout)
	}
	d := listDelegates(t, "-n", ns)[ns+"/"+name]
	if d.InstallMethod != delegate.Plugin || d.Replicas.Available != 2 || d.Version != "26.02.88404" {
		t.Fatalf("list shows %+v, want a plugin install of 26.02.88404 with 2 available replicas", d)
	}

	before := pluginObjects(t, ns, name)
	if len(before) < 10 {
		t.Fatalf("install made %d labelled objects, want the chart's set: %v", len(before), before)
	}
	if _, ok := before["ClusterRoleBinding//"+name+"-cluster-admin"]; !ok {
		t.Fatalf("no ClusterRoleBinding %s-cluster-admin among %v", name, before)
	}
	res = plugin(t, args...)
	if res.code != 0 {
		t.Fatalf("second install: exit %d\n%s", res.code, res.stderr)
	}
	if after := pluginObjects(t, ns, name); !maps.Equal(before, after) {
		t.Fatalf("a second identical install changed objects:\nbefore %v\nafter  %v", before, after)
	}
	if strings.Count(res.stdout, " unchanged") != len(before) {
		t.Errorf("the second install should report every object unchanged:\n%s", res.stdout)
	}

	res = plugin(t, "upgrade", name, "-n", ns, "--image", secondImage, "--timeout", "2m", "--wait-for=rollout")
	if res.code != 0 {
		t.Fatalf("upgrade: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	eventually(t, time.Minute, func() (bool, string) {
		n := runningPodsWithImage(t, ns, name, secondImage)
		return n == 2, "pods running the new image: " + string(rune('0'+n))
	})

	stop := watchAvailability(t, ns, name)
	res = plugin(t, "upgrade", name, "-n", ns, "--image", localcluster.CrashLoopImage, "--timeout", "2m")
	lowest := stop()
	if res.code == 0 {
		t.Fatalf("an upgrade to a crash-looping image succeeded:\n%s", res.stdout)
	}
	for _, want := range []string{"rolled back", "CrashLoopBackOff", "previous revision is serving again"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("the failed upgrade's message lacks %q:\n%s", want, res.stderr)
		}
	}
	image, available := deploymentImage(t, ns, name)
	if image != secondImage || available != 2 {
		t.Fatalf("after the rollback the Deployment runs %s with %d available, want %s with 2", image, available, secondImage)
	}
	if lowest < 1 {
		t.Errorf("during the failed upgrade the delegate had %d available replicas; with 2 replicas it must never drop to 0", lowest)
	}

	res = plugin(t, "uninstall", name, "-n", ns, "--yes")
	if res.code != 0 {
		t.Fatalf("uninstall: exit %d\n%s", res.code, res.stderr)
	}
	if left := pluginObjects(t, ns, name); len(left) > 0 {
		t.Fatalf("after uninstall these labelled objects remain: %v", left)
	}
	if strings.Contains(allOutput(res), installToken) {
		t.Error("the token was printed")
	}
}

func allOutput(r result) string { return r.stdout + r.stderr }

// TestInstallRefusesHelmOwnedObjects: the chart's objects of the same name exist -> install
// names them and their release and changes nothing; doctor --pre says the same.
func TestInstallRefusesHelmOwnedObjects(t *testing.T) {
	t.Parallel()
	ns := applyFixture(t, "helm-chart")
	// Controllers keep writing the status of Deployments and CronJobs; what a writer other
	// than they would change is the generation or the set of field managers.
	rvs := func() map[string]string {
		out := map[string]string{}
		dyn, _ := dynamic.NewForConfig(env.config)
		for _, k := range install.Kinds {
			if !k.Namespaced {
				continue
			}
			list, err := dyn.Resource(k.Resource).Namespace(ns).List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, item := range list.Items {
				if k.Kind == "ConfigMap" && item.GetName() == "kube-root-ca.crt" {
					continue // the root CA publisher writes it into every new namespace, in its own time
				}
				state := item.GetResourceVersion()
				if k.Kind == "Deployment" || k.Kind == "CronJob" {
					var managers []string
					for _, f := range item.GetManagedFields() {
						if f.Subresource == "" {
							managers = append(managers, f.Manager)
						}
					}
					state = fmt.Sprintf("generation %d, managers %v", item.GetGeneration(), managers)
				}
				out[k.Kind+"/"+item.GetName()] = state
			}
		}
		return out
	}
	before := rvs()
	res := plugin(t, "install", "helm-delegate", "-n", ns, "--account-id", "e2eAccount01", "--token-file", tokenFile(t))
	if res.code == 0 {
		t.Fatalf("install over a Helm release succeeded:\n%s", res.stdout)
	}
	for _, want := range []string{"PRE-703", "Deployment/helm-delegate", "Secret/helm-delegate", `Helm release "helm-delegate"`, "nothing was changed"} {
		if !strings.Contains(allOutput(res), want) {
			t.Errorf("install's refusal lacks %q:\n%s", want, allOutput(res))
		}
	}
	if after := rvs(); !maps.Equal(before, after) {
		t.Errorf("a refused install changed objects:\nbefore %v\nafter  %v", before, after)
	}

	report, res := doctor(t, "--pre", "helm-delegate", "-n", ns, "--support-matrix", matrixWithServer(t))
	if res.code != diagnose.ExitFailures {
		t.Fatalf("doctor --pre: exit %d, want %d\n%s", res.code, diagnose.ExitFailures, res.stderr)
	}
	if top, _ := report.Top(); top.ID != "PRE-703" || !strings.Contains(top.Finding, "Helm release") {
		t.Errorf("doctor --pre's top finding is %+v, want PRE-703 naming the Helm release", top)
	}

	res = plugin(t, "upgrade", "helm-delegate", "-n", ns, "--replicas", "2")
	if res.code == 0 || !strings.Contains(res.stderr, "helm upgrade helm-delegate harness-delegate/harness-delegate-ng -n "+ns+" --reuse-values --set replicas=2") {
		t.Errorf("upgrade of a Helm-managed delegate should be refused with the helm command; exit %d:\n%s", res.code, res.stderr)
	}
	res = plugin(t, "uninstall", "helm-delegate", "-n", ns, "--yes")
	if res.code == 0 || !strings.Contains(res.stderr, "helm uninstall helm-delegate -n "+ns) {
		t.Errorf("uninstall of a Helm-managed delegate should be refused with the helm command; exit %d:\n%s", res.code, res.stderr)
	}
	if after := rvs(); !maps.Equal(before, after) {
		t.Errorf("refused commands changed objects:\nbefore %v\nafter  %v", before, after)
	}
}

// requestCounter counts what a command asks of the API server, by method.
type requestCounter struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.seen = append(c.seen, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// runInProcess runs the plugin's root command in this process with a client that counts
// its requests.
func runInProcess(t *testing.T, stdin string, args ...string) (stdout, stderr string, requests []string, err error) {
	t.Helper()
	counter := &requestCounter{}
	stdout, stderr, err = runInProcessThrough(func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter }, stdin, args...)
	return stdout, stderr, counter.seen, err
}

// runInProcessThrough runs the plugin's root command in this process with its clients'
// transport wrapped by wrap.
func runInProcessThrough(wrap func(http.RoundTripper) http.RoundTripper, stdin string, args ...string) (stdout, stderr string, err error) {
	flags := genericclioptions.NewConfigFlags(true)
	kubeconfig := env.kubeconfig
	flags.KubeConfig = &kubeconfig
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		c.Wrap(wrap)
		return c
	}
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut}
	root := cmd.NewRootCommandWithFlags(flags, streams)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// TestInstallBadInputs: each bad input gets an error naming the flag, and the API server
// sees no request at all, let alone a write.
func TestInstallBadInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	token := write("token", installToken)
	empty := write("empty", "\n")
	notPEM := write("ca.pem", "this is not a certificate")
	keyPEM := write("key.pem", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBdNlZr1hQ==\n-----END PRIVATE KEY-----\n")
	badValues := write("values.yaml", "replicas: many\n")
	nulToken := write("nul-token", "abc\x00def\n")
	sized := func(name string, size int64) string {
		path := write(name, "")
		if err := os.Truncate(path, size); err != nil { // sparse: the size without the bytes
			t.Fatal(err)
		}
		return path
	}
	hugeValues, hugeToken := sized("huge-values.yaml", 45<<20), sized("huge-token", 10<<20)
	base := []string{"--account-id", "acc01", "--token-file", token, "-n", "bad-inputs"}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"bad name", []string{"install", "Bad_Name"}, []string{"NAME", "not a valid delegate name"}},
		{"long name with upgrader", []string{"install", strings.Repeat("a", 45)}, []string{"NAME", "at most 39", "--upgrader=false"}},
		{"no account", []string{"install", "d", "--account-id", ""}, []string{"--account-id", "required"}},
		{"empty token file", []string{"install", "d", "--token-file", empty}, []string{"--token-file", "empty"}},
		{"two token sources", []string{"install", "d", "--token-secret", "s"}, []string{"--token", "give one of them"}},
		{"http endpoint", []string{"install", "d", "--manager-endpoint", "http://app.harness.io"}, []string{"--manager-endpoint", "https://"}},
		{"bad image", []string{"install", "d", "--image", "Harness/Delegate:?"}, []string{"--image", "not an image reference"}},
		{"zero replicas", []string{"install", "d", "--replicas", "0"}, []string{"--replicas", "at least 1"}},
		{"replicas beyond sizing", []string{"install", "d", "--replicas", "100000"}, []string{"--replicas", "more than the 8 replicas", "--force"}},
		{"bad cpu", []string{"install", "d", "--cpu", "lots"}, []string{"--cpu", "500m"}},
		{"bad memory", []string{"install", "d", "--memory", "2GB"}, []string{"--memory", "2048Mi"}},
		{"bad role", []string{"install", "d", "--role", "Not A Role"}, []string{"--role", "cluster-admin"}},
		{"proxy port", []string{"install", "d", "--proxy-host", "proxy.example.com", "--proxy-port", "70000"}, []string{"--proxy-port", "1 to 65535"}},
		{"proxy scheme", []string{"install", "d", "--proxy-host", "proxy.example.com", "--proxy-port", "3128", "--proxy-scheme", "socks5"}, []string{"--proxy-scheme", "http or https"}},
		{"proxy host URL", []string{"install", "d", "--proxy-host", "http://proxy:3128", "--proxy-port", "3128"}, []string{"--proxy-host", "host name"}},
		{"CA not PEM", []string{"install", "d", "--ca-file", notPEM}, []string{"--ca-file", "no PEM certificate"}},
		{"CA with a key", []string{"install", "d", "--ca-file", keyPEM}, []string{"--ca-file", "certificates only"}},
		{"bad values file", []string{"install", "d", "-f", badValues}, []string{"--values", "replicas"}},
		{"bad namespace", []string{"install", "d", "-n", "Bad_NS"}, []string{"--namespace", "not a namespace name"}},
		{"output without dry run", []string{"install", "d", "-o", "yaml"}, []string{"--output", "--dry-run"}},
		{"bad dry run", []string{"install", "d", "--dry-run=maybe"}, []string{"--dry-run", "client, server or none"}},
		{"upgrade bad memory", []string{"upgrade", "d", "--memory", "lots"}, []string{"--memory", "2048Mi"}},
		{"upgrade atomic without wait", []string{"upgrade", "d", "--image", "harness/delegate:1", "--wait=false"}, []string{"--atomic", "--wait"}},
		{"uninstall without a terminal", []string{"uninstall", "d"}, []string{"--yes"}},
		// An empty role name must not fall back to cluster-admin (issue 12, point 4).
		{"empty role", []string{"install", "d", "--role", ""}, []string{"--role", "empty", "cluster-admin"}},
		{"Role without a name", []string{"install", "d", "--role", "Role/"}, []string{"--role", "names no Role", "Role/NAME"}},
		{"ClusterRole without a name", []string{"install", "d", "--role", "ClusterRole/"}, []string{"--role", "names no ClusterRole"}},
		// Validation gaps that used to reach the server (issue 12, point 13).
		{"endpoint port out of range", []string{"install", "d", "--manager-endpoint", "https://app.harness.io:99999"}, []string{"--manager-endpoint", "1 to 65535"}},
		{"negative timeout", []string{"install", "d", "--timeout", "-1m"}, []string{"--timeout", "more than 0"}},
		{"bad wait-for", []string{"install", "d", "--wait-for", "ready"}, []string{"--wait-for", "registered or rollout"}},
		{"upgrade bad wait-for", []string{"upgrade", "d", "--replicas", "2", "--wait-for", "connected"}, []string{"--wait-for", "registered or rollout"}},
		// The sizing bound holds for an upgrade as for an install (issue 12, point 9).
		{"upgrade replicas beyond sizing", []string{"upgrade", "d", "--replicas", "100000"}, []string{"--replicas", "more than the 8 replicas", "--force"}},
		{"upgrade negative timeout", []string{"upgrade", "d", "--replicas", "2", "--timeout", "-1m"}, []string{"--timeout", "more than 0"}},
		{"token with NUL", []string{"install", "d", "--token-file", nulToken}, []string{"--token-file", "non-printable"}},
		{"empty image", []string{"install", "d", "--image", ""}, []string{"--image", "empty", install.DefaultImage}},
		{"empty endpoint", []string{"install", "d", "--manager-endpoint", ""}, []string{"--manager-endpoint", "empty", install.DefaultManagerEndpoint}},
		{"cpu 1e100", []string{"install", "d", "--cpu", "1e100"}, []string{"--cpu", "too large"}},
		{"memory 1e100", []string{"install", "d", "--memory", "1e100"}, []string{"--memory", "too large"}},
		{"cpu 0.0000001", []string{"install", "d", "--cpu", "0.0000001"}, []string{"--cpu", "too small", "1m"}},
		// Size limits, checked before reading (issue 12, point 3).
		{"45 MB values file", []string{"install", "d", "-f", hugeValues}, []string{"--values", "larger than the limit of 1 MiB"}},
		{"10 MB token file", []string{"install", "d", "--token-file", hugeToken}, []string{"--token-file", "larger than the limit of 4 KiB"}},
		{"collect too many workers", []string{"collect", "--workers", "100000"}, []string{"--workers", "at most 64"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Later flags win, so each case overrides the valid base.
			args := append(append([]string{tc.args[0]}, base...), tc.args[1:]...)
			if tc.args[0] != "install" {
				args = append([]string{tc.args[0], "-n", "bad-inputs"}, tc.args[1:]...)
			}
			_, stderr, requests, err := runInProcess(t, "", args...)
			if err == nil {
				t.Fatalf("%v succeeded", args)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error lacks %q: %v", want, err)
				}
			}
			if len(requests) > 0 {
				t.Errorf("bad input reached the API server: %v", requests)
			}
			if strings.Contains(err.Error()+stderr, installToken) {
				t.Error("the token appeared in the error")
			}
		})
	}
}

// TestInstallDryRunPrintsRedactedObjects: --dry-run=client -o yaml prints the chart's set
// with the token redacted, and writes nothing.
func TestInstallDryRunPrintsRedactedObjects(t *testing.T) {
	t.Parallel()
	stdout, _, requests, err := runInProcess(t, "", "install", "dry", "--account-id", "acc01", "--token-file", tokenFile(t), "--dry-run=client", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.NewBufferString(stdout)
	if strings.Contains(out.String(), installToken) {
		t.Fatal("the dry run printed the token")
	}
	var list struct {
		Items []struct {
			Kind     string            `json:"kind"`
			Metadata metav1.ObjectMeta `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		t.Fatalf("-o json is not a List: %v\n%s", err, out.String())
	}
	kinds := map[string]bool{}
	for _, item := range list.Items {
		kinds[item.Kind+"/"+item.Metadata.Name] = true
	}
	for _, want := range []string{"Deployment/dry", "ConfigMap/dry", "Secret/dry", "ServiceAccount/dry", "ClusterRoleBinding/dry-cluster-admin",
		"CronJob/dry-upgrader-job", "Role/dry-upgrader", "RoleBinding/dry-upgrader-cronjob", "Secret/dry-upgrader-token", "ConfigMap/dry-upgrader-config",
		"ServiceAccount/dry-upgrader-cronjob-sa"} {
		if !kinds[want] {
			t.Errorf("the dry run lacks %s: %v", want, kinds)
		}
	}
	if len(requests) > 0 {
		t.Errorf("--dry-run=client asked the API server: %v", requests)
	}
}

// TestDoctorPreAsReadOnlyUser: a user who may only read the namespace is told, before an
// install, which objects it may not create, and may not bind cluster-admin.
func TestDoctorPreAsReadOnlyUser(t *testing.T) {
	t.Parallel()
	if env.viewerKubeconfig == "" {
		t.Skip("the cluster in use has no read-only user")
	}
	res := plugin(t, "doctor", "--pre", "viewer-plan", "-n", localcluster.ViewerNamespace, "-o", "json", "--kubeconfig", env.viewerKubeconfig)
	if res.code != diagnose.ExitFailures {
		t.Fatalf("doctor --pre as the read-only user: exit %d, want %d\n%s%s", res.code, diagnose.ExitFailures, res.stdout, res.stderr)
	}
	var report diagnose.Report
	if err := json.Unmarshal([]byte(res.stdout), &report); err != nil {
		t.Fatal(err)
	}
	access := findingsOf(report, "PRE-702", "")
	if len(access) != 1 || access[0].Verdict != diagnose.Fail ||
		!strings.Contains(access[0].Finding, "create deployments.apps in "+localcluster.ViewerNamespace) {
		t.Errorf("PRE-702 should fail naming the deployments it may not create: %+v", access)
	}
}

// TestUninstallDeleteNamespaceKeepsOthers: --delete-namespace refuses a namespace that holds
// another delegate and deletes nothing; with --force it goes, and no ClusterRoleBinding is
// left naming a ServiceAccount of the deleted namespace (issue 12, point 5).
func TestUninstallDeleteNamespaceKeepsOthers(t *testing.T) {
	t.Parallel()
	ns := testNamespace(t, "uninstall-ns")
	token, matrix := tokenFile(t), matrixWithServer(t)
	for _, name := range []string{"one", "two"} {
		res := plugin(t, "install", name, "-n", ns, "--account-id", "e2eAccount01", "--token-file", token, "--wait=false", "--support-matrix", matrix)
		if res.code != 0 {
			t.Fatalf("install %s: exit %d\n%s", name, res.code, res.stderr)
		}
	}
	one, two := pluginObjects(t, ns, "one"), pluginObjects(t, ns, "two")
	res := plugin(t, "uninstall", "one", "-n", ns, "--yes", "--delete-namespace", "--wait=false")
	if res.code == 0 || !strings.Contains(res.stderr, "Deployment/two") || !strings.Contains(res.stderr, "--force") {
		t.Fatalf("--delete-namespace with another delegate in it: exit %d, want a refusal naming Deployment/two and --force:\n%s", res.code, res.stderr)
	}
	if !maps.Equal(one, pluginObjects(t, ns, "one")) || !maps.Equal(two, pluginObjects(t, ns, "two")) {
		t.Fatal("the refused uninstall changed objects")
	}
	res = plugin(t, "uninstall", "one", "-n", ns, "--yes", "--delete-namespace", "--force", "--wait=false")
	if res.code != 0 {
		t.Fatalf("--delete-namespace --force: exit %d\n%s", res.code, res.stderr)
	}
	bindings, err := env.client.RbacV1().ClusterRoleBindings().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bindings.Items {
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Namespace == ns {
				t.Errorf("ClusterRoleBinding %s still binds ServiceAccount %s/%s of the deleted namespace", b.Name, s.Namespace, s.Name)
			}
		}
	}
}

// writeGate holds a command's first write to the cluster until the test releases it, so that
// a test orders two commands' steps instead of hoping the scheduler does. Reads, dry runs,
// access reviews and the namespace's creation pass.
type writeGate struct {
	once    sync.Once
	reached chan struct{} // closed when the first write arrives
	release chan struct{} // closed by the test to let it through
}

func newWriteGate() *writeGate {
	return &writeGate{reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *writeGate) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		write := r.Method != http.MethodGet && r.URL.Query().Get("dryRun") == "" &&
			!strings.Contains(r.URL.Path, "authorization.k8s.io") && r.URL.Path != "/api/v1/namespaces"
		first := false
		if write {
			g.once.Do(func() { first = true; close(g.reached) })
		}
		if first {
			select {
			case <-g.release:
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		}
		return next.RoundTrip(r)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestInstallConcurrent: two installs of one delegate at once, with different tokens, never
// both report success over a mix; a failure says another install ran (issue 12, point 6).
// The two are ordered, not raced: both read the cluster and plan before either writes, then
// the first runs to the end, then the second goes on; its plan is stale, so it must fail
// before it writes (left to chance, the two often ran one after the other, and the test
// passed without the claim that makes the second fail).
func TestInstallConcurrent(t *testing.T) {
	t.Parallel()
	ns := testNamespace(t, "concurrent")
	matrix := matrixWithServer(t)
	type run struct {
		gate   *writeGate
		token  string
		done   chan struct{}
		stderr string
		err    error
	}
	runs := make([]*run, 2)
	for n := range runs {
		r := &run{gate: newWriteGate(), token: fmt.Sprintf("concurrent-token-%d", n), done: make(chan struct{})}
		runs[n] = r
		path := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(path, []byte(r.token), 0o600); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(r.done)
			_, r.stderr, r.err = runInProcessThrough(r.gate.wrap, "", "install", "same", "-n", ns, "--account-id", "e2eAccount01",
				"--token-file", path, "--wait=false", "--support-matrix", matrix)
		}()
	}
	// Whatever fails below, no install is left waiting at its gate.
	t.Cleanup(func() {
		for _, r := range runs {
			select {
			case <-r.gate.release:
			default:
				close(r.gate.release)
			}
			<-r.done
		}
	})
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(2 * time.Minute):
			t.Fatalf("after 2m, %s", what)
		}
	}
	for n, r := range runs {
		select {
		case <-r.gate.reached:
		case <-r.done:
			t.Fatalf("install %d ended before it wrote anything: %v\n%s", n, r.err, r.stderr)
		case <-time.After(2 * time.Minute):
			t.Fatalf("after 2m, install %d has not come to its first write", n)
		}
	}
	first, second := runs[0], runs[1]
	close(first.gate.release)
	wait(first.done, "the first install has not ended")
	if first.err != nil {
		t.Fatalf("the first install, which wrote first: %v\n%s", first.err, first.stderr)
	}
	close(second.gate.release)
	wait(second.done, "the second install has not ended")
	if second.err == nil || !strings.Contains(second.err.Error(), "another install or upgrade of delegate same is running") ||
		!strings.Contains(second.err.Error(), "nothing was changed by this one") {
		t.Errorf("the second install, planned before the first wrote: %v, want a refusal naming the other install that changed nothing\n%s", second.err, second.stderr)
	}
	for name, key := range map[string]string{"same": "DELEGATE_TOKEN", "same-upgrader-token": "UPGRADER_TOKEN"} {
		s, err := env.client.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(s.Data[key]); got != first.token {
			t.Errorf("Secret %s holds %s %q, want the first install's %q", name, key, got, first.token)
		}
	}
	for _, r := range runs {
		if strings.Contains(r.stderr, r.token) || (r.err != nil && strings.Contains(r.err.Error(), r.token)) {
			t.Error("an install printed its token")
		}
	}
}

// TestUpgradeInterruptedRollsBack: Ctrl-C during an upgrade's rollout rolls it back and says
// so, instead of leaving the new revision half rolled out (issue 12, point 12).
func TestUpgradeInterruptedRollsBack(t *testing.T) {
	t.Parallel()
	ns := testNamespace(t, "interrupt")
	const name = "interrupted"
	firstImage := "harness/delegate:26.02.88404"
	res := plugin(t, "install", name, "-n", ns, "--account-id", "e2eAccount01", "--token-file", tokenFile(t),
		"--image", firstImage, "--min-ready-seconds", "1", "--timeout", "2m", "--support-matrix", matrixWithServer(t), "--wait-for=rollout")
	if res.code != 0 {
		t.Fatalf("install: exit %d\n%s", res.code, res.stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	upgrade := exec.CommandContext(ctx, env.plugin, "upgrade", name, "-n", ns, "--image", localcluster.CrashLoopImage, "--timeout", "2m")
	upgrade.Env = append(os.Environ(), "KUBECONFIG="+env.kubeconfig)
	var stderr bytes.Buffer
	upgrade.Stderr = &stderr
	stdout, err := upgrade.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := upgrade.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		out.WriteString(scanner.Text() + "\n")
		if strings.HasPrefix(scanner.Text(), "deployment.apps/"+name+" configured") || strings.HasPrefix(scanner.Text(), "deployment/"+name+" configured") {
			// The new revision is applied and rolling out: as a user pressing Ctrl-C.
			if err := upgrade.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = upgrade.Wait()
	if err == nil || !strings.Contains(stderr.String(), "interrupted") || !strings.Contains(stderr.String(), "rolled back") {
		t.Fatalf("the interrupted upgrade: %v, want an exit 1 saying it was interrupted and rolled back\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	if image, _ := deploymentImage(t, ns, name); image != firstImage {
		t.Errorf("after the interrupted upgrade the Deployment runs %s, want %s", image, firstImage)
	}
}

// TestUpgradeKeepsProxyCredentials: an upgrade of a delegate with proxy credentials needs no
// proxy flag, and keeps the credentials' Secret (issue 12, point 11).
func TestUpgradeKeepsProxyCredentials(t *testing.T) {
	t.Parallel()
	ns := testNamespace(t, "proxy")
	password := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(password, []byte("proxy-pa55\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := plugin(t, "install", "proxied", "-n", ns, "--account-id", "e2eAccount01", "--token-file", tokenFile(t), "--wait=false",
		"--proxy-host", "proxy.example.com", "--proxy-port", "3128", "--proxy-user", "u", "--proxy-password-file", password,
		"--support-matrix", matrixWithServer(t))
	if res.code != 0 {
		t.Fatalf("install: exit %d\n%s", res.code, res.stderr)
	}
	res = plugin(t, "upgrade", "proxied", "-n", ns, "--replicas", "1", "--wait=false", "--atomic=false")
	if res.code != 0 {
		t.Fatalf("upgrade --replicas 1: exit %d\n%s", res.code, res.stderr)
	}
	s, err := env.client.CoreV1().Secrets(ns).Get(context.Background(), "proxied-proxy", metav1.GetOptions{})
	if err != nil || string(s.Data["PROXY_PASSWORD"]) != "proxy-pa55" {
		t.Errorf("the proxy Secret after the upgrade: %v", err)
	}
	cm, err := env.client.CoreV1().ConfigMaps(ns).Get(context.Background(), "proxied-proxy", metav1.GetOptions{})
	if err != nil || cm.Data["PROXY_SCHEME"] != "http" {
		t.Errorf("the proxy ConfigMap's scheme: %v %v, want the documented default http", cm.Data, err)
	}
}
