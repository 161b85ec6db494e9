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

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

func doctor(t *testing.T, args ...string) (diagnose.Report, result) {
	t.Helper()
	res := plugin(t, append([]string{"doctor", "-o", "json"}, args...)...)
	var r diagnose.Report
	if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
		t.Fatalf("doctor %v: exit %d, not JSON: %v\n%s%s", args, res.code, err, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, fixtureToken) {
		t.Fatal("doctor printed the token")
	}
	return r, res
}

// findingsOf returns the findings of one check about subjects starting with prefix.
func findingsOf(r diagnose.Report, id, prefix string) []diagnose.Finding {
	var out []diagnose.Finding
	for _, f := range r.Findings {
		if f.ID == id && strings.HasPrefix(f.Subject, prefix) {
			out = append(out, f)
		}
	}
	return out
}

// matrixWithServer is a support matrix that lists the running server's version.
func matrixWithServer(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "matrix.yaml")
	v := strings.TrimPrefix(serverGitVersion(t), "v")
	if err := os.WriteFile(path, []byte("source: e2e\nversions: ["+v+"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDoctorHealthyDelegate(t *testing.T) {
	t.Parallel()
	// A name no other test uses: doctor -n sees the same name in every namespace.
	ns := applyRenamed(t, "helm-chart", "helm-delegate", "healthy-delegate")
	eventually(t, 90*time.Second, func() (bool, string) {
		d := listDelegates(t, "-n", ns)[ns+"/healthy-delegate"]
		return d.Replicas.Ready == 2, fmt.Sprintf("%+v", d.Replicas)
	})
	r, res := doctor(t, "-n", ns, "--support-matrix", matrixWithServer(t))
	if res.code != 0 || r.Summary.Fail != 0 || r.Summary.Warn != 0 {
		top, _ := r.Top()
		t.Errorf("healthy delegate: exit %d, %+v, top %+v", res.code, r.Summary, top)
	}
	if access := findingsOf(r, "DLG-601", ns+"/healthy-delegate"); len(access) != 1 || access[0].Verdict != diagnose.Pass {
		t.Errorf("the chart's cluster-admin binding, reviewed by the API server: %+v", access)
	}
	// The embedded matrix does not list this server: a warning, exit 4.
	r, res = doctor(t, "healthy-delegate", "-n", ns)
	top, _ := r.Top()
	if res.code != 4 || top.ID != "DLG-101" || top.Verdict != diagnose.Warn {
		t.Errorf("version outside the matrix: exit %d, top %+v", res.code, top)
	}
	if res = plugin(t, "doctor", "healthy-delegate", "-n", ns, "--fail-on", "warn"); res.code != 3 {
		t.Errorf("--fail-on warn: exit %d", res.code)
	}
	// The text report, as people read it.
	res = plugin(t, "doctor", "-n", ns)
	for _, want := range []string{"Cluster\n-------\n", "‼ DLG-101 cluster:", "√ DLG-201 " + ns + "/healthy-delegate", "Status check results are ‼"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("text report lacks %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout, "\033[") {
		t.Error("colour codes when not on a terminal")
	}
}

func TestDoctorCrashLoopOOMKilled(t *testing.T) {
	t.Parallel()
	ns := applyFixture(t, "manifest")
	eventually(t, time.Minute, func() (bool, string) {
		d := listDelegates(t, "-n", ns)[ns+"/manifest-delegate"]
		return len(d.Pods) == 1 && d.Pods[0].Waiting == "CrashLoopBackOff", fmt.Sprintf("%+v", d.Pods)
	})
	r, res := doctor(t, "-n", ns, "--support-matrix", matrixWithServer(t))
	top, _ := r.Top()
	if res.code != 3 || top.ID != "DLG-301" || !strings.Contains(top.Finding, "OOMKilled (exit 137)") || !strings.Contains(top.Hint, "memory") {
		t.Errorf("crash loop: exit %d, top %+v", res.code, top)
	}
}

func TestDoctorBrokenDelegates(t *testing.T) {
	t.Parallel()
	ns := applyFixture(t, "broken")
	var r diagnose.Report
	var res result
	eventually(t, 90*time.Second, func() (bool, string) {
		r, res = doctor(t, "-n", ns, "--support-matrix", matrixWithServer(t))
		pending := findingsOf(r, "DLG-304", ns+"/big-delegate-")
		pull := findingsOf(r, "DLG-302", ns+"/unpullable-delegate-")
		return len(pending) == 1 && strings.Contains(pending[0].Finding, "Insufficient memory") && len(pull) == 1,
			fmt.Sprintf("pending %+v, pull %+v", pending, pull)
	})
	if res.code != 3 {
		t.Errorf("exit %d, want 3", res.code)
	}
	pending := findingsOf(r, "DLG-304", ns+"/big-delegate-")[0]
	if pending.Verdict != diagnose.Fail || !strings.Contains(pending.Hint, "free CPU or memory") {
		t.Errorf("pending: %+v", pending)
	}
	// Which node comes closest, and by how much it falls short (nodes have 8Gi; 64Gi asked).
	fit := findingsOf(r, "DLG-203", ns+"/big-delegate")
	if len(fit) != 1 || fit[0].Verdict != diagnose.Fail || !strings.Contains(fit[0].Finding, "no node has room for a replica (cpu 1, memory 64Gi)") ||
		!strings.Contains(fit[0].Finding, "closest node kwok-node-") || !strings.Contains(fit[0].Finding, "short of memory by") {
		t.Errorf("node fit: %+v", fit)
	}
	token := findingsOf(r, "DLG-401", ns+"/tokenless-delegate")
	if len(token) != 1 || token[0].Verdict != diagnose.Fail || !strings.Contains(token[0].Finding, "tokenless-delegate-token") {
		t.Errorf("missing token Secret: %+v", token)
	}
	pull := findingsOf(r, "DLG-302", ns+"/unpullable-delegate-")[0]
	if pull.Verdict != diagnose.Fail || !strings.Contains(pull.Finding, "ImagePullBackOff for image harness/delegate:26.99.00000") {
		t.Errorf("image pull: %+v", pull)
	}
	access := findingsOf(r, "DLG-601", ns+"/tokenless-delegate")
	if len(access) != 1 || access[0].Verdict != diagnose.Fail || !strings.Contains(access[0].Finding, "namespace-admin promised") {
		t.Errorf("a binding to a missing Role: %+v", access)
	}
	// One delegate by name: its findings only.
	r, _ = doctor(t, "tokenless-delegate", "-n", ns, "--support-matrix", matrixWithServer(t))
	for _, f := range r.Findings {
		if f.Subject != "cluster" && !strings.HasPrefix(f.Subject, ns+"/tokenless-delegate") {
			t.Errorf("doctor NAME reported on %s", f.Subject)
		}
	}
}

// Delegates the real scheduler leaves Pending for placement, not room: doctor says which
// nodes were excluded and why, and what to change.
func TestDoctorNodeFitHonoursPlacement(t *testing.T) {
	t.Parallel()
	ns := applyFixture(t, "unplaceable")
	var r diagnose.Report
	var res result
	eventually(t, 90*time.Second, func() (bool, string) {
		r, res = doctor(t, "-n", ns, "--support-matrix", matrixWithServer(t))
		// Waiting for the scheduler's own reason, so that it and doctor are seen to agree.
		pending := findingsOf(r, "DLG-304", ns+"/")
		agree := len(pending) == 2
		for _, p := range pending {
			// A nodeSelector or label term fails as "didn't match Pod's node affinity/selector", a
			// matchFields term as "didn't satisfy plugin(s) [NodeAffinity]".
			agree = agree && (strings.Contains(p.Finding, "node affinity/selector") || strings.Contains(p.Finding, "[NodeAffinity]"))
		}
		fit := append(findingsOf(r, "DLG-203", ns+"/selector-delegate"), findingsOf(r, "DLG-203", ns+"/affinity-delegate")...)
		return agree && len(fit) == 2 && fit[0].Verdict == diagnose.Fail && fit[1].Verdict == diagnose.Fail,
			fmt.Sprintf("pending %+v, fit %+v", pending, fit)
	})
	if res.code != 3 {
		t.Errorf("exit %d, want 3", res.code)
	}
	selector := findingsOf(r, "DLG-203", ns+"/selector-delegate")[0]
	if !strings.Contains(selector.Finding, "no node may take a replica (cpu 500m, memory 2Gi)") || !strings.Contains(selector.Finding, "not matching nodeSelector disk=ssd") ||
		!strings.Contains(selector.Hint, "(kubectl label node kwok-node-") || !strings.Contains(selector.Hint, " disk=ssd) or change the delegate's nodeSelector") {
		t.Errorf("nodeSelector: %+v", selector)
	}
	affinity := findingsOf(r, "DLG-203", ns+"/affinity-delegate")[0]
	if !strings.Contains(affinity.Finding, "not matching the required node affinity (metadata.name In [decommissioned-node])") ||
		!strings.Contains(affinity.Hint, "requiredDuringSchedulingIgnoredDuringExecution") {
		t.Errorf("required node affinity: %+v", affinity)
	}
	// The placement doctor judged by is in the delegate's JSON for scripts to read.
	d := listDelegates(t, "-n", ns)[ns+"/affinity-delegate"]
	if d.Workload.RequiredNodeAffinity == nil || len(d.Workload.Tolerations) != 1 || d.Workload.Tolerations[0].Key != "dedicated" {
		t.Errorf("workload %+v", d.Workload)
	}
}

// The read-only user may not read Secrets or cluster bindings: those checks skip, doctor
// does not crash.
func TestDoctorAsReadOnlyUser(t *testing.T) {
	if env.viewerKubeconfig == "" {
		t.Skip("the cluster named by KUBECONFIG has no viewer.kubeconfig beside it")
	}
	t.Parallel()
	// A delegate in the one namespace the viewer may read.
	data, err := os.ReadFile(filepath.Join("testdata", "plugin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plugin.yaml")
	manifest := strings.ReplaceAll(strings.ReplaceAll(string(data), "NAMESPACE", localcluster.ViewerNamespace), "plugin-delegate", "viewed-delegate")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := runCommand(t, env.kubectl, "apply", "-f", path); res.code != 0 {
		t.Fatal(res.stderr)
	}
	t.Cleanup(func() { runCommand(t, env.kubectl, "delete", "--ignore-not-found", "-f", path) })

	res := runCommand(t, env.plugin, "doctor", "viewed-delegate", "--kubeconfig", env.viewerKubeconfig, "-o", "json")
	var r diagnose.Report
	if err := json.Unmarshal([]byte(res.stdout), &r); err != nil || (res.code != 0 && res.code != 3 && res.code != 4) {
		t.Fatalf("doctor as the viewer: exit %d, %v\n%s%s", res.code, err, res.stdout, res.stderr)
	}
	token := findingsOf(r, "DLG-401", localcluster.ViewerNamespace+"/viewed-delegate")
	if len(token) != 1 || token[0].Verdict != diagnose.Skip || !strings.Contains(token[0].Finding, "could not be read") {
		t.Errorf("the token Secret is unreadable to the viewer, so the check skips: %+v", token)
	}
	res = runCommand(t, env.plugin, "doctor", "-A", "--kubeconfig", env.viewerKubeconfig)
	if res.code != 1 || !strings.Contains(res.stderr, "forbidden") {
		t.Errorf("doctor -A as the viewer: exit %d, stderr %q", res.code, res.stderr)
	}
}

// The delegate's own log lines name the cause: an invalid token in the current log of a
// running delegate, a certificate error in the previous log of a crash-looping one.
func TestDoctorReadsDelegateLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	helmNS, crashNS := applyFixture(t, "helm-chart"), applyFixture(t, "manifest")
	var helm, crash delegate.Delegate
	eventually(t, 90*time.Second, func() (bool, string) {
		helm = listDelegates(t, "-n", helmNS)[helmNS+"/helm-delegate"]
		crash = listDelegates(t, "-n", crashNS)[crashNS+"/manifest-delegate"]
		return helm.Replicas.Ready == 2 && len(helm.Pods) == 2 && len(crash.Pods) == 1 && crash.Pods[0].Restarts > 0,
			fmt.Sprintf("helm %+v, crash %+v", helm.Replicas, crash.Pods)
	})
	plant := func(ns, pod string, current, previous []string) {
		if err := localcluster.SetPodLogs(ctx, env.config, env.logDir, ns, pod, map[string]localcluster.ContainerLogs{
			"delegate": {Current: current, Previous: previous}}); err != nil {
			t.Fatal(err)
		}
	}
	plant(helmNS, helm.Pods[0].Name, []string{"Starting delegate", "Delegate used invalid token. Self destruct procedure will be initiated."}, nil)
	plant(helmNS, helm.Pods[1].Name, []string{"Starting delegate", "Delegate registered with id dlg-7f3a"}, nil)
	plant(crashNS, crash.Pods[0].Name, []string{"Starting delegate"}, []string{
		"Starting delegate",
		"javax.net.ssl.SSLHandshakeException: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target",
	})
	matrix := matrixWithServer(t)
	eventually(t, 30*time.Second, func() (bool, string) {
		r, res := doctor(t, "-n", helmNS, "--support-matrix", matrix)
		invalid := findingsOf(r, "DLG-501", helmNS+"/"+helm.Pods[0].Name)
		ok := findingsOf(r, "DLG-501", helmNS+"/"+helm.Pods[1].Name)
		return res.code == 3 && len(invalid) == 1 && invalid[0].Verdict == diagnose.Fail && strings.Contains(invalid[0].Finding, "used invalid token") &&
				len(ok) == 1 && ok[0].Verdict == diagnose.Pass,
			fmt.Sprintf("exit %d, invalid %+v, ok %+v", res.code, invalid, ok)
	})
	eventually(t, 30*time.Second, func() (bool, string) {
		r, _ := doctor(t, "-n", crashNS, "--support-matrix", matrix)
		cert := findingsOf(r, "DLG-501", crashNS+"/"+crash.Pods[0].Name)
		return len(cert) == 1 && cert[0].Verdict == diagnose.Fail && strings.Contains(cert[0].Finding, "previous instance died") &&
			strings.Contains(cert[0].Hint, "CA bundle"), fmt.Sprintf("%+v", cert)
	})
}
