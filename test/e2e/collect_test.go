//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/bundle"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// Secrets planted in the delegates' logs; none may come out in a bundle.
const (
	plantedJWT      = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlMmUtZGVsZWdhdGUifQ.ZTJlLXNpZ25hdHVyZS1vZi10aGUtand0"
	plantedPassword = "pr0xy-pa55word-e2e"
	plantedKeyBody  = "MIIEpAIBAAKCAQEAe2eTestKeyBodyThatMustNeverAppear0123456789abcdef"
)

var plantedPEM = []string{"-----BEGIN RSA PRIVATE KEY-----", plantedKeyBody, "QmFzZTY0U2Vjb25kTGluZU9mVGhlS2V5Qm9keQ==", "-----END RSA PRIVATE KEY-----"}

// applyFixtures applies several testdata files into one fresh namespace.
func applyFixtures(t *testing.T, prefix string, names ...string) string {
	t.Helper()
	ns := testNamespace(t, prefix)
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join("testdata", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name+".yaml")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(data), "NAMESPACE", ns)), 0o644); err != nil {
			t.Fatal(err)
		}
		if res := runCommand(t, env.kubectl, "apply", "-f", path); res.code != 0 {
			t.Fatalf("kubectl apply %s: %s", name, res.stderr)
		}
		t.Cleanup(func() { runCommand(t, env.kubectl, "delete", "--ignore-not-found", "--wait=false", "-f", path) })
	}
	return ns
}

// untar reads a bundle whole: the raw tar stream (every byte, headers included) and each
// file by its path below the bundle's root.
func untar(t testing.TB, path string) ([]byte, map[string][]byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not a gzip file: %v", path, err)
	}
	raw, err := io.ReadAll(gz)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(hdr.Name, "/")
		files[rest] = data
	}
	return raw, files
}

func readIndex(t *testing.T, files map[string][]byte) bundle.Index {
	t.Helper()
	var idx bundle.Index
	if err := json.Unmarshal(files[bundle.IndexFile], &idx); err != nil {
		t.Fatalf("index.json: %v\n%s", err, files[bundle.IndexFile])
	}
	return idx
}

type verdict struct{ id, subject, verdict string }

func verdicts(r diagnose.Report) []verdict {
	var out []verdict
	for _, f := range r.Findings {
		out = append(out, verdict{f.ID, f.Subject, string(f.Verdict)})
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

// Two delegates, one crash-looping with previous logs; logs planted with the token, a JWT, a
// proxy URL with a password and a private key: none of it comes out, index.json counts it,
// the descriptions are kubectl's, and doctor --bundle agrees with the live doctor.
func TestCollectBundleRedactsAndRereads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Names no other test uses: collect and doctor -n see the same name in every namespace,
	// and a twin created by a parallel test between collect and the live doctor would change
	// DLG-405 between the two.
	ns := testNamespace(t, "collect")
	applyFixtureIn(t, ns, "helm-chart", "helm-delegate", "bundled-helm-delegate")
	applyFixtureIn(t, ns, "manifest", "manifest-delegate", "bundled-manifest-delegate")
	var helm, crash delegate.Delegate
	eventually(t, 90*time.Second, func() (bool, string) {
		ds := listDelegates(t, "-n", ns)
		helm, crash = ds[ns+"/bundled-helm-delegate"], ds[ns+"/bundled-manifest-delegate"]
		return helm.Replicas.Ready == 2 && len(helm.Pods) == 2 && len(crash.Pods) == 1 && crash.Pods[0].Restarts > 0,
			fmt.Sprintf("helm %+v, crash %+v", helm.Replicas, crash.Pods)
	})
	secretLines := append([]string{
		"Starting delegate with token " + fixtureToken,
		"Authorization: Bearer " + plantedJWT,
		"Using proxy http://proxyuser:" + plantedPassword + "@proxy.internal:3128",
		"Loaded key:",
	}, plantedPEM...)
	plant := func(pod string, current, previous []string) {
		if err := localcluster.SetPodLogs(ctx, env.config, env.logDir, ns, pod, map[string]localcluster.ContainerLogs{
			"delegate": {Current: current, Previous: previous}}); err != nil {
			t.Fatal(err)
		}
	}
	plant(helm.Pods[0].Name, append(secretLines, "planted-current-0"), nil)
	plant(helm.Pods[1].Name, []string{"Delegate registered with id dlg-7f3a", "planted-current-1"}, nil)
	plant(crash.Pods[0].Name, []string{"Starting delegate", "planted-current-crash"}, append(secretLines, "java.lang.OutOfMemoryError: Java heap space", "planted-previous-crash"))

	matrix := matrixWithServer(t)
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	var raw []byte
	var files map[string][]byte
	crashDir := "delegates/" + ns + "/bundled-manifest-delegate/pods/" + crash.Pods[0].Name + "/"
	helmDir := "delegates/" + ns + "/bundled-helm-delegate/pods/" + helm.Pods[0].Name + "/"
	var res result
	eventually(t, 60*time.Second, func() (bool, string) {
		res = plugin(t, "collect", "-n", ns, "-O", path, "--force", "--support-matrix", matrix)
		if res.code != 0 {
			return false, fmt.Sprintf("exit %d: %s", res.code, res.stderr)
		}
		raw, files = untar(t, path)
		return strings.Contains(string(files[helmDir+"delegate.log"]), "planted-current-0") &&
				strings.Contains(string(files[crashDir+"delegate.previous.log"]), "planted-previous-crash"),
			fmt.Sprintf("planted logs not served yet: %q %q", files[helmDir+"delegate.log"], files[crashDir+"delegate.previous.log"])
	})
	if !strings.Contains(res.stderr, "Bundle written to "+path) {
		t.Errorf("summary: %s", res.stderr)
	}
	for _, secret := range []string{fixtureToken, plantedJWT, "ZTJlLXNpZ25hdHVyZS1vZi10aGUtand0", plantedPassword, plantedKeyBody, "QmFzZTY0U2Vjb25kTGluZU9mVGhlS2V5Qm9keQ=="} {
		if i := bytes.Index(raw, []byte(secret)); i >= 0 {
			t.Errorf("the bundle holds %q: ...%s...", secret, raw[max(0, i-200):min(len(raw), i+100)])
		}
		if strings.Contains(res.stdout+res.stderr, secret) {
			t.Errorf("collect printed %q", secret)
		}
	}

	// The layout, and the counts.
	idx := readIndex(t, files)
	if idx.Partial || len(idx.Errors) != 0 || !idx.Redaction || idx.ClusterVersion == "" || idx.ToolVersion != stampVersion {
		t.Errorf("index: partial %v, errors %+v, redaction %v, versions %q %q", idx.Partial, idx.Errors, idx.Redaction, idx.ClusterVersion, idx.ToolVersion)
	}
	counts := map[string]bundle.Counts{}
	for _, f := range idx.Files {
		counts[f.Name] = f.Redactions
		if int64(len(files[f.Name])) != f.Size {
			t.Errorf("%s: index says %d bytes, holds %d", f.Name, f.Size, len(files[f.Name]))
		}
	}
	for _, name := range []string{helmDir + "delegate.log", crashDir + "delegate.previous.log"} {
		c := counts[name]
		if c["secret-value"] < 1 || c["jwt"] < 1 || c["url-password"] < 1 || c["private-key"] < 1 {
			t.Errorf("%s: redactions %v", name, c)
		}
	}
	for _, name := range []string{"snapshot.json", "doctor.json", "doctor.txt", "cluster/version.json", "cluster/nodes.json", "cluster/nodes.txt",
		"namespaces/" + ns + "/events.txt", "delegates/" + ns + "/bundled-helm-delegate/deployment.txt", "delegates/" + ns + "/bundled-helm-delegate/objects.yaml",
		"delegates/" + ns + "/bundled-helm-delegate/events.txt", "delegates/" + ns + "/bundled-helm-delegate/upgrader/objects.yaml",
		"delegates/" + ns + "/bundled-helm-delegate/upgrader/cronjob.txt", helmDir + "describe.txt", helmDir + "pod.yaml", crashDir + "delegate.log"} {
		if _, ok := files[name]; !ok {
			t.Errorf("the bundle lacks %s", name)
		}
	}
	if _, ok := files[helmDir+"delegate.previous.log"]; ok {
		t.Error("a previous log for a container that never restarted")
	}
	objects := string(files["delegates/"+ns+"/bundled-helm-delegate/objects.yaml"])
	if !strings.Contains(objects, "kind: Secret") || !strings.Contains(objects, "- DELEGATE_TOKEN") || strings.Contains(objects, "stringData") {
		t.Errorf("Secrets reduced to key names:\n%s", objects)
	}

	// The description is kubectl describe's, section by section.
	described := runCommand(t, env.kubectl, "describe", "pod", helm.Pods[0].Name, "-n", ns)
	if described.code != 0 {
		t.Fatal(described.stderr)
	}
	// The test's kubectl is the cluster's release (1.36) and the describe package is 0.37's,
	// whose wording differs in a few lines (named ports, ConfigMap optional): the sections and
	// the top-level fields must match; the other differences are logged.
	got, want := beforeEvents(string(files[helmDir+"describe.txt"])), beforeEvents(described.stdout)
	if a, b := sections(got), sections(want); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("describe.txt's sections differ from kubectl describe pod's:\n%s", lineDiff(strings.Join(a, "\n"), strings.Join(b, "\n")))
	}
	if got != want {
		t.Logf("describe.txt and the cluster release's kubectl describe pod differ in these lines:\n%s", lineDiff(got, want))
	}

	// doctor --bundle gives the live doctor's check IDs and verdicts, and doctor.json's findings.
	live, _ := doctor(t, "-n", ns, "--support-matrix", matrix)
	offline, offRes := doctor(t, "--bundle", path)
	if fmt.Sprint(verdicts(offline)) != fmt.Sprint(verdicts(live)) {
		t.Errorf("doctor --bundle:\n%v\nlive doctor:\n%v", verdicts(offline), verdicts(live))
	}
	if offRes.code != 3 {
		t.Errorf("doctor --bundle exit %d, want 3 (the crash loop)", offRes.code)
	}
	var inBundle diagnose.Report
	if err := json.Unmarshal(files["doctor.json"], &inBundle); err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, inBundle.Findings, offline.Findings) {
		t.Errorf("doctor --bundle differs from the bundle's doctor.json")
	}
}

// lineDiff shows the lines two texts do not share, with their line numbers.
func lineDiff(got, want string) string {
	a, b := strings.Split(got, "\n"), strings.Split(want, "\n")
	var out strings.Builder
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			fmt.Fprintf(&out, "%d bundle:  %q\n%d kubectl: %q\n", i+1, x, i+1, y)
		}
	}
	return out.String()
}

// beforeEvents is a description up to its Events section, whose ages change between runs.
func beforeEvents(s string) string {
	before, _, _ := strings.Cut(s, "\nEvents:")
	return before
}

// sections are the top-level lines of a description: headings with the values that do not
// change between two reads of a stable pod (Start Time, IP, Labels, Node, Status, ...).
func sections(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if line != "" && line[0] != ' ' && line[0] != '\t' {
			out = append(out, strings.Join(strings.Fields(line), " "))
		}
	}
	return out
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// cutProxy forwards TCP to the API server until it has carried limit bytes back, then
// drops every connection and refuses new ones, as a server that died would.
type cutProxy struct {
	ln    net.Listener
	limit int64
	moved atomic.Int64
	mu    sync.Mutex
	conns []net.Conn
	cut   atomic.Bool
}

func startCutProxy(t *testing.T, target string, limit int64) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, limit: limit}
	t.Cleanup(p.stop)
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, client, server)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(server, client) }()
			go p.back(client, server)
		}
	}()
	return p
}

// back copies the server's answers to the client, counting, and cuts at the limit.
func (p *cutProxy) back(client, server net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
			if p.moved.Add(int64(n)) > p.limit {
				p.stop()
				return
			}
		}
		if err != nil {
			client.Close()
			return
		}
	}
}

func (p *cutProxy) stop() {
	p.cut.Store(true)
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// The API server goes away while a large log is streaming: the bundle is still a readable
// tar.gz, index.json lists what failed, and the exit code says partial.
func TestCollectLostAPIServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := applyFixture(t, "helm-chart")
	var helm delegate.Delegate
	eventually(t, 90*time.Second, func() (bool, string) {
		helm = listDelegates(t, "-n", ns)[ns+"/helm-delegate"]
		return helm.Replicas.Ready == 2 && len(helm.Pods) == 2, fmt.Sprintf("%+v", helm.Replicas)
	})
	// 4,000 lines of 1 KiB: far more than gathering the snapshot reads (256 KiB a log).
	big := make([]string, 4000)
	for i := range big {
		big[i] = fmt.Sprintf("%05d %s", i, strings.Repeat("x", 1000))
	}
	for _, p := range helm.Pods {
		if err := localcluster.SetPodLogs(ctx, env.config, env.logDir, ns, p.Name, map[string]localcluster.ContainerLogs{"delegate": {Current: big}}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		res := runCommand(t, env.kubectl, "logs", "-n", ns, helm.Pods[0].Name, "--tail", "1")
		return strings.Contains(res.stdout, "03999 "), res.stdout + res.stderr
	})

	cfg, err := clientcmd.LoadFromFile(env.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	server := cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster].Server
	proxy := startCutProxy(t, strings.TrimPrefix(server, "https://"), 2<<20)
	for _, c := range cfg.Clusters {
		c.Server = "https://" + proxy.ln.Addr().String()
	}
	kubeconfig := filepath.Join(t.TempDir(), "proxied.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	res := plugin(t, "collect", "--kubeconfig", kubeconfig, "-n", ns, "-O", path, "--workers", "1", "--timeout-per-pod", "20s")
	if !proxy.cut.Load() {
		t.Fatalf("the proxy never cut the connection (moved %d bytes); exit %d\n%s", proxy.moved.Load(), res.code, res.stderr)
	}
	t.Logf("collect through a proxy cut after %d bytes:\n%s", proxy.moved.Load(), res.stderr)
	if res.code != 5 || !strings.Contains(res.stderr, "partial") {
		t.Errorf("exit %d, want 5 with a partial bundle:\n%s", res.code, res.stderr)
	}
	_, files := untar(t, path)
	idx := readIndex(t, files)
	if !idx.Partial || len(idx.Errors) == 0 {
		t.Fatalf("index: partial %v, errors %+v", idx.Partial, idx.Errors)
	}
	kinds := map[string]bool{}
	for _, e := range idx.Errors {
		kinds[e.Kind] = true
	}
	if !kinds["unreachable"] && !kinds["interrupted"] {
		t.Errorf("errors %+v: none says the server was lost", idx.Errors)
	}
	if _, ok := files[bundle.SnapshotFile]; !ok {
		t.Error("the snapshot taken before the cut is missing")
	}
	// And doctor reads what was saved.
	if r, res := doctor(t, "--bundle", path); res.code == 1 || len(r.Findings) == 0 {
		t.Errorf("doctor --bundle on a partial bundle: exit %d, %s", res.code, res.stderr)
	}
}

// BenchmarkCollectPeakMemory collects a delegate of 50 pods with 10 MB of log each, all of it
// (--tail -1), and reports the plugin process's peak RSS and the bundle's size: memory must
// stay flat however big the logs are. Run with:
//
//	go test ./test/e2e -run '^$' -bench CollectPeakMemory -benchtime 1x
func BenchmarkCollectPeakMemory(b *testing.B) {
	const pods = 50
	logMB := 10
	// BENCH_LOG_MB=2 shows whether memory grows with log size (it should not).
	if v, err := strconv.Atoi(os.Getenv("BENCH_LOG_MB")); err == nil && v > 0 {
		logMB = v
	}
	ctx := context.Background()
	ns := "bench-collect"
	if _, err := env.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	defer func() { _ = env.client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) }()
	if err := localcluster.WaitForServiceAccount(ctx, env.client, ns, time.Minute); err != nil {
		b.Fatal(err)
	}
	replicas := int32(pods)
	labels := map[string]string{delegate.LabelName: "bench-delegate"}
	pod := simplePod("", nil)
	pod.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: mustQuantity("10m"), corev1.ResourceMemory: mustQuantity("16Mi")}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-delegate", Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod.Spec}},
	}
	if _, err := env.client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	var names []string
	deadline := time.Now().Add(3 * time.Minute)
	for len(names) < pods {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d pods running", len(names), pods)
		}
		time.Sleep(time.Second)
		l, err := env.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: delegate.LabelName + "=bench-delegate"})
		if err != nil {
			b.Fatal(err)
		}
		names = names[:0]
		for _, p := range l.Items {
			if p.Status.Phase == corev1.PodRunning {
				names = append(names, p.Name)
			}
		}
	}
	line := strings.Repeat("2026-01-02 03:04:05,678 INFO io.harness.delegate heartbeat sent to manager ", 2)
	lines := make([]string, logMB<<20/(len(line)+40))
	for i := range lines {
		lines[i] = line
	}
	lines[len(lines)/2] = "token " + fixtureToken
	for _, name := range names {
		if err := localcluster.SetPodLogs(ctx, env.config, env.logDir, ns, name, map[string]localcluster.ContainerLogs{"delegate": {Current: lines}}); err != nil {
			b.Fatal(err)
		}
	}
	path := filepath.Join(b.TempDir(), "bundle.tar.gz")
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.Command(env.plugin, "collect", "--kubeconfig", env.kubeconfig, "-n", ns, "-O", path, "--tail", "-1", "--limit-bytes", "20000000")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("collect: %v\n%s", err, out)
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
		b.ReportMetric(float64(rss)/1024, "peak-RSS-MiB")
	}
	b.StopTimer()
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	_, files := untar(b, path)
	var logBytes int64
	for name, data := range files {
		if strings.HasSuffix(name, ".log") {
			logBytes += int64(len(data))
		}
	}
	b.ReportMetric(float64(logBytes)/(1<<20), "logs-MiB")
	b.ReportMetric(float64(st.Size())/(1<<20), "bundle-MiB")
}
