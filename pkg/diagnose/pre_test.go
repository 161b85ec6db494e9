package diagnose

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

func chartResources(cpu, memory string) (requests, limits corev1.ResourceList) {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)},
		corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memory)}
}

// preSnapshot is doctor --pre's snapshot of an install of delegate prod (1 replica, the
// chart's 1 CPU and 2Gi) into a cluster with one roomy node and full access.
func preSnapshot() *Snapshot {
	req, lim := chartResources("1", "2048Mi")
	return &Snapshot{
		CollectedAt: now, ServerVersion: "v1.27.8", SupportMatrix: DefaultSupportMatrix(),
		Delegates: []delegate.Delegate{PlannedDelegate("harness-delegate-ng", "prod", 1, req, lim)},
		Nodes:     []NodeCapacity{capacity("n1", "4", "8Gi", "1", "2Gi")},
		Pre: &PreInstall{
			Namespace: "harness-delegate-ng", NamespaceExists: boolp(true),
			Access: []PreAccess{
				{Verb: "create", Resource: "serviceaccounts", Namespace: "harness-delegate-ng", Allowed: boolp(true)},
				{Verb: "patch", Resource: "serviceaccounts", Namespace: "harness-delegate-ng", Allowed: boolp(true)},
				{Verb: "create", Group: "apps", Resource: "deployments", Namespace: "harness-delegate-ng", Allowed: boolp(true)},
				{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: "harness-delegate-ng", Allowed: boolp(true)},
				{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Allowed: boolp(true)},
				{Verb: "patch", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Allowed: boolp(true)},
			},
		},
	}
}

func capacity(name, cpu, mem, usedCPU, usedMem string) NodeCapacity {
	return NodeCapacity{Name: name, Schedulable: true,
		AllocatableCPU: resource.MustParse(cpu), AllocatableMem: resource.MustParse(mem),
		RequestedCPU: resource.MustParse(usedCPU), RequestedMem: resource.MustParse(usedMem),
		PodsAllocatable: 110, PodsScheduled: 10}
}

// findings runs the pre-install checks and keeps those of one check.
func findings(s *Snapshot, id string) []Finding {
	var out []Finding
	for _, f := range RunPre(s) {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

func one(t *testing.T, s *Snapshot, id string) Finding {
	t.Helper()
	fs := findings(s, id)
	if len(fs) != 1 {
		t.Fatalf("%s: want one finding, got %+v", id, fs)
	}
	return fs[0]
}

func TestRunPreOnAGoodPlanPasses(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range RunPre(preSnapshot()) {
		seen[f.ID] = true
		if f.Verdict != Pass {
			t.Errorf("%s: %s %q", f.ID, f.Verdict, f.Finding)
		}
		if f.Category == "" {
			t.Errorf("%s has no category", f.ID)
		}
	}
	for _, c := range Checks {
		if c.Subsets&Pre != 0 && !seen[c.ID] {
			t.Errorf("%s gave no finding", c.ID)
		}
	}
	// Only checks that make sense before install: none about pods, logs or the running delegate.
	for _, c := range Checks {
		if c.Subsets&Pre != 0 && (c.Category == CategoryPods || c.Category == CategoryLogs) {
			t.Errorf("%s (%s) runs before there are pods", c.ID, c.Category)
		}
	}
}

func TestPreChecksWithoutPre(t *testing.T) {
	s := preSnapshot()
	s.Pre = nil
	for _, id := range []string{"PRE-701", "PRE-702", "PRE-703"} {
		if fs := findings(s, id); len(fs) != 0 {
			t.Errorf("%s without pre-install data: %+v", id, fs)
		}
	}
}

func TestPreNamespace(t *testing.T) {
	cases := []struct {
		name    string
		exists  *bool
		allowed *bool // create namespaces
		err     string
		verdict Verdict
		says    string
	}{
		{"exists", boolp(true), nil, "", Pass, "namespace harness-delegate-ng exists"},
		{"missing, creatable", boolp(false), boolp(true), "", Pass, "does not exist yet; install creates it"},
		{"missing, not creatable", boolp(false), boolp(false), "", Fail, "does not exist and you may not create it"},
		{"unreadable", nil, nil, "namespaces \"harness-delegate-ng\" is forbidden", Skip, "could not be read: namespaces"},
	}
	for _, c := range cases {
		s := preSnapshot()
		s.Pre.NamespaceExists, s.Pre.NamespaceError = c.exists, c.err
		if c.allowed != nil {
			s.Pre.Access = append([]PreAccess{{Verb: "create", Resource: "namespaces", Allowed: c.allowed}}, s.Pre.Access...)
		}
		f := one(t, s, "PRE-701")
		if f.Verdict != c.verdict || !strings.Contains(f.Finding, c.says) {
			t.Errorf("%s: %s %q, want %s %q", c.name, f.Verdict, f.Finding, c.verdict, c.says)
		}
		if f.Verdict == Fail && !strings.Contains(f.Hint, "kubectl create namespace harness-delegate-ng") {
			t.Errorf("%s: hint %q", c.name, f.Hint)
		}
		if f.Category != CategoryInstall {
			t.Errorf("%s: category %s", c.name, f.Category)
		}
	}
}

func TestPreAccess(t *testing.T) {
	s := preSnapshot()
	f := one(t, s, "PRE-702")
	if f.Verdict != Pass || !strings.Contains(f.Finding, "all 3 kind(s)") {
		t.Errorf("full access: %s %q", f.Verdict, f.Finding)
	}

	// Denied: every denied verb is listed, and the hint names a command to check one.
	s = preSnapshot()
	s.Pre.Access[4].Allowed = boolp(false) // create clusterrolebindings
	s.Pre.Access[5].Allowed = boolp(false) // patch clusterrolebindings
	s.Pre.Access[3].Allowed = boolp(false) // patch deployments
	f = one(t, s, "PRE-702")
	if f.Verdict != Fail {
		t.Fatalf("denied: %s %q", f.Verdict, f.Finding)
	}
	for _, w := range []string{
		"patch deployments.apps in harness-delegate-ng",
		"create clusterrolebindings.rbac.authorization.k8s.io",
		"patch clusterrolebindings.rbac.authorization.k8s.io",
	} {
		if !strings.Contains(f.Finding, w) {
			t.Errorf("finding %q does not list %q", f.Finding, w)
		}
	}
	if strings.Contains(f.Finding, "serviceaccounts") {
		t.Errorf("finding %q lists an allowed verb", f.Finding)
	}
	if !strings.Contains(f.Hint, "kubectl auth can-i patch deployments.apps -n harness-delegate-ng") || !strings.Contains(f.Hint, "--role namespace-admin") {
		t.Errorf("hint %q", f.Hint)
	}

	// Unknown answers: some is a warning, all is a skip.
	s = preSnapshot()
	s.Pre.Access[0].Allowed, s.Pre.Access[0].Error = nil, "the server is slow"
	if f := one(t, s, "PRE-702"); f.Verdict != Warn || !strings.Contains(f.Finding, "create serviceaccounts in harness-delegate-ng") {
		t.Errorf("one unknown: %s %q", f.Verdict, f.Finding)
	}
	for i := range s.Pre.Access {
		s.Pre.Access[i].Allowed, s.Pre.Access[i].Error = nil, "selfsubjectaccessreviews is forbidden"
	}
	if f := one(t, s, "PRE-702"); f.Verdict != Skip || !strings.Contains(f.Finding, "forbidden") {
		t.Errorf("all unknown: %s %q", f.Verdict, f.Finding)
	}
}

func TestPreConflicts(t *testing.T) {
	helm := delegate.Owner{Delegate: "prod", Description: `Helm release "prod" in namespace harness-delegate-ng`}
	manifest := delegate.Owner{Description: "a manifest applied with kubectl apply (field managers: kubectl-client-side-apply)"}
	ours := delegate.Owner{Plugin: true, Delegate: "prod", Description: `kubectl-delegate (delegate "prod")`}
	otherPlugin := delegate.Owner{Plugin: true, Delegate: "staging", Description: `kubectl-delegate (delegate "staging")`}

	s := preSnapshot()
	if f := one(t, s, "PRE-703"); f.Verdict != Pass || !strings.Contains(f.Finding, "none of the objects") {
		t.Errorf("nothing exists: %s %q", f.Verdict, f.Finding)
	}

	s.Pre.Existing = []ExistingObject{{Ref: "harness-delegate-ng/Deployment/prod", Owner: ours}, {Ref: "harness-delegate-ng/Secret/prod", Owner: ours}}
	if f := one(t, s, "PRE-703"); f.Verdict != Pass || !strings.Contains(f.Finding, "2 object(s) exist from an earlier install by this plugin") {
		t.Errorf("own objects: %s %q", f.Verdict, f.Finding)
	}

	s.Pre.Existing = append(s.Pre.Existing,
		ExistingObject{Ref: "harness-delegate-ng/ConfigMap/prod", Owner: helm},
		ExistingObject{Ref: "ClusterRoleBinding/prod-cluster-admin", Owner: manifest},
		ExistingObject{Ref: "harness-delegate-ng/ServiceAccount/prod", Owner: otherPlugin},
	)
	f := one(t, s, "PRE-703")
	if f.Verdict != Fail || !strings.HasPrefix(f.Finding, "3 object(s) already exist and belong to another installation") {
		t.Fatalf("conflicts: %s %q", f.Verdict, f.Finding)
	}
	// Sorted, each with its owner.
	want := `ClusterRoleBinding/prod-cluster-admin (owned by a manifest applied with kubectl apply (field managers: kubectl-client-side-apply)); ` +
		`harness-delegate-ng/ConfigMap/prod (owned by Helm release "prod" in namespace harness-delegate-ng); ` +
		`harness-delegate-ng/ServiceAccount/prod (owned by kubectl-delegate (delegate "staging"))`
	if !strings.HasSuffix(f.Finding, want) {
		t.Errorf("finding %q\nwant suffix %q", f.Finding, want)
	}
	if strings.Contains(f.Finding, "Deployment/prod") {
		t.Errorf("finding lists the plugin's own object: %q", f.Finding)
	}
	for _, w := range []string{"rendered manifests contain a resource that already exists", "helm uninstall", "--force-conflicts"} {
		if !strings.Contains(f.Hint, w) {
			t.Errorf("hint %q does not say %q", f.Hint, w)
		}
	}
	if f.Subject != "harness-delegate-ng/prod" {
		t.Errorf("subject %q", f.Subject)
	}

	s.Pre.ForceConflicts = true
	if f := one(t, s, "PRE-703"); f.Verdict != Warn || !strings.Contains(f.Finding, "will be taken over (--force-conflicts)") || !strings.Contains(f.Finding, "ConfigMap/prod") {
		t.Errorf("--force-conflicts: %s %q", f.Verdict, f.Finding)
	}

	s.Pre.ExistingError = "forbidden"
	if f := one(t, s, "PRE-703"); f.Verdict != Skip || !strings.Contains(f.Finding, "forbidden") {
		t.Errorf("unreadable: %s %q", f.Verdict, f.Finding)
	}
}

func TestPlannedDelegate(t *testing.T) {
	req, lim := chartResources("1", "2Gi")
	d := PlannedDelegate("ns", "prod", 3, req, lim)
	if d.Name != "prod" || d.Namespace != "ns" || d.Replicas.Desired != 3 {
		t.Fatalf("%+v", d)
	}
	// No pods yet: every desired replica is to be placed, counted rather than listed.
	if len(d.Pods) != 0 || unplacedReplicas(d) != 3 {
		t.Errorf("%d planned pods, %d unplaced replicas; want 0 and 3", len(d.Pods), unplacedReplicas(d))
	}
	if !d.Resources.Requests.Memory().Equal(resource.MustParse("2Gi")) {
		t.Errorf("requests %v", d.Resources.Requests)
	}
}

// doctor --pre --replicas 1000000 took 400 MB: a pod per planned replica. Planning and
// placing a million replicas now costs what one does.
func TestPrePlannedCapacityCountsReplicas(t *testing.T) {
	req, lim := chartResources("1", "2Gi")
	s := preSnapshot()
	var f Finding
	allocs := testing.AllocsPerRun(1, func() {
		s.Delegates = []delegate.Delegate{PlannedDelegate("harness-delegate-ng", "prod", 1_000_000, req, lim)}
		f = one(t, s, "DLG-203")
	})
	if allocs > 2000 {
		t.Errorf("planning and placing 1000000 replicas made %.0f allocations; it should not grow with the replicas", allocs)
	}
	if f.Verdict != Fail || !strings.Contains(f.Finding, "only 3 of 1000000 replica(s) fit") {
		t.Errorf("%s %q", f.Verdict, f.Finding)
	}
}

// TestPrePlannedCapacity: the capacity checks judge the delegate install would make.
func TestPrePlannedCapacity(t *testing.T) {
	cases := []struct {
		name        string
		cpu, memory string
		nodes       []NodeCapacity
		nodesError  string
		id          string
		verdict     Verdict
		says        string
	}{
		{"too little memory", "1", "1Gi", nil, "", "DLG-201", Fail, "memory 1Gi < 2Gi"},
		{"too little cpu", "250m", "2Gi", nil, "", "DLG-201", Fail, "cpu 250m < 500m"},
		{"enough", "500m", "2Gi", nil, "", "DLG-201", Pass, "each replica requests cpu 500m"},
		{"limit below minimum", "1", "1Gi", nil, "", "DLG-202", Fail, "memory limit 1Gi is below the documented minimum"},
		{"fits", "1", "2Gi", []NodeCapacity{capacity("n1", "4", "8Gi", "500m", "1Gi")}, "", "DLG-203", Pass, "n1 have room for all of them"},
		// Room for one replica is not room for two: every replica is placed.
		{"room for one of two", "1", "2Gi", []NodeCapacity{capacity("n1", "2", "4Gi", "500m", "1Gi")}, "", "DLG-203", Fail,
			"only 1 of 2 replica(s) fit (cpu 1, memory 2Gi each): n1 takes 1; then the closest node n1 has cpu 500m and memory 1Gi free, short of cpu by 500m and memory by 1Gi"},
		{"no room", "1", "4Gi", []NodeCapacity{capacity("n1", "2", "4Gi", "500m", "1Gi"), capacity("n2", "2", "4Gi", "1500m", "3Gi")}, "", "DLG-203", Fail, "closest node n1"},
		{"cordoned", "1", "2Gi", []NodeCapacity{func() NodeCapacity { n := capacity("n1", "8", "16Gi", "0", "0"); n.Schedulable = false; return n }()}, "", "DLG-203", Fail, "cordoned"},
		{"nodes unreadable", "1", "2Gi", nil, "node capacity could not be read: forbidden", "DLG-203", Skip, "forbidden"},
	}
	for _, c := range cases {
		s := preSnapshot()
		req, lim := chartResources(c.cpu, c.memory)
		s.Delegates = []delegate.Delegate{PlannedDelegate("harness-delegate-ng", "prod", 2, req, lim)}
		s.Nodes, s.NodesError = c.nodes, c.nodesError
		f := one(t, s, c.id)
		if f.Verdict != c.verdict || !strings.Contains(f.Finding, c.says) {
			t.Errorf("%s: %s %s %q, want %s %q", c.name, c.id, f.Verdict, f.Finding, c.verdict, c.says)
		}
		// A planned delegate has no pods yet: every replica counts as unplaced.
		if c.name == "fits" && !strings.Contains(f.Finding, "2 replica(s) not placed") {
			t.Errorf("%s: %q does not weigh both planned replicas", c.name, f.Finding)
		}
	}
}
