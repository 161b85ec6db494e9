package diagnose

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// CategoryECS holds the offline checks of an ECS delegate task definition.
const CategoryECS Category = "ECS task spec"

// Documented minimums of the ECS delegate task (Harness ECS delegate docs).
const (
	ecsMinMemoryMiB = 6144
	ecsMinCPUUnits  = 1024
)

// ecsRequiredEnv are the variables the ECS delegate needs; the first two must not be empty.
var ecsRequiredEnv = []string{"ACCOUNT_ID", "DELEGATE_TOKEN", "DELEGATE_TYPE", "DEPLOY_MODE", "POLL_FOR_TASKS", "DELEGATE_GROUP_NAME"}

type ecsTaskSpec struct {
	Family               string         `json:"family"`
	Memory               flexibleNumber `json:"memory"`
	CPU                  flexibleNumber `json:"cpu"`
	ContainerDefinitions []ecsContainer `json:"containerDefinitions"`
}

type ecsContainer struct {
	Name        string         `json:"name"`
	Image       string         `json:"image"`
	Memory      flexibleNumber `json:"memory"`
	CPU         flexibleNumber `json:"cpu"`
	Environment []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"environment"`
}

// flexibleNumber reads ECS sizes, which task definitions write as numbers or as strings.
type flexibleNumber struct {
	set   bool
	value int
}

func (n *flexibleNumber) UnmarshalJSON(data []byte) error {
	s := strings.Trim(string(data), `"`)
	if s == "" || s == "null" {
		return nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%s is not a whole number", data)
	}
	n.set, n.value = true, v
	return nil
}

// ecsTask is what the ECS checks read: a task definition, and the container in it that runs
// the delegate.
type ecsTask struct {
	spec    ecsTaskSpec
	subject string
	// delegate is the last container running harness/delegate; nil when none does, and the
	// checks of the delegate's container have nothing to check.
	delegate *ecsContainer
}

// ecsCheck is a row of ecsChecks: a check of an ECS task definition.
type ecsCheck = Row[*ecsTask]

// ecsChecks is the table of the checks of an ECS delegate task definition, in report order.
var ecsChecks = []ecsCheck{
	{ID: "ECS-001", Category: CategoryECS, Subsets: ECS, Title: "Task memory is at least the documented minimum", Run: checkECSMemory},
	{ID: "ECS-002", Category: CategoryECS, Subsets: ECS, Title: "Task cpu is at least the documented minimum", Run: checkECSCPU},
	{ID: "ECS-003", Category: CategoryECS, Subsets: ECS, Title: "A container runs a harness/delegate release", Run: checkECSImage},
	{ID: "ECS-004", Category: CategoryECS, Subsets: ECS, Title: "The delegate container has the environment it needs", Run: checkECSEnvironment},
	{ID: "ECS-005", Category: CategoryECS, Subsets: ECS, Title: "The ECS cluster has 8 GB of memory (not checkable from the spec)", Run: checkECSClusterMemory},
}

// CheckECSTaskSpec checks an ECS delegate task definition (the JSON given to aws ecs
// register-task-definition) offline: no cluster is involved. Values of the environment are
// never repeated in findings.
func CheckECSTaskSpec(data []byte) ([]Finding, error) {
	task, err := readECSTask(data)
	if err != nil {
		return nil, err
	}
	return runRows(ecsChecks, ECS, task), nil
}

func readECSTask(data []byte) (*ecsTask, error) {
	t := &ecsTask{}
	if err := json.Unmarshal(data, &t.spec); err != nil {
		return nil, fmt.Errorf("reading the ECS task spec: %w", err)
	}
	if len(t.spec.ContainerDefinitions) == 0 {
		return nil, fmt.Errorf("the ECS task spec has no containerDefinitions: is it a task definition?")
	}
	t.subject = "task " + cmp.Or(t.spec.Family, "(no family)")
	for i, c := range t.spec.ContainerDefinitions {
		if strings.HasSuffix(delegate.ParseImage(c.Image).Repository, "harness/delegate") {
			t.delegate = &t.spec.ContainerDefinitions[i]
		}
	}
	return t, nil
}

func checkECSMemory(t *ecsTask) []Finding {
	return []Finding{ecsSize(t, "memory", t.spec.Memory, ecsMinMemoryMiB, "MiB")}
}

func checkECSCPU(t *ecsTask) []Finding {
	return []Finding{ecsSize(t, "cpu", t.spec.CPU, ecsMinCPUUnits, "CPU units")}
}

func ecsSize(t *ecsTask, what string, task flexibleNumber, min int, unit string) Finding {
	f := Finding{Subject: t.subject}
	switch {
	case !task.set:
		f.Verdict, f.Finding, f.Hint = Fail, fmt.Sprintf("task %s is not set", what), fmt.Sprintf("set the task's %s to at least %d (%s)", what, min, unit)
	case task.value < min:
		f.Verdict, f.Finding = Fail, fmt.Sprintf("task %s %d is below the documented %d (%s)", what, task.value, min, unit)
		f.Hint = fmt.Sprintf("raise the task's %s to %d or more", what, min)
	default:
		f.Verdict, f.Finding = Pass, fmt.Sprintf("task %s %d (minimum %d)", what, task.value, min)
	}
	return f
}

func checkECSImage(t *ecsTask) []Finding {
	c := t.delegate
	switch {
	case c == nil:
		return []Finding{{Verdict: Fail, Subject: t.subject, Finding: "no container runs the harness/delegate image", Hint: "use the image harness/delegate:<yy.mm.verno>"}}
	case !isRelease(c.Image):
		return []Finding{{Verdict: Warn, Subject: t.subject, Finding: fmt.Sprintf("container %s runs %s: the tag names no delegate release", c.Name, c.Image),
			Hint: "pin a release tag (yy.mm.verno); latest is the deprecated legacy image"}}
	}
	return []Finding{{Verdict: Pass, Subject: t.subject, Finding: fmt.Sprintf("container %s runs %s", c.Name, c.Image)}}
}

func isRelease(image string) bool {
	_, ok := delegate.ParseVersion(delegate.ParseImage(image).Tag)
	return ok
}

func checkECSEnvironment(t *ecsTask) []Finding {
	if t.delegate == nil {
		return nil
	}
	env := map[string]string{}
	for _, e := range t.delegate.Environment {
		env[e.Name] = e.Value
	}
	var missing, empty []string
	for _, name := range ecsRequiredEnv {
		v, ok := env[name]
		switch {
		case !ok:
			missing = append(missing, name)
		case v == "" && (name == "ACCOUNT_ID" || name == "DELEGATE_TOKEN"):
			empty = append(empty, name)
		}
	}
	f := Finding{Subject: t.subject}
	switch {
	case len(missing) > 0 || len(empty) > 0:
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, "missing "+strings.Join(missing, ", "))
		}
		if len(empty) > 0 {
			parts = append(parts, "empty "+strings.Join(empty, ", "))
		}
		f.Verdict, f.Finding = Fail, "environment: "+strings.Join(parts, "; ")
		f.Hint = "the ECS delegate needs " + strings.Join(ecsRequiredEnv, ", ") + "; download the task spec again from Harness or add them"
	case env["DELEGATE_TYPE"] != "ECS":
		f.Verdict, f.Finding, f.Hint = Fail, fmt.Sprintf("DELEGATE_TYPE is %q", env["DELEGATE_TYPE"]), `set DELEGATE_TYPE to "ECS"`
	default:
		f.Verdict, f.Finding = Pass, "environment has "+strings.Join(ecsRequiredEnv, ", ")
	}
	return []Finding{f}
}

// checkECSClusterMemory is a reminder, given only when the spec has a delegate to run.
func checkECSClusterMemory(t *ecsTask) []Finding {
	if t.delegate == nil {
		return nil
	}
	return []Finding{{Verdict: Skip, Subject: t.subject, Finding: "not checkable from the task spec: the ECS cluster needs at least 8 GB of memory (m5.xlarge suggested)"}}
}
