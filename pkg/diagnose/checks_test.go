package diagnose

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func boolp(b bool) *bool { return &b }

// healthy is a delegate every check passes.
func healthy() delegate.Delegate {
	return delegate.Delegate{
		Name: "prod", Namespace: "harness-delegate-ng", InstallMethod: delegate.Helm,
		Helm:     &delegate.HelmRelease{Release: "prod", Chart: "harness-delegate-ng", ChartVersion: "1.0.15"},
		Workload: delegate.WorkloadRef{Kind: "Deployment", Name: "prod", ServiceAccount: "prod"},
		Image:    delegate.Image{Repository: "harness/delegate", Tag: "26.09.90000"}, Version: "26.09.90000",
		Support:  delegate.SupportAt("26.09.90000", now),
		Replicas: delegate.Replicas{Desired: 1, Ready: 1, Available: 1, Updated: 1},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("2048Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2048Mi")},
		},
		Pods:            []delegate.Pod{{Name: "prod-abc-1", Node: "n1", Phase: "Running", Ready: true}},
		AccountID:       "acc123",
		ManagerEndpoint: "https://app.harness.io",
		Token:           delegate.TokenRef{Source: delegate.TokenFromSecret, SecretName: "prod", SecretKey: "DELEGATE_TOKEN", Present: boolp(true)},
		Upgrader:        &delegate.Upgrader{CronJob: "prod-upgrader-job", Schedule: "0 */1 * * *", LastResult: "Succeeded"},
		RBAC:            delegate.RBAC{Mode: delegate.ClusterAdmin},
	}
}

// snapshot holds the delegates as gathered from a cluster where each ServiceAccount may do
// what its role promises.
func snapshot(ds ...delegate.Delegate) *Snapshot {
	s := &Snapshot{CollectedAt: now, ServerVersion: "v1.27.8", SupportMatrix: DefaultSupportMatrix(), Delegates: ds, Access: map[string]AccessReview{}}
	for _, d := range ds {
		if _, question := promise(d); question != "" {
			s.Access[subject(d)] = AccessReview{Question: question, Allowed: boolp(true)}
		}
	}
	return s
}

// only runs one check and returns its single finding.
func only(t *testing.T, check func(*Snapshot) []Finding, s *Snapshot) Finding {
	t.Helper()
	fs := check(s)
	if len(fs) != 1 {
		t.Fatalf("want one finding, got %+v", fs)
	}
	return fs[0]
}

func TestHealthyDelegatePassesEveryCheck(t *testing.T) {
	for _, f := range Run(snapshot(healthy())) {
		// The proxy check has nothing to look at without a proxy.
		if f.Verdict != Pass && !(f.ID == "DLG-407" && f.Verdict == Skip) {
			t.Errorf("%s on %s: %s %q (hint %q)", f.ID, f.Subject, f.Verdict, f.Finding, f.Hint)
		}
		if f.ID == "" || f.Category == "" {
			t.Errorf("finding without id or category: %+v", f)
		}
	}
}

func TestKubernetesVersion(t *testing.T) {
	cases := []struct {
		server string
		want   Verdict
		says   string
	}{
		{"v1.27.8", Pass, "on the support list"},
		{"v1.25.16", Pass, "on the support list"},
		{"v1.36.3", Warn, "not on the support list (1.25.16, 1.26.10, 1.27.8)"},
		{"v1.27.9", Warn, "not on the support list"},
		{"v1.24.17", Fail, "older than the oldest supported minor 1.25"},
		{"v1.36.3-gke.100", Warn, "not on the support list"},
		{"", Skip, "unknown"},
		{"garbage", Warn, "cannot be read"},
	}
	for _, tc := range cases {
		s := snapshot()
		s.ServerVersion = tc.server
		f := only(t, checkKubernetesVersion, s)
		if f.Verdict != tc.want || !strings.Contains(f.Finding, tc.says) {
			t.Errorf("%q: %s %q", tc.server, f.Verdict, f.Finding)
		}
		if (f.Verdict == Warn || f.Verdict == Fail) && tc.server != "garbage" && !strings.Contains(f.Hint, "--support-matrix") {
			t.Errorf("%q: hint %q", tc.server, f.Hint)
		}
	}
}

func TestSupportMatrixFile(t *testing.T) {
	m, err := ParseSupportMatrix([]byte("source: mine\nversions: [1.30.2, 1.31.0]\n"))
	if err != nil || len(m.Versions) != 2 {
		t.Fatalf("%+v %v", m, err)
	}
	s := snapshot()
	s.SupportMatrix, s.ServerVersion = m, "v1.31.0"
	if f := only(t, checkKubernetesVersion, s); f.Verdict != Pass {
		t.Errorf("a replaced matrix must be used: %+v", f)
	}
	for _, bad := range []string{"versions: []", "versions: [1.30]", "versions: [latest]", "nonsense: true\nversions: [1.30.1]", "{"} {
		if _, err := ParseSupportMatrix([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func withResources(d delegate.Delegate, cpu, memReq, memLimit string) delegate.Delegate {
	d.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	if cpu != "" {
		d.Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memReq != "" {
		d.Resources.Requests[corev1.ResourceMemory] = resource.MustParse(memReq)
	}
	if memLimit != "" {
		d.Resources.Limits[corev1.ResourceMemory] = resource.MustParse(memLimit)
	}
	return d
}

func TestRequests(t *testing.T) {
	cases := []struct {
		cpu, mem string
		want     Verdict
		says     string
	}{
		{"1", "2048Mi", Pass, "cpu 1, memory 2Gi"},
		{"500m", "2Gi", Pass, ""},
		{"250m", "2Gi", Fail, "cpu 250m < 500m"},
		{"1", "1Gi", Fail, "memory 1Gi < 2Gi"},
		{"", "", Fail, "cpu none < 500m, memory none < 2Gi"},
	}
	for _, tc := range cases {
		f := only(t, checkRequests, snapshot(withResources(healthy(), tc.cpu, tc.mem, "")))
		if f.Verdict != tc.want || !strings.Contains(f.Finding, tc.says) {
			t.Errorf("%s/%s: %s %q", tc.cpu, tc.mem, f.Verdict, f.Finding)
		}
		if f.Verdict == Fail && !strings.Contains(f.Hint, "helm upgrade prod") {
			t.Errorf("a Helm delegate's fix is a helm upgrade: %q", f.Hint)
		}
	}
	manifest := withResources(healthy(), "100m", "2Gi", "")
	manifest.InstallMethod, manifest.Helm = delegate.Manifest, nil
	if f := only(t, checkRequests, snapshot(manifest)); !strings.Contains(f.Hint, "kubectl set resources deployment/prod -n harness-delegate-ng") {
		t.Errorf("hint %q", f.Hint)
	}
}

func TestMemoryLimit(t *testing.T) {
	cases := []struct {
		req, limit string
		want       Verdict
		says       string
	}{
		{"2Gi", "2Gi", Pass, "memory limit 2Gi"},
		{"2Gi", "", Pass, "no memory limit"},
		{"2Gi", "1Gi", Fail, "below the documented minimum"},
		{"4Gi", "3Gi", Fail, "below the request 4Gi"},
	}
	for _, tc := range cases {
		f := only(t, checkMemoryLimit, snapshot(withResources(healthy(), "1", tc.req, tc.limit)))
		if f.Verdict != tc.want || !strings.Contains(f.Finding, tc.says) {
			t.Errorf("%s/%s: %s %q", tc.req, tc.limit, f.Verdict, f.Finding)
		}
	}
}

func withPod(d delegate.Delegate, p delegate.Pod) delegate.Delegate {
	d.Pods = []delegate.Pod{p}
	return d
}

func TestCrashLoop(t *testing.T) {
	oom := withPod(healthy(), delegate.Pod{Name: "prod-1", Phase: "Running", Restarts: 7, Waiting: "CrashLoopBackOff",
		LastTermination: &delegate.Termination{Reason: "OOMKilled", ExitCode: 137}})
	f := only(t, checkCrashLoop, snapshot(oom))
	if f.Verdict != Fail || !strings.Contains(f.Finding, "OOMKilled (exit 137) at memory limit 2Gi") || !strings.Contains(f.Hint, "memory") || f.Subject != "harness-delegate-ng/prod-1" {
		t.Errorf("OOM: %+v", f)
	}
	exit1 := withPod(healthy(), delegate.Pod{Name: "prod-1", Phase: "Running", Restarts: 3, Waiting: "CrashLoopBackOff",
		LastTermination: &delegate.Termination{Reason: "Error", ExitCode: 1}})
	f = only(t, checkCrashLoop, snapshot(exit1))
	if f.Verdict != Fail || !strings.Contains(f.Finding, "Error (exit 1)") || !strings.Contains(f.Hint, "kubectl logs -n harness-delegate-ng prod-1 --previous") {
		t.Errorf("exit 1: %+v", f)
	}
	if f := only(t, checkCrashLoop, snapshot(healthy())); f.Verdict != Pass {
		t.Errorf("healthy: %+v", f)
	}
	// The previous log names the cause: one finding says the crash loop and why, with the
	// cause's fix; the log check leaves that pod to it.
	s := snapshot(exit1)
	s.Logs = map[string]PodLogs{"harness-delegate-ng/prod-1": {Previous: "Error occurred while registering delegate with manager\njava.net.UnknownHostException: app.harnes.io: Name or service not known"}}
	f = only(t, checkCrashLoop, s)
	if f.Verdict != Fail || !strings.Contains(f.Finding, "CrashLoopBackOff after 3 restarts: the previous instance exited (Error, exit 1) because the manager's host name does not resolve: \"java.net.UnknownHostException: app.harnes.io") ||
		!strings.Contains(f.Hint, "DNS") {
		t.Errorf("log cause: %+v", f)
	}
	if fs := checkLogs(s); len(fs) != 0 {
		t.Errorf("the log check repeats the crash loop's cause: %+v", fs)
	}
}

func TestImagePullAndContainerConfig(t *testing.T) {
	pull := withPod(healthy(), delegate.Pod{Name: "prod-1", Phase: "Pending", Node: "n1", Waiting: "ImagePullBackOff"})
	if f := only(t, checkImagePull, snapshot(pull)); f.Verdict != Fail || !strings.Contains(f.Finding, "harness/delegate:26.09.90000") {
		t.Errorf("image pull: %+v", f)
	}
	missing := withPod(healthy(), delegate.Pod{Name: "prod-1", Phase: "Pending", Node: "n1", Waiting: "CreateContainerConfigError"})
	missing.Token.Present = boolp(false)
	f := only(t, checkContainerConfig, snapshot(missing))
	if f.Verdict != Fail || !strings.Contains(f.Finding, "Secret prod (key DELEGATE_TOKEN) is missing") {
		t.Errorf("config error: %+v", f)
	}
}

func TestPendingNamesTheSchedulersReason(t *testing.T) {
	pending := withPod(healthy(), delegate.Pod{Name: "prod-1", Phase: "Pending"})
	s := snapshot(pending)
	s.Events = []corev1.Event{{
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "harness-delegate-ng", Name: "prod-1"},
		Reason:         "FailedScheduling", Type: corev1.EventTypeWarning,
		Message: "0/3 nodes are available: 3 Insufficient memory.",
	}}
	f := only(t, checkPending, s)
	if f.Verdict != Fail || !strings.Contains(f.Finding, "3 Insufficient memory") || !strings.Contains(f.Hint, "free CPU or memory") {
		t.Errorf("pending: %+v", f)
	}
	s.Events = nil
	if f := only(t, checkPending, s); f.Verdict != Fail || !strings.Contains(f.Hint, "kubectl describe pod") {
		t.Errorf("pending without events: %+v", f)
	}
}

func TestToken(t *testing.T) {
	cases := []struct {
		token delegate.TokenRef
		want  Verdict
		says  string
	}{
		{delegate.TokenRef{Source: delegate.TokenMissing}, Fail, "no DELEGATE_TOKEN"},
		{delegate.TokenRef{Source: delegate.TokenFromSecret, SecretName: "prod", SecretKey: "DELEGATE_TOKEN", Present: boolp(false)}, Fail, "no non-empty key DELEGATE_TOKEN"},
		// A read-only user: unknown, and no hint to create a token that may be there.
		{delegate.TokenRef{Source: delegate.TokenFromSecret, SecretName: "prod", SecretKey: "DELEGATE_TOKEN"}, Skip, "unknown (Secrets not readable)"},
		{delegate.TokenRef{Source: delegate.TokenInline, Variable: "ACCOUNT_SECRET", Present: boolp(true)}, Warn, "inline"},
		{delegate.TokenRef{Source: delegate.TokenInline, Variable: "DELEGATE_TOKEN", Present: boolp(false)}, Fail, "empty"},
	}
	for _, tc := range cases {
		d := healthy()
		d.Token = tc.token
		f := only(t, checkToken, snapshot(d))
		if f.Verdict != tc.want || !strings.Contains(f.Finding, tc.says) {
			t.Errorf("%+v: %s %q", tc.token, f.Verdict, f.Finding)
		}
		if f.Verdict == Skip && f.Hint != "" {
			t.Errorf("%+v: a skipped check gives no fix: %q", tc.token, f.Hint)
		}
	}
}

func TestManagerEndpointAndAccount(t *testing.T) {
	for endpoint, want := range map[string]Verdict{
		"https://app.harness.io": Pass, "https://harness.corp:8443/gratis": Pass,
		"http://app.harness.io": Fail, "app.harness.io": Fail, "": Fail, "https://": Fail,
	} {
		d := healthy()
		d.ManagerEndpoint = endpoint
		if f := only(t, checkManagerEndpoint, snapshot(d)); f.Verdict != want {
			t.Errorf("%q: %+v", endpoint, f)
		}
	}
	d := healthy()
	d.AccountID = ""
	if f := only(t, checkAccountID, snapshot(d)); f.Verdict != Fail {
		t.Errorf("account: %+v", f)
	}
}

func TestDelegateVersion(t *testing.T) {
	cases := []struct {
		tag    string
		method delegate.InstallMethod
		want   Verdict
		says   string
	}{
		{"26.09.90000", delegate.Helm, Pass, "supported until 2027-03-01"},
		{"26.05.89000", delegate.Helm, Warn, "out of support since 2026-11-01"},
		// Harness: an expired delegate keeps working; end of life is a warning.
		{"25.10.87000", delegate.Helm, Warn, "end of life on 2026-06-01"},
		{"latest", delegate.Helm, Warn, "latest"},
		{"my-build", delegate.Manifest, Warn, "names no delegate release"},
		{"latest", delegate.Legacy, Fail, "legacy StatefulSet"},
	}
	for _, tc := range cases {
		d := healthy()
		d.Image.Tag, d.InstallMethod = tc.tag, tc.method
		v, _ := delegate.ParseVersion(tc.tag)
		d.Version = v.String()
		d.Support = delegate.SupportAt(tc.tag, now)
		if f := only(t, checkDelegateVersion, snapshot(d)); f.Verdict != tc.want || !strings.Contains(f.Finding, tc.says) {
			t.Errorf("%s %s: %s %q", tc.tag, tc.method, f.Verdict, f.Finding)
		}
	}
}

func TestDuplicateUpgraderProxy(t *testing.T) {
	d := healthy()
	d.Duplicate = &delegate.Duplicate{OtherNamespaces: []string{"team-b"}}
	if f := only(t, checkDuplicateName, snapshot(d)); f.Verdict != Fail || !strings.Contains(f.Finding, "team-b") {
		t.Errorf("duplicate: %+v", f)
	}

	for _, tc := range []struct {
		u    *delegate.Upgrader
		want Verdict
	}{
		{nil, Skip},
		{&delegate.Upgrader{CronJob: "u", Suspended: true}, Warn},
		{&delegate.Upgrader{CronJob: "u", LastResult: "Failed"}, Warn},
		{&delegate.Upgrader{CronJob: "u", LastResult: "Running"}, Pass},
	} {
		d := healthy()
		d.Upgrader = tc.u
		if f := only(t, checkUpgrader, snapshot(d)); f.Verdict != tc.want {
			t.Errorf("upgrader %+v: %+v", tc.u, f)
		}
	}

	for _, tc := range []struct {
		proxy delegate.Proxy
		want  Verdict
	}{
		{delegate.Proxy{}, Skip},
		{delegate.Proxy{Configured: true, Host: "proxy.corp"}, Warn},
		{delegate.Proxy{Configured: true, Host: "proxy.corp", NoProxy: "localhost,.svc,10.0.0.0/8"}, Pass},
	} {
		d := healthy()
		d.Proxy = tc.proxy
		if f := only(t, checkProxy, snapshot(d)); f.Verdict != tc.want {
			t.Errorf("proxy %+v: %+v", tc.proxy, f)
		}
	}
}

func TestAccess(t *testing.T) {
	cases := []struct {
		name   string
		mode   delegate.RBACMode
		review *AccessReview
		want   Verdict
		says   string
	}{
		{"allowed", delegate.ClusterAdmin, &AccessReview{Question: "may it?", Allowed: boolp(true)}, Pass, "yes"},
		{"denied", delegate.NamespaceAdmin, &AccessReview{Question: "may it create deployments?", Allowed: boolp(false)}, Fail, "namespace-admin promised, but may it create deployments? no"},
		{"not askable", delegate.ClusterViewer, &AccessReview{Error: "this kubeconfig's user may not create SubjectAccessReviews"}, Skip, "may not create SubjectAccessReviews"},
		{"no bindings", delegate.NoRBAC, nil, Warn, "no RoleBinding or ClusterRoleBinding"},
		{"bindings unreadable", delegate.RBACUnknown, nil, Skip, "could not be read"},
		{"custom", delegate.CustomRole, nil, Skip, "custom role"},
	}
	for _, tc := range cases {
		d := healthy()
		d.RBAC.Mode = tc.mode
		s := snapshot(d)
		s.Access = map[string]AccessReview{}
		if tc.review != nil {
			s.Access[subject(d)] = *tc.review
		}
		f := only(t, checkAccess, s)
		if f.Verdict != tc.want || !strings.Contains(f.Finding, tc.says) {
			t.Errorf("%s: %s %q", tc.name, f.Verdict, f.Finding)
		}
		if tc.want == Fail && !strings.Contains(f.Hint, "kubectl auth can-i --list --as=system:serviceaccount:harness-delegate-ng:prod") {
			t.Errorf("%s: hint %q", tc.name, f.Hint)
		}
	}
	if attrs, _ := promise(delegate.Delegate{RBAC: delegate.RBAC{Mode: delegate.NamespaceAdmin}, Namespace: "ns"}); attrs.Namespace != "ns" || attrs.Resource != "deployments" {
		t.Errorf("namespace-admin promise %+v", attrs)
	}
}

func TestProbesAndReadiness(t *testing.T) {
	d := healthy()
	d.Pods = []delegate.Pod{
		{Name: "a", Node: "n", Phase: "Running", Ready: false},
		{Name: "b", Node: "n", Phase: "Running", Ready: true, Restarts: 9},
		{Name: "c", Node: "n", Phase: "Running", Ready: false, Waiting: "CrashLoopBackOff", Restarts: 9},
	}
	s := snapshot(d)
	s.Events = []corev1.Event{{
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: d.Namespace, Name: "a"},
		Reason:         "Unhealthy", Count: 4,
		Message: `Liveness probe failed: Get "http://10.0.0.5:3460/api/health": Socket is not open`,
	}}
	probes := checkProbes(s)
	if len(probes) != 1 || probes[0].Verdict != Fail || probes[0].Subject != d.Namespace+"/a" || !strings.Contains(probes[0].Hint, "POLL_FOR_TASKS=true") {
		t.Errorf("probes: %+v", probes)
	}
	got := map[string]Finding{}
	for _, f := range checkReadiness(s) {
		got[f.Subject] = f
	}
	if f := got[d.Namespace+"/a"]; f.Verdict != Warn || !strings.Contains(f.Finding, "not ready") {
		t.Errorf("a: %+v", f)
	}
	if f := got[d.Namespace+"/b"]; f.Verdict != Warn || !strings.Contains(f.Finding, "9 restarts") {
		t.Errorf("b: %+v", f)
	}
	if _, ok := got[d.Namespace+"/c"]; ok {
		t.Error("a crash-looping pod is the crash-loop check's to report")
	}
	if f := only(t, checkProbes, snapshot(healthy())); f.Verdict != Pass {
		t.Errorf("healthy: %+v", f)
	}
}

// The upgrader's runs: a failed last Job says its reason, its pod's exit code and the end of
// its log; no success within two schedule periods of creation warns; before the first run
// the finding, and an old delegate's hint, say when that run moves the image.
func TestUpgraderRuns(t *testing.T) {
	hourly := func() delegate.Delegate {
		d := healthy()
		d.Upgrader = &delegate.Upgrader{CronJob: "prod-upgrader-job", Schedule: "0 */1 * * *", CreatedAt: now.Add(-30 * time.Minute)}
		return d
	}
	d := hourly()
	code := int32(1)
	d.Upgrader.LastSchedule, d.Upgrader.LastResult = ptrTime(now.Add(-10*time.Minute)), "Failed"
	d.Upgrader.LastJob = &delegate.UpgraderJob{Name: "prod-upgrader-job-29000060", Failed: true, Reason: "BackoffLimitExceeded", Pod: "prod-upgrader-job-29000060-x", ExitCode: &code}
	s := snapshot(d)
	s.Logs = map[string]PodLogs{"harness-delegate-ng/prod-upgrader-job-29000060-x": {Current: "l1\nl2\nl3\nl4\nl5\nl6\nupgrade failed: 401 Unauthorized\n\n"}}
	f := only(t, checkUpgrader, s)
	if f.Verdict != Warn || !strings.Contains(f.Finding, "Job prod-upgrader-job-29000060, failed: BackoffLimitExceeded; pod prod-upgrader-job-29000060-x exited with code 1; its log ends: l3 | l4 | l5 | l6 | upgrade failed: 401 Unauthorized") ||
		!strings.Contains(f.Hint, "kubectl logs -n harness-delegate-ng job/prod-upgrader-job-29000060") {
		t.Errorf("failed run: %+v", f)
	}

	d = hourly()
	d.Upgrader.CreatedAt = now.Add(-150 * time.Minute)
	if f := only(t, checkUpgrader, snapshot(d)); f.Verdict != Warn || !strings.Contains(f.Finding, "no successful run") {
		t.Errorf("overdue: %+v", f)
	}
	d.Upgrader.LastSuccessful = ptrTime(now.Add(-5 * time.Minute))
	d.Upgrader.LastSchedule = d.Upgrader.LastSuccessful
	if f := only(t, checkUpgrader, snapshot(d)); f.Verdict != Pass {
		t.Errorf("succeeded: %+v", f)
	}

	d = hourly()
	next := now.Truncate(time.Hour).Add(time.Hour).UTC().Format(time.RFC3339)
	if f := only(t, checkUpgrader, snapshot(d)); f.Verdict != Pass || !strings.Contains(f.Finding, "first run, at "+next+", will move the image") {
		t.Errorf("not yet run: %+v (want %s)", f, next)
	}
	d.Image.Tag, d.Version = "25.10.87000", "25.10.87000"
	d.Support = delegate.SupportAt(d.Image.Tag, now)
	if f := only(t, checkDelegateVersion, snapshot(d)); f.Verdict != Warn || !strings.Contains(f.Hint, "has not run yet: its first run, at "+next) {
		t.Errorf("old image, upgrader not yet run: %+v", f)
	}
}

func ptrTime(t time.Time) *time.Time { return &t }
