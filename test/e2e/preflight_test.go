//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// TestReadOnlyUserSeesTokenUnknown: a user who may not read Secrets was told the token of a
// chart-installed delegate (token through envFrom) is missing, with a hint to create one.
// doctor and inspect now say it is unknown.
func TestReadOnlyUserSeesTokenUnknown(t *testing.T) {
	if env.viewerKubeconfig == "" {
		t.Skip("the cluster named by KUBECONFIG has no viewer.kubeconfig beside it")
	}
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "helm-chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// No replicas: the token is read from the workload, and the nodes stay free for other tests.
	manifest := strings.NewReplacer("NAMESPACE", localcluster.ViewerNamespace, "helm-delegate", "viewed-helm-delegate", "replicas: 2", "replicas: 0").Replace(string(data))
	path := filepath.Join(t.TempDir(), "helm-chart.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := runCommand(t, env.kubectl, "apply", "-f", path); res.code != 0 {
		t.Fatal(res.stderr)
	}
	t.Cleanup(func() { runCommand(t, env.kubectl, "delete", "--ignore-not-found", "-f", path) })

	res := plugin(t, "doctor", "viewed-helm-delegate", "--kubeconfig", env.viewerKubeconfig, "-o", "json")
	var r diagnose.Report
	if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
		t.Fatalf("doctor as the viewer: exit %d, %v\n%s%s", res.code, err, res.stdout, res.stderr)
	}
	token := findingsOf(r, "DLG-401", localcluster.ViewerNamespace+"/viewed-helm-delegate")
	if len(token) != 1 || token[0].Verdict != diagnose.Skip || !strings.Contains(token[0].Finding, "unknown (Secrets not readable)") || token[0].Hint != "" {
		t.Errorf("DLG-401 as the viewer: %+v", token)
	}
	res = plugin(t, "doctor", "viewed-helm-delegate", "--kubeconfig", env.viewerKubeconfig)
	if strings.Contains(res.stdout, "create secret") || strings.Contains(res.stdout, "no DELEGATE_TOKEN") {
		t.Errorf("doctor tells the viewer to create a token:\n%s", res.stdout)
	}
	res = plugin(t, "inspect", "viewed-helm-delegate", "--kubeconfig", env.viewerKubeconfig)
	if res.code != 0 || !strings.Contains(res.stdout, "Secret viewed-helm-delegate, key DELEGATE_TOKEN: unknown (Secrets not readable)") || strings.Contains(res.stdout, "MISSING") {
		t.Errorf("inspect as the viewer: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// TestDoctorPreReplicasBeyondTheNodes: doctor --pre --replicas 100000 said there was room
// for one. The local cluster's three nodes (4 CPU, 8Gi each) hold at most 12 replicas of
// 1 CPU and 2Gi, fewer while other tests run: DLG-203 fails and says how many fit.
func TestDoctorPreReplicasBeyondTheNodes(t *testing.T) {
	t.Parallel()
	res := plugin(t, "doctor", "--pre", "many-replicas", "-n", "pre-many-replicas", "--replicas", "100", "-o", "json")
	var r diagnose.Report
	if err := json.Unmarshal([]byte(res.stdout), &r); err != nil || res.code != diagnose.ExitFailures {
		t.Fatalf("doctor --pre --replicas 100: exit %d, %v\n%s%s", res.code, err, res.stdout, res.stderr)
	}
	fit := findingsOf(r, "DLG-203", "pre-many-replicas/many-replicas")
	if len(fit) != 1 || fit[0].Verdict != diagnose.Fail {
		t.Fatalf("DLG-203: %+v", fit)
	}
	m := regexp.MustCompile(`only (\d+) of 100 replica\(s\) fit \(cpu 1, memory 2Gi each\)`).FindStringSubmatch(fit[0].Finding)
	if m == nil {
		t.Fatalf("DLG-203 does not say how many of the 100 fit: %q", fit[0].Finding)
	}
	if n, _ := strconv.Atoi(m[1]); n < 1 || n > 12 {
		t.Errorf("%d replicas fit on three nodes of 4 CPU and 8Gi: %q", n, fit[0].Finding)
	}
	if !strings.Contains(fit[0].Finding, "then the closest node kwok-node-") || !strings.Contains(fit[0].Hint, "lower the replicas to "+m[1]) {
		t.Errorf("DLG-203 names no node short of room, or no replica count that fits: %q / %q", fit[0].Finding, fit[0].Hint)
	}
}
