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

// The subsets select the checks each run had when they were separate tables.
func TestSubsetsSelectTheRuns(t *testing.T) {
	ids := func(subset Subsets) []string {
		var out []string
		for _, c := range ListChecks().Items {
			if slices.Contains(c.Subsets, subset.String()) {
				out = append(out, c.ID)
			}
		}
		return out
	}
	live := []string{"DLG-101", "DLG-201", "DLG-202", "DLG-203", "DLG-301", "DLG-302", "DLG-303", "DLG-304", "DLG-305", "DLG-306",
		"DLG-501", "DLG-401", "DLG-402", "DLG-403", "DLG-404", "DLG-405", "DLG-406", "DLG-407", "DLG-601"}
	cases := map[Subsets][]string{
		Live:   live,
		Bundle: live,
		Pre:    {"DLG-101", "DLG-201", "DLG-202", "DLG-203", "PRE-701", "PRE-702", "PRE-703"},
		ECS:    {"ECS-001", "ECS-002", "ECS-003", "ECS-004", "ECS-005"},
	}
	for subset, want := range cases {
		if got := ids(subset); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", subset, got, want)
		}
	}
	// And the runs run them: a pre snapshot gives findings of the pre checks only.
	for _, f := range RunPre(preSnapshot()) {
		if !slices.Contains(cases[Pre], f.ID) {
			t.Errorf("RunPre ran %s", f.ID)
		}
	}
	for _, f := range RunBundle(snapshot(healthy())) {
		if !slices.Contains(live, f.ID) {
			t.Errorf("RunBundle ran %s", f.ID)
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
