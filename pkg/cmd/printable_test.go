package cmd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// hostile is a delegate name as DELEGATE_NAME may hold it: escape sequences, a bell and a
// newline that would start a fake row.
const hostile = "evil\x1b]0;pwned\x07\x1b[2J\nharness-delegate-ng   fake   helm"

func assertNoControl(t *testing.T, what, out string, lines int) {
	t.Helper()
	if strings.ContainsAny(out, "\x1b\x07\r") {
		t.Errorf("%s passes an escape sequence or bell through:\n%q", what, out)
	}
	if lines >= 0 && strings.Count(out, "\n") != lines {
		t.Errorf("%s has %d lines, want %d: a name added a line\n%s", what, strings.Count(out, "\n"), lines, out)
	}
}

func hostileDelegates() []delegate.Delegate {
	ds := sampleDelegates()[:1]
	ds[0].Name, ds[0].Pods[0].Name, ds[0].Tags = hostile, hostile, []string{hostile}
	return ds
}

func TestListEscapesClusterText(t *testing.T) {
	var out bytes.Buffer
	if err := printDelegates(&out, "", true, hostileDelegates(), renderNow); err != nil {
		t.Fatal(err)
	}
	assertNoControl(t, "list", out.String(), 2)
	out.Reset()
	// JSON stays exact: the name is data there, escaped by JSON itself.
	if err := printDelegates(&out, "json", true, hostileDelegates(), renderNow); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `evil\u001b]0;pwned\u0007\u001b[2J\nharness-delegate-ng`) {
		t.Errorf("-o json does not hold the exact name:\n%s", out.String())
	}
}

func TestInspectEscapesClusterText(t *testing.T) {
	var out bytes.Buffer
	in := Inspection{Delegate: hostileDelegates()[0], WarningEvents: []delegate.Event{{Object: "Pod/" + hostile, Reason: "BackOff", Message: hostile, Count: 1, LastSeen: renderNow}}}
	if err := printInspection(&out, in, renderNow); err != nil {
		t.Fatal(err)
	}
	assertNoControl(t, "inspect", out.String(), -1)
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "harness-delegate-ng") {
			t.Errorf("a name started a line of its own: %q", line)
		}
	}
}

func TestDoctorTextEscapesClusterText(t *testing.T) {
	r := diagnose.NewReport([]diagnose.Finding{{ID: "DLG-301", Category: diagnose.CategoryPods, Verdict: diagnose.Fail,
		Subject: "ns/" + hostile, Finding: "log says " + hostile, Hint: "see " + hostile}})
	var out bytes.Buffer
	if err := r.WriteText(&out, false); err != nil {
		t.Fatal(err)
	}
	assertNoControl(t, "doctor", out.String(), -1)
	if strings.Count(out.String(), "harness-delegate-ng   fake") != 3 || strings.Contains(out.String(), "\nharness-delegate-ng") {
		t.Errorf("doctor text:\n%s", out.String())
	}
}
