package diagnose

import (
	"bytes"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

func TestExitCodeAndTop(t *testing.T) {
	pass := Finding{ID: "A", Category: CategoryCluster, Verdict: Pass, Subject: "cluster", Finding: "ok"}
	warn := Finding{ID: "B", Category: CategoryConfig, Verdict: Warn, Subject: "ns/d", Finding: "meh", Hint: "do this"}
	fail := Finding{ID: "C", Category: CategoryPods, Verdict: Fail, Subject: "ns/p", Finding: "bad", Hint: "do that"}
	cases := []struct {
		findings   []Finding
		failOnWarn bool
		code       int
		top        string
	}{
		{[]Finding{pass}, false, ExitOK, ""},
		{[]Finding{pass, warn}, false, ExitWarnings, "B"},
		{[]Finding{pass, warn}, true, ExitFailures, "B"},
		{[]Finding{warn, fail}, false, ExitFailures, "C"},
		{nil, false, ExitOK, ""},
	}
	for _, tc := range cases {
		r := NewReport(tc.findings)
		if got := r.ExitCode(tc.failOnWarn); got != tc.code {
			t.Errorf("%v failOnWarn=%v: exit %d, want %d", tc.findings, tc.failOnWarn, got, tc.code)
		}
		top, ok := r.Top()
		if ok != (tc.top != "") || top.ID != tc.top {
			t.Errorf("%v: top %q", tc.findings, top.ID)
		}
	}
}

func TestWriteText(t *testing.T) {
	r := NewReport([]Finding{
		{ID: "DLG-101", Category: CategoryCluster, Verdict: Warn, Subject: "cluster", Finding: "Kubernetes v1.36.3 is not on the support list", Hint: "upgrade"},
		{ID: "DLG-301", Category: CategoryPods, Verdict: Fail, Subject: "ns/p", Finding: "CrashLoopBackOff", Hint: "raise memory"},
		{ID: "DLG-302", Category: CategoryPods, Verdict: Pass, Subject: "ns/d", Finding: "images pulled", Hint: "never shown on a pass"},
	})
	var out bytes.Buffer
	if err := r.WriteText(&out, false); err != nil {
		t.Fatal(err)
	}
	want := `Cluster
-------
‼ DLG-101 cluster: Kubernetes v1.36.3 is not on the support list
    upgrade

Pods
----
× DLG-301 ns/p: CrashLoopBackOff
    raise memory
√ DLG-302 ns/d: images pulled

Status check results are ×: 1 failed, 1 warnings, 1 passed, 0 skipped
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	_ = r.WriteText(&out, true)
	if !strings.Contains(out.String(), "\033[31m×\033[0m") {
		t.Errorf("no colour when asked:\n%q", out.String())
	}
}

// Per delegate the cause is the first failure of the pod and log layers in table order, then
// other failures, then warnings; the layers' later warnings and failures are what it
// explains, and the top finding is the cause.
func TestCausesFollowTheTable(t *testing.T) {
	pending := withPod(healthy(), delegate.Pod{Name: "prod-1", Phase: "Pending"})
	crash := delegate.Pod{Name: "prod-2", Node: "n1", Phase: "Running", Restarts: 4, Waiting: "CrashLoopBackOff",
		LastTermination: &delegate.Termination{Reason: "Error", ExitCode: 1}}
	pending.Pods = append(pending.Pods, crash)
	pending.Proxy = delegate.Proxy{Configured: true, Host: "proxy", NoProxy: "example.com"} // a configuration warning
	s := snapshot(pending)
	s.Logs = map[string]PodLogs{"harness-delegate-ng/prod-2": {Previous: "java.net.UnknownHostException: app.harnes.io"}}
	r := NewReport(Run(s))
	if len(r.Causes) != 1 {
		t.Fatalf("causes: %+v", r.Causes)
	}
	c := r.Causes[0]
	// Not scheduled comes before exits at start, whatever the pods' order.
	if c.Delegate != "harness-delegate-ng/prod" || c.ID != "DLG-304" || c.Subject != "harness-delegate-ng/prod-1" || !strings.Contains(c.Hint, "describe pod") {
		t.Errorf("cause: %+v", c)
	}
	if strings.Join(c.Explains, ",") != "DLG-301" {
		t.Errorf("explains %v, want the crash loop only (the proxy warning is configuration)", c.Explains)
	}
	if top, _ := r.Top(); top.ID != "DLG-304" {
		t.Errorf("top %+v", top)
	}

	// Only the crash: the crash loop with its log cause leads, one finding naming DNS.
	only := withPod(healthy(), crash)
	only.Proxy = pending.Proxy
	s = snapshot(only)
	s.Logs = map[string]PodLogs{"harness-delegate-ng/prod-2": {Previous: "Error occurred while registering delegate with manager\njava.net.UnknownHostException: app.harnes.io"}}
	r = NewReport(Run(s))
	if c := r.Causes[0]; c.ID != "DLG-301" || !strings.Contains(c.Finding, "host name does not resolve") || !strings.Contains(c.Hint, "DNS") || len(c.Explains) != 0 {
		t.Errorf("crash cause: %+v", c)
	}
	n := 0
	for _, f := range r.Findings {
		if strings.Contains(f.Finding, "UnknownHostException") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d findings quote the exception, want 1", n)
	}

	// Warnings only: the configuration warning is the cause; a healthy delegate has none.
	warn := healthy()
	warn.Proxy = pending.Proxy
	r = NewReport(Run(snapshot(warn, func() delegate.Delegate { d := healthy(); d.Name = "ok"; return d }())))
	if len(r.Causes) != 1 || r.Causes[0].ID != "DLG-407" || r.Causes[0].Verdict != Warn {
		t.Errorf("warning cause: %+v", r.Causes)
	}
}

// Issue 11's order: a cause the log names (exit at start) comes before the probe failures
// and the unready pod it produces, though their rows come first in the table.
func TestLogCauseLeadsProbeFailures(t *testing.T) {
	d := withPod(healthy(), delegate.Pod{Name: "prod-1", Node: "n1", Phase: "Running", Restarts: 1})
	s := snapshot(d)
	s.Events = []corev1.Event{{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: d.Namespace, Name: "prod-1"},
		Reason: "Unhealthy", Count: 3, Message: "Startup probe failed: connection refused", LastTimestamp: metav1.NewTime(now)}}
	s.Logs = map[string]PodLogs{"harness-delegate-ng/prod-1": {Current: "java.net.UnknownHostException: app.harnes.io"}}
	r := NewReport(Run(s))
	if len(r.Causes) != 1 {
		t.Fatalf("causes %+v", r.Causes)
	}
	if c := r.Causes[0]; c.ID != "DLG-501" || !strings.Contains(c.Finding, "host name does not resolve") || strings.Join(c.Explains, ",") != "DLG-305,DLG-306" {
		t.Errorf("cause %+v, want DLG-501 explaining DLG-305,DLG-306", c)
	}
	if top, _ := r.Top(); top.ID != "DLG-501" {
		t.Errorf("top %+v", top)
	}
	// Without the log's word, the probe failure is the cause.
	s.Logs = nil
	if c := NewReport(Run(s)).Causes[0]; c.ID != "DLG-305" || strings.Join(c.Explains, ",") != "DLG-306" {
		t.Errorf("without a log cause: %+v", c)
	}
}

// A shortfall is how an unready pod looks from the workload: when a pod check names the pod,
// that finding leads, and DLG-300's "1 of 2 available for 30m" follows from it.
func TestPodFindingLeadsTheShortfall(t *testing.T) {
	d := healthy()
	d.Replicas = delegate.Replicas{Desired: 2, Ready: 1, Available: 1, Updated: 2}
	d.Rollout = delegate.Rollout{ProgressDeadlineSeconds: 600, LastProgress: now.Add(-time.Hour)}
	d.Pods = append(d.Pods, delegate.Pod{Name: "prod-abc-2", Node: "n1", Phase: "Running", CreatedAt: now.Add(-30 * time.Minute)})
	r := NewReport(Run(snapshot(d)))
	if len(r.Causes) != 1 {
		t.Fatalf("causes %+v", r.Causes)
	}
	if c := r.Causes[0]; c.ID != "DLG-306" || c.Subject != "harness-delegate-ng/prod-abc-2" || strings.Join(c.Explains, ",") != "DLG-300" {
		t.Errorf("cause %+v, want DLG-306 on the unready pod explaining DLG-300", c)
	}
	// With no pod check to name a cause, the shortfall itself leads.
	d.Pods[1].Phase, d.Pods[1].Node = "Pending", ""
	if c := NewReport(Run(snapshot(d))).Causes; len(c) != 1 || c[0].ID != "DLG-304" {
		t.Errorf("a pending pod: %+v", c)
	}
	d.Pods = d.Pods[:1]
	if c := NewReport(Run(snapshot(d))).Causes; len(c) != 1 || c[0].ID != "DLG-300" || len(c[0].Explains) != 0 {
		t.Errorf("no pod check fires: %+v", c)
	}
}

// The text report leads with the causes, their fix and what they explain.
func TestWriteTextLeadsWithCauses(t *testing.T) {
	r := NewReport([]Finding{
		{ID: "DLG-101", Category: CategoryCluster, Verdict: Warn, Subject: "cluster", Finding: "old"},
		{ID: "DLG-301", Category: CategoryPods, Verdict: Fail, Subject: "ns/p", Delegate: "ns/d", Finding: "CrashLoopBackOff", Hint: "fix DNS"},
		{ID: "DLG-305", Category: CategoryPods, Verdict: Fail, Subject: "ns/p", Delegate: "ns/d", Finding: "probe", Hint: "h"},
	})
	var out bytes.Buffer
	if err := r.WriteText(&out, false); err != nil {
		t.Fatal(err)
	}
	if want := "Causes\n------\n× DLG-301 ns/p: CrashLoopBackOff\n    fix DNS\n    explains DLG-305\n\nCluster\n"; !strings.HasPrefix(out.String(), want) {
		t.Errorf("got:\n%s\nwant it to start:\n%s", out.String(), want)
	}
}
