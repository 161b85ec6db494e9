package diagnose

import (
	"fmt"
	"slices"
	"strings"
)

// ContextError is a kubeconfig context that a run over several could not read: one line in
// the report, and the other contexts go on.
type ContextError struct {
	Context string `json:"context"`
	Error   string `json:"error"`
}

// Placement is where a delegate runs: a kubeconfig context and a namespace.
type Placement struct {
	Context   string `json:"context"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// SharedNames returns, for each delegate name used in more than one context, every placement
// of it in the order given. Harness tells delegates apart by name across an account, so the
// same name in two clusters makes it self-destruct one of them; no single cluster shows it.
func SharedNames(ps []Placement) map[string][]Placement {
	byName := map[string][]Placement{}
	for _, p := range ps {
		byName[p.Name] = append(byName[p.Name], p)
	}
	out := map[string][]Placement{}
	for name, at := range byName {
		contexts := map[string]bool{}
		for _, p := range at {
			contexts[p.Context] = true
		}
		if len(contexts) > 1 {
			out[name] = at
		}
	}
	return out
}

// ContextSnapshot is the snapshot of one kubeconfig context.
type ContextSnapshot struct {
	Context  string
	Snapshot *Snapshot
}

// RunContexts runs the live checks on each context's snapshot, marks every finding with its
// context, and extends DLG-405 across them: a name also used in another context fails there
// too. The findings stay in check-table order, the contexts in the order given within a row.
func RunContexts(snaps []ContextSnapshot) []Finding {
	var ps []Placement
	for _, cs := range snaps {
		for _, d := range cs.Snapshot.Delegates {
			ps = append(ps, Placement{Context: cs.Context, Namespace: d.Namespace, Name: d.Name})
		}
	}
	shared := SharedNames(ps)
	var out []Finding
	for _, cs := range snaps {
		for _, f := range Run(cs.Snapshot) {
			f.Context = cs.Context
			if f.ID == duplicateNameID {
				f = sharedNameFinding(f, shared)
			}
			out = append(out, f)
		}
	}
	order := map[string]int{}
	for i, c := range Checks {
		order[c.ID] = i
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return order[a.ID] - order[b.ID] })
	return out
}

// duplicateNameID is the check of a delegate name used twice.
const duplicateNameID = "DLG-405"

// sharedNameFinding turns a delegate's DLG-405 into a failure when its name is used in
// another context as well, naming every context and namespace that uses it.
func sharedNameFinding(f Finding, shared map[string][]Placement) Finding {
	namespace, name, ok := strings.Cut(f.Delegate, "/")
	at, isShared := shared[name]
	if !ok || !isShared {
		return f
	}
	places := make([]string, 0, len(at))
	for _, p := range at {
		places = append(places, fmt.Sprintf("%s (namespace %s)", p.Context, p.Namespace))
	}
	across := fmt.Sprintf("the name %q is used in contexts %s", name, strings.Join(places, ", "))
	if f.Verdict == Fail {
		f.Finding += "; " + across
	} else {
		f.Finding = across
	}
	f.Verdict = Fail
	f.Hint = fmt.Sprintf("Harness tells delegates apart by name across the account: two with one name, in any clusters, self-destruct; "+
		"give each a unique delegateName, e.g. here: kubectl delegate install NEW-NAME --context %s -n %s ..., then kubectl delegate uninstall %s --context %s -n %s",
		f.Context, namespace, name, f.Context, namespace)
	return f
}
