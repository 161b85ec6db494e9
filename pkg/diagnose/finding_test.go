package diagnose

import (
	"slices"
	"testing"
)

// What makes "adding a check is adding a row" safe: whatever a row holds, the tables stay
// well formed, and each run is the selection of its subset in table order.
func TestCheckTablesAreWellFormed(t *testing.T) {
	list := ListChecks().Items
	if len(list) != len(Checks)+len(ecsChecks) {
		t.Fatalf("ListChecks has %d rows, the tables %d", len(list), len(Checks)+len(ecsChecks))
	}
	seen := map[string]bool{}
	for _, c := range list {
		if seen[c.ID] || c.Title == "" || c.Category == "" || len(c.Subsets) == 0 {
			t.Errorf("check %+v duplicated or incomplete", c)
		}
		seen[c.ID] = true
	}
	for _, c := range Checks {
		if c.Run == nil || c.Subsets&ECS != 0 {
			t.Errorf("%s: no run func, or in the ECS subset of a snapshot check", c.ID)
		}
	}
	for _, c := range ecsChecks {
		if c.Run == nil || c.Subsets != ECS {
			t.Errorf("%s: an ECS check belongs to the ECS subset only", c.ID)
		}
	}
	// The report prints a category heading each time the category changes: a category
	// split in two would be printed twice.
	for _, subset := range []Subsets{Live, Pre, Bundle} {
		var order []Category
		for _, c := range Checks {
			if c.Subsets&subset == 0 || (len(order) > 0 && order[len(order)-1] == c.Category) {
				continue
			}
			if slices.Contains(order, c.Category) {
				t.Errorf("%s: category %s is split (%s comes after %v)", subset, c.Category, c.ID, order)
			}
			order = append(order, c.Category)
		}
	}
}

// Each run gives findings of its subset's rows only, in table order.
func TestRunsSelectTheirSubsetInTableOrder(t *testing.T) {
	position := map[string]int{}
	for i, c := range Checks {
		position[c.ID] = i
	}
	rich := snapshot(healthy(), pendingDelegate())
	rich.Nodes = []NodeCapacity{node("n1", "4", "8Gi", "0", "0")}
	for _, run := range []struct {
		subset   Subsets
		findings []Finding
	}{{Live, Run(rich)}, {Bundle, RunBundle(rich)}, {Pre, RunPre(preSnapshot())}} {
		last := -1
		for _, f := range run.findings {
			i, ok := position[f.ID]
			switch {
			case !ok || Checks[i].Subsets&run.subset == 0:
				t.Errorf("%s ran %s, which is not in it", run.subset, f.ID)
			case i < last:
				t.Errorf("%s: %s comes after %s", run.subset, f.ID, Checks[last].ID)
			}
			last = i
		}
		if len(run.findings) == 0 {
			t.Errorf("%s ran nothing", run.subset)
		}
	}
}

func TestSubsetNames(t *testing.T) {
	if got := (Live | Pre | Bundle).String(); got != "live,pre,bundle" {
		t.Errorf("%q", got)
	}
	if got := ECS.Names(); !slices.Equal(got, []string{"ecs"}) {
		t.Errorf("%q", got)
	}
}
