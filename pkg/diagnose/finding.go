// Package diagnose finds what is wrong with a delegate and says how to fix it. Checks are
// pure functions from a Snapshot (what was gathered from a cluster, or read from a bundle)
// to Findings; the report renders them.
package diagnose

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
}

// Check is one row of the check table: adding a check is adding a row.
type Check struct {
	ID       string
	Category Category
	Title    string
	Run      func(*Snapshot) []Finding
}

// Checks is the table of every check, in report order.
var Checks = []Check{
	{ID: "DLG-101", Category: CategoryCluster, Title: "Kubernetes version is on the documented support list", Run: checkKubernetesVersion},
	{ID: "DLG-201", Category: CategoryCapacity, Title: "Each replica requests at least the documented minimum", Run: checkRequests},
	{ID: "DLG-202", Category: CategoryCapacity, Title: "Memory limit leaves the delegate room", Run: checkMemoryLimit},
	{ID: "DLG-203", Category: CategoryCapacity, Title: "Every replica fits on a schedulable node", Run: checkNodeFit},
	{ID: "DLG-301", Category: CategoryPods, Title: "Delegate containers are not crash-looping", Run: checkCrashLoop},
	{ID: "DLG-302", Category: CategoryPods, Title: "Delegate images can be pulled", Run: checkImagePull},
	{ID: "DLG-303", Category: CategoryPods, Title: "Delegate containers can be created", Run: checkContainerConfig},
	{ID: "DLG-304", Category: CategoryPods, Title: "Delegate pods are scheduled", Run: checkPending},
	{ID: "DLG-305", Category: CategoryPods, Title: "Health probes on /api/health pass", Run: checkProbes},
	{ID: "DLG-306", Category: CategoryPods, Title: "Delegate pods are ready and stable", Run: checkReadiness},
	{ID: "DLG-501", Category: CategoryLogs, Title: "The delegate's log shows no known error", Run: checkLogs},
	{ID: "DLG-401", Category: CategoryConfig, Title: "The delegate token is present", Run: checkToken},
	{ID: "DLG-402", Category: CategoryConfig, Title: "The manager endpoint is an https URL", Run: checkManagerEndpoint},
	{ID: "DLG-403", Category: CategoryConfig, Title: "The account id is set", Run: checkAccountID},
	{ID: "DLG-404", Category: CategoryConfig, Title: "The delegate version is supported", Run: checkDelegateVersion},
	{ID: "DLG-405", Category: CategoryConfig, Title: "The delegate name is unique in the cluster", Run: checkDuplicateName},
	{ID: "DLG-406", Category: CategoryConfig, Title: "The upgrader runs", Run: checkUpgrader},
	{ID: "DLG-407", Category: CategoryConfig, Title: "A proxy exempts the API server", Run: checkProxy},
	{ID: "DLG-601", Category: CategoryAccess, Title: "The delegate's ServiceAccount may do what its role promises", Run: checkAccess},
}

// Run runs every check on the snapshot, stamping each finding with its check's ID and
// category.
func Run(s *Snapshot) []Finding { return runChecks(Checks, s) }

func runChecks(checks []Check, s *Snapshot) []Finding {
	var out []Finding
	for _, c := range checks {
		for _, f := range c.Run(s) {
			f.ID, f.Category = c.ID, c.Category
			out = append(out, f)
		}
	}
	return out
}
