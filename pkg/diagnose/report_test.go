package diagnose

import (
	"bytes"
	"strings"
	"testing"
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
