package diagnose

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

func dlg405(t *testing.T, fs []Finding, context string) Finding {
	t.Helper()
	for _, f := range fs {
		if f.ID == duplicateNameID && f.Context == context {
			return f
		}
	}
	t.Fatalf("no DLG-405 finding in context %s: %+v", context, fs)
	return Finding{}
}

// The same delegate name in two clusters passes DLG-405 in each; only the view of both
// sees it, and fails it in both, naming both contexts.
func TestRunContextsExtendsDLG405AcrossContexts(t *testing.T) {
	other := healthy()
	other.Name = "staging"
	fs := RunContexts([]ContextSnapshot{
		{Context: "kind-a", Snapshot: snapshot(healthy())},
		{Context: "kind-b", Snapshot: snapshot(healthy(), other)},
	})
	for _, ctx := range []string{"kind-a", "kind-b"} {
		f := dlg405(t, fs, ctx)
		want := `the name "prod" is used in contexts kind-a (namespace harness-delegate-ng), kind-b (namespace harness-delegate-ng)`
		if f.Verdict != Fail || f.Finding != want || !strings.Contains(f.Hint, "unique delegateName, e.g. here: kubectl delegate install NEW-NAME --context "+ctx+" -n harness-delegate-ng ..., then kubectl delegate uninstall prod --context "+ctx) {
			t.Errorf("%s: %+v, want a failure %q", ctx, f, want)
		}
	}
	for _, f := range fs {
		if f.ID == duplicateNameID && f.Delegate == "harness-delegate-ng/staging" && f.Verdict != Pass {
			t.Errorf("staging is in one context only: %+v", f)
		}
		if f.Context == "" {
			t.Errorf("finding without its context: %+v", f)
		}
	}
	// One row's findings stay together, in check-table order: the report groups by category.
	seen := map[string]bool{}
	last := ""
	for _, f := range fs {
		if f.ID != last && seen[f.ID] {
			t.Fatalf("%s's findings are split by another check's", f.ID)
		}
		seen[f.ID], last = true, f.ID
	}

	r := NewReport(fs)
	if len(r.Causes) != 2 || r.Causes[0].Context != "kind-a" || r.Causes[1].Context != "kind-b" {
		t.Errorf("want one cause per context's prod, got %+v", r.Causes)
	}
	r.ContextErrors = []ContextError{{Context: "dead", Error: "cannot reach the Kubernetes API server at https://127.0.0.1:1: connection refused"}}
	var out bytes.Buffer
	if err := r.WriteText(&out, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"× context dead: cannot reach", "× DLG-405 [kind-b] harness-delegate-ng/prod: the name"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, out.String())
		}
	}
}

// A name already used twice inside one cluster keeps that finding and adds the other
// cluster's.
func TestRunContextsKeepsTheInClusterDuplicate(t *testing.T) {
	d := healthy()
	d.Duplicate = &delegate.Duplicate{OtherNamespaces: []string{"team-b"}}
	fs := RunContexts([]ContextSnapshot{{Context: "a", Snapshot: snapshot(d)}, {Context: "b", Snapshot: snapshot(healthy())}})
	f := dlg405(t, fs, "a")
	if f.Verdict != Fail || !strings.Contains(f.Finding, "also used in namespace(s) team-b; the name \"prod\" is used in contexts a (namespace harness-delegate-ng), b (namespace harness-delegate-ng)") {
		t.Errorf("%+v", f)
	}
	if got := RunContexts([]ContextSnapshot{{Context: "a", Snapshot: snapshot(healthy())}}); dlg405(t, got, "a").Verdict != Pass {
		t.Errorf("one context: %+v", dlg405(t, got, "a"))
	}
}
