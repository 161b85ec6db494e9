//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
	"github.com/kubectl-delegate/kubectl-delegate/internal/stuckserver"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// TestContexts: two clusters hold a delegate of the same name, a third context points at
// nothing. list --all-contexts shows both with their context, warns on the shared name and
// gives the dead context one line and exit 1; doctor --contexts a,b fails DLG-405 in both,
// naming both contexts (issue 14, point 3).
func TestContexts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	second, err := localcluster.Start(ctx, localcluster.Options{Dir: filepath.Join(t.TempDir(), "second"), KubeVersion: os.Getenv("K8S_VERSION"), Log: os.Stderr})
	if err != nil {
		t.Fatalf("starting the second cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := second.Stop(); err != nil {
			t.Errorf("stopping the second cluster: %v", err)
		}
	})
	kubeconfig := mergedKubeconfig(t, map[string]string{"a": env.kubeconfig, "b": second.AdminKubeconfig})

	const name = "twin-across-clusters"
	ns := testNamespace(t, "contexts")
	secondCfg, err := second.AdminConfig()
	if err != nil {
		t.Fatal(err)
	}
	secondClient, err := kubernetes.NewForConfig(secondCfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secondClient.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := localcluster.WaitForServiceAccount(ctx, secondClient, ns, time.Minute); err != nil {
		t.Fatal(err)
	}
	token, matrix := tokenFile(t), matrixWithServer(t)
	for _, c := range []string{"a", "b"} {
		res := pluginWith(t, kubeconfig, "install", name, "-n", ns, "--context", c, "--account-id", "e2eAccount01", "--token-file", token, "--wait=false", "--support-matrix", matrix)
		if res.code != 0 {
			t.Fatalf("install in %s: exit %d\n%s", c, res.code, res.stderr)
		}
	}
	// The cluster-wide objects of the first cluster outlive its namespace.
	t.Cleanup(func() {
		pluginWith(t, kubeconfig, "uninstall", name, "-n", ns, "--context", "a", "--yes", "--wait=false")
	})

	res := pluginWith(t, kubeconfig, "list", "--all-contexts", "-n", ns)
	if res.code != 1 {
		t.Errorf("list --all-contexts with a dead context: exit %d, want 1\n%s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "CONTEXT") ||
		!strings.HasPrefix(lines[1], "a ") || !strings.HasPrefix(lines[2], "b ") ||
		!strings.Contains(lines[1], name) || !strings.Contains(lines[2], name) {
		t.Errorf("list --all-contexts:\n%s", res.stdout)
	}
	wantWarning := `warning: delegate name "` + name + `" is used in contexts a (namespace ` + ns + `), b (namespace ` + ns + `)`
	if !strings.Contains(res.stderr, wantWarning) {
		t.Errorf("no warning %q:\n%s", wantWarning, res.stderr)
	}
	var deadLines []string
	for _, l := range strings.Split(res.stderr, "\n") {
		if strings.Contains(l, "dead") {
			deadLines = append(deadLines, l)
		}
	}
	if len(deadLines) != 1 || !strings.HasPrefix(deadLines[0], "error: context dead: cannot reach the Kubernetes API server at https://127.0.0.1:1") {
		t.Errorf("want one line on the dead context, got %q", deadLines)
	}

	res = pluginWith(t, kubeconfig, "list", "--contexts", "b,a", "-n", ns, "-o", "json")
	var doc struct {
		Items []struct{ Context, Name, Namespace string }
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); res.code != 0 || err != nil {
		t.Fatalf("list --contexts b,a -o json: exit %d, %v\n%s%s", res.code, err, res.stdout, res.stderr)
	}
	if len(doc.Items) != 2 || doc.Items[0].Context != "b" || doc.Items[1].Context != "a" || doc.Items[0].Name != name {
		t.Errorf("items %+v", doc.Items)
	}

	res = pluginWith(t, kubeconfig, "doctor", "--contexts", "a,b", "-n", ns, "-o", "json")
	if res.code != diagnose.ExitFailures {
		t.Errorf("doctor --contexts a,b: exit %d, want 3\n%s", res.code, res.stderr)
	}
	var report diagnose.Report
	if err := json.Unmarshal([]byte(res.stdout), &report); err != nil {
		t.Fatalf("doctor -o json: %v\n%s", err, res.stdout)
	}
	across := `the name "` + name + `" is used in contexts a (namespace ` + ns + `), b (namespace ` + ns + `)`
	failed := map[string]bool{}
	for _, f := range report.Findings {
		if f.ID == "DLG-405" && f.Verdict == diagnose.Fail && strings.Contains(f.Finding, across) {
			failed[f.Context] = true
		}
	}
	if !failed["a"] || !failed["b"] {
		t.Errorf("want DLG-405 failing in a and b with %q, got %v\n%s", across, failed, res.stdout)
	}

	res = pluginWith(t, kubeconfig, "list", "--contexts", "a,nope")
	if res.code != 1 || !strings.Contains(res.stderr, `context "nope" is not in the kubeconfig; its contexts are: a, b, dead`) {
		t.Errorf("unknown context: exit %d\n%s", res.code, res.stderr)
	}
	res = pluginWith(t, kubeconfig, "doctor", "--contexts", "a,b", "--context", "a")
	if res.code != 1 || !strings.Contains(res.stderr, "--context and --contexts/--all-contexts do not go together") {
		t.Errorf("--context with --contexts: exit %d\n%s", res.code, res.stderr)
	}
}

// TestContextsStuckServer: a context whose server accepts the connection and the TLS
// handshake but never answers (an overloaded API server, a proxy that holds connections)
// ends at --context-timeout as one error line; the context that answers is listed and
// checked, and the exit code says a context could not be read (issue 14, point 3). So is a
// context whose user may not read the namespace.
func TestContextsStuckServer(t *testing.T) {
	t.Parallel()
	stuck := stuckserver.Start(t)

	kubeconfig := mergedKubeconfig(t, map[string]string{"a": env.kubeconfig})
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Clusters["stuck"] = &clientcmdapi.Cluster{Server: stuck, InsecureSkipTLSVerify: true}
	cfg.AuthInfos["stuck"] = &clientcmdapi.AuthInfo{Token: "unused"}
	cfg.Contexts["stuck"] = &clientcmdapi.Context{Cluster: "stuck", AuthInfo: "stuck"}
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}

	const name = "beside-a-stuck-one"
	ns := testNamespace(t, "stuck")
	if res := pluginWith(t, kubeconfig, "install", name, "-n", ns, "--context", "a", "--account-id", "e2eAccount01",
		"--token-file", tokenFile(t), "--wait=false", "--support-matrix", matrixWithServer(t)); res.code != 0 {
		t.Fatalf("install: exit %d\n%s", res.code, res.stderr)
	}
	t.Cleanup(func() {
		pluginWith(t, kubeconfig, "uninstall", name, "-n", ns, "--context", "a", "--yes", "--wait=false")
	})

	// pluginWith kills the plugin after two minutes: without the deadline it never returns.
	wantLine := "error: context stuck: not read within 15s (--context-timeout): the Kubernetes API server at " + stuck + " answers too slowly or not at all"
	res := pluginWith(t, kubeconfig, "list", "--contexts", "a,stuck", "-n", ns, "--context-timeout", "15s")
	if res.code != 1 {
		t.Errorf("list: exit %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
	}
	if lines := strings.Split(strings.TrimSpace(res.stdout), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "a ") || !strings.Contains(lines[1], name) {
		t.Errorf("list does not show context a's delegate:\n%s", res.stdout)
	}
	if !strings.Contains(res.stderr, wantLine) {
		t.Errorf("list: no line %q:\n%s", wantLine, res.stderr)
	}

	res = pluginWith(t, kubeconfig, "doctor", "--contexts", "stuck,a", "-n", ns, "--context-timeout", "15s", "-o", "json")
	if res.code != 1 && res.code != diagnose.ExitFailures {
		t.Errorf("doctor: exit %d, want 1, or 3 for a failed check\n%s", res.code, res.stderr)
	}
	var report diagnose.Report
	if err := json.Unmarshal([]byte(res.stdout), &report); err != nil {
		t.Fatalf("doctor -o json: %v\n%s%s", err, res.stdout, res.stderr)
	}
	if len(report.ContextErrors) != 1 || report.ContextErrors[0].Context != "stuck" || !strings.Contains(report.ContextErrors[0].Error, "not read within 15s") {
		t.Errorf("doctor's context errors: %+v", report.ContextErrors)
	}
	checkedA := false
	for _, f := range report.Findings {
		checkedA = checkedA || (f.Context == "a" && f.Delegate == ns+"/"+name)
	}
	if !checkedA {
		t.Errorf("doctor did not check context a's delegate:\n%s", res.stdout)
	}
	if !strings.Contains(res.stderr, wantLine) {
		t.Errorf("doctor: no line %q:\n%s", wantLine, res.stderr)
	}

	// A context whose user may not read the namespace is one line too.
	if env.viewerKubeconfig == "" {
		t.Skip("the cluster in use has no read-only user")
	}
	forbidden := mergedKubeconfig(t, map[string]string{"a": env.kubeconfig, "viewer": env.viewerKubeconfig})
	res = pluginWith(t, forbidden, "list", "--contexts", "viewer,a", "-n", ns)
	if res.code != 1 || !strings.Contains(res.stdout, name) {
		t.Errorf("list with a forbidden context: exit %d, want 1 and context a's delegate\n%s%s", res.code, res.stdout, res.stderr)
	}
	var forbiddenLines []string
	for _, l := range strings.Split(res.stderr, "\n") {
		if strings.HasPrefix(l, "error: context viewer: ") {
			forbiddenLines = append(forbiddenLines, l)
		}
	}
	if len(forbiddenLines) != 1 || !strings.Contains(forbiddenLines[0], "forbidden") || !strings.Contains(forbiddenLines[0], "lacks that permission") {
		t.Errorf("want one line saying context viewer is forbidden, got %q\n%s", forbiddenLines, res.stderr)
	}
}

// mergedKubeconfig writes one kubeconfig holding the current context of each file under the
// name given, and a context "dead" whose server is a port where nothing listens.
func mergedKubeconfig(t *testing.T, files map[string]string) string {
	t.Helper()
	merged := clientcmdapi.NewConfig()
	for name, file := range files {
		cfg, err := clientcmd.LoadFromFile(file)
		if err != nil {
			t.Fatal(err)
		}
		current := cfg.Contexts[cfg.CurrentContext]
		if current == nil {
			t.Fatalf("%s has no current context", file)
		}
		merged.Clusters[name] = cfg.Clusters[current.Cluster]
		merged.AuthInfos[name] = cfg.AuthInfos[current.AuthInfo]
		merged.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	merged.Clusters["dead"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", InsecureSkipTLSVerify: true}
	merged.AuthInfos["dead"] = &clientcmdapi.AuthInfo{Token: "unused"}
	merged.Contexts["dead"] = &clientcmdapi.Context{Cluster: "dead", AuthInfo: "dead"}
	merged.CurrentContext = "a"
	path := filepath.Join(t.TempDir(), "merged.kubeconfig")
	if err := clientcmd.WriteToFile(*merged, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// pluginWith runs the plugin with KUBECONFIG set to kubeconfig.
func pluginWith(t *testing.T, kubeconfig string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.plugin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running kubectl-delegate %s: %v", strings.Join(args, " "), err)
	}
	return res
}
