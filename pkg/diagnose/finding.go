// Package diagnose finds what is wrong with a delegate and says how to fix it. Checks are
// pure functions from a Snapshot (what was gathered from a cluster, or read from a bundle)
// to Findings; the report renders them.
package diagnose

import "strings"

// Verdict is a check's outcome.
type Verdict string

const (
	Pass Verdict = "pass"
	Warn Verdict = "warn"
	Fail Verdict = "fail"
	// Skip: the check could not run (a permission missing, nothing to check).
	Skip Verdict = "skip"
)

// Category groups checks in the report, in this order.
type Category string

const (
	CategoryCluster  Category = "Cluster"
	CategoryCapacity Category = "Capacity"
	CategoryPods     Category = "Pods"
	CategoryLogs     Category = "Logs"
	CategoryConfig   Category = "Config"
	CategoryAccess   Category = "Access"
	CategoryInstall  Category = "Install"
)

// Finding is one check's result about one subject. Its JSON form is part of doctor's stable
// output schema.
type Finding struct {
	ID       string   `json:"id"`
	Category Category `json:"category"`
	Verdict  Verdict  `json:"verdict"`
	// Subject is what the finding is about: "cluster", "namespace/delegate", or a pod.
	Subject string `json:"subject"`
	// Finding is one line with the numbers behind it.
	Finding string `json:"finding"`
	// Hint says why it matters and the exact command or setting that fixes it; empty on pass.
	Hint string `json:"hint,omitempty"`
	// Delegate is the "namespace/name" of the delegate the finding is about, when it is
	// about one (its pods' findings too): the report picks each delegate's cause by it.
	Delegate string `json:"delegate,omitempty"`
	// Context is the kubeconfig context the finding was made in, in a run over several
	// (doctor --contexts); "" otherwise.
	Context string `json:"context,omitempty"`

	// symptom ranks the finding, as its delegate's cause, after the other findings of the
	// layers: it is how a cause another check names looks from outside, so it leads only
	// when no other layer names one.
	symptom symptom
}

// symptom is how far a finding stands from a cause; zero, a finding may be the cause itself.
type symptom uint8

const (
	// podSymptom: a probe failing, a pod not ready: what a cause the log or the pod's state
	// names looks like from outside.
	podSymptom symptom = iota + 1
	// workloadSymptom: replicas short: what any pod's trouble looks like from the workload.
	workloadSymptom
)

// Subsets are the runs a check belongs to. Like linkerd's check --pre, a run is a selection
// from the one table, not a second table: each row says where it runs.
type Subsets uint8

const (
	// Live is doctor against a cluster.
	Live Subsets = 1 << iota
	// Pre is doctor --pre and install's preflight: before the delegate exists.
	Pre
	// Bundle is doctor --bundle: offline, on the snapshot collect saved.
	Bundle
	// ECS is doctor --ecs-task-spec: offline, on an ECS task definition.
	ECS
)

// subsetNames are the subsets' names, in the order they are listed.
var subsetNames = []struct {
	subset Subsets
	name   string
}{{Live, "live"}, {Pre, "pre"}, {Bundle, "bundle"}, {ECS, "ecs"}}

// Names are the subsets' names, e.g. [live pre bundle].
func (s Subsets) Names() []string {
	var out []string
	for _, n := range subsetNames {
		if s&n.subset != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// String is the names joined by commas, e.g. live,pre,bundle.
func (s Subsets) String() string { return strings.Join(s.Names(), ",") }

// Row is one check of a check table over input T: adding a check is adding a row. Its
// position in the table is its place in the report.
type Row[T any] struct {
	ID       string
	Category Category
	// Title says what passing means, for doctor --list-checks.
	Title   string
	Subsets Subsets
	Run     func(T) []Finding
}

// Check is a row of Checks: a check of a Snapshot.
type Check = Row[*Snapshot]

// Checks is the table of every check of a Snapshot, in report order. The order is also the
// rank of causes: per delegate the first failing row of the layers (causeLayers) is its
// cause, and a row slots in by its place; a finding that is a symptom ranks after the others.
var Checks = []Check{
	{ID: "DLG-101", Category: CategoryCluster, Subsets: Live | Pre | Bundle, Title: "Kubernetes version is on the documented support list", Run: checkKubernetesVersion},
	{ID: "DLG-201", Category: CategoryCapacity, Subsets: Live | Pre | Bundle, Title: "Each replica requests at least the documented minimum", Run: checkRequests},
	{ID: "DLG-202", Category: CategoryCapacity, Subsets: Live | Pre | Bundle, Title: "Memory limit leaves the delegate room", Run: checkMemoryLimit},
	{ID: "DLG-203", Category: CategoryCapacity, Subsets: Live | Pre | Bundle, Title: "The schedulable nodes have room for every replica together", Run: checkNodeFit},
	// The pod rows follow the chain a pod goes through, so that the first that fails is the
	// cause (report.go): created, scheduled, started (image, config), running (crash, probes, ready).
	{ID: "DLG-300", Category: CategoryPods, Subsets: Live | Bundle, Title: "The workload's pods are created and become available in the time a rollout takes", Run: checkWorkload},
	{ID: "DLG-304", Category: CategoryPods, Subsets: Live | Bundle, Title: "Delegate pods are scheduled", Run: checkPending},
	{ID: "DLG-302", Category: CategoryPods, Subsets: Live | Bundle, Title: "Delegate images can be pulled", Run: checkImagePull},
	{ID: "DLG-303", Category: CategoryPods, Subsets: Live | Bundle, Title: "Delegate containers can be created", Run: checkContainerConfig},
	{ID: "DLG-301", Category: CategoryPods, Subsets: Live | Bundle, Title: "Delegate containers are not crash-looping", Run: checkCrashLoop},
	{ID: "DLG-305", Category: CategoryPods, Subsets: Live | Bundle, Title: "Health probes on /api/health pass", Run: checkProbes},
	{ID: "DLG-306", Category: CategoryPods, Subsets: Live | Bundle, Title: "Delegate pods are ready and stable", Run: checkReadiness},
	{ID: "DLG-501", Category: CategoryLogs, Subsets: Live | Bundle, Title: "The delegate's log shows no known error", Run: checkLogs},
	{ID: "DLG-401", Category: CategoryConfig, Subsets: Live | Bundle, Title: "The delegate token is present", Run: checkToken},
	{ID: "DLG-402", Category: CategoryConfig, Subsets: Live | Bundle, Title: "The manager endpoint is an https URL", Run: checkManagerEndpoint},
	{ID: "DLG-403", Category: CategoryConfig, Subsets: Live | Bundle, Title: "The account id is set", Run: checkAccountID},
	{ID: "DLG-404", Category: CategoryConfig, Subsets: Live | Bundle, Title: "The delegate version is supported", Run: checkDelegateVersion},
	{ID: "DLG-405", Category: CategoryConfig, Subsets: Live | Bundle, Title: "The delegate name is unique in the cluster", Run: checkDuplicateName},
	{ID: "DLG-406", Category: CategoryConfig, Subsets: Live | Bundle, Title: "The upgrader runs", Run: checkUpgrader},
	{ID: "DLG-407", Category: CategoryConfig, Subsets: Live | Bundle, Title: "A proxy exempts the API server", Run: checkProxy},
	{ID: "DLG-601", Category: CategoryAccess, Subsets: Live | Bundle, Title: "The delegate's ServiceAccount may do what its role promises", Run: checkAccess},
	{ID: "PRE-701", Category: CategoryInstall, Subsets: Pre, Title: "The namespace exists or can be created", Run: checkPreNamespace},
	{ID: "PRE-702", Category: CategoryInstall, Subsets: Pre, Title: "You may create every object install writes", Run: checkPreAccess},
	{ID: "PRE-703", Category: CategoryInstall, Subsets: Pre, Title: "No object install writes belongs to another installation", Run: checkPreConflicts},
}

// Run runs the live checks on the snapshot.
func Run(s *Snapshot) []Finding { return runRows(Checks, Live, s) }

// RunPre runs the pre-install checks: doctor --pre and install's preflight.
func RunPre(s *Snapshot) []Finding { return runRows(Checks, Pre, s) }

// RunBundle runs the checks that make sense offline on a bundle's snapshot.
func RunBundle(s *Snapshot) []Finding { return runRows(Checks, Bundle, s) }

// runRows runs, in table order, the rows that belong to subset, stamping each finding with
// its row's ID and category.
func runRows[T any](rows []Row[T], subset Subsets, in T) []Finding {
	var out []Finding
	for _, r := range rows {
		if r.Subsets&subset == 0 {
			continue
		}
		for _, f := range r.Run(in) {
			f.ID, f.Category = r.ID, r.Category
			out = append(out, f)
		}
	}
	return out
}

// CheckInfo is one row as doctor --list-checks prints it.
type CheckInfo struct {
	ID       string   `json:"id"`
	Category Category `json:"category"`
	Title    string   `json:"title"`
	Subsets  []string `json:"subsets"`
}

// CheckList is every check of every table: apiVersion kubectl-delegate.dev/v1, kind
// CheckList.
type CheckList struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Items      []CheckInfo `json:"items"`
}

// ListChecks lists the rows of Checks, then of ecsChecks, in table order.
func ListChecks() CheckList {
	return CheckList{APIVersion: "kubectl-delegate.dev/v1", Kind: "CheckList", Items: append(describe(Checks), describe(ecsChecks)...)}
}

func describe[T any](rows []Row[T]) []CheckInfo {
	out := make([]CheckInfo, len(rows))
	for i, r := range rows {
		out[i] = CheckInfo{ID: r.ID, Category: r.Category, Title: r.Title, Subsets: r.Subsets.Names()}
	}
	return out
}
