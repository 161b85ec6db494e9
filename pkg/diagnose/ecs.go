package diagnose

import (
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
	ContainerDefinitions []struct {
		Name        string         `json:"name"`
		Image       string         `json:"image"`
		Memory      flexibleNumber `json:"memory"`
		CPU         flexibleNumber `json:"cpu"`
		Environment []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"environment"`
	} `json:"containerDefinitions"`
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

// CheckECSTaskSpec checks an ECS delegate task definition (the JSON given to aws ecs
// register-task-definition) offline: no cluster is involved. Values of the environment are
// never repeated in findings.
func CheckECSTaskSpec(data []byte) ([]Finding, error) {
	var spec ecsTaskSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("reading the ECS task spec: %w", err)
	}
	if len(spec.ContainerDefinitions) == 0 {
		return nil, fmt.Errorf("the ECS task spec has no containerDefinitions: is it a task definition?")
	}
	subject := "task " + orDefault(spec.Family, "(no family)")
	var out []Finding
	add := func(id string, v Verdict, finding, hint string) {
		out = append(out, Finding{ID: id, Category: CategoryECS, Verdict: v, Subject: subject, Finding: finding, Hint: hint})
	}
	size := func(id, what string, task flexibleNumber, min int, unit string) {
		switch {
		case !task.set:
			add(id, Fail, fmt.Sprintf("task %s is not set", what), fmt.Sprintf("set the task's %s to at least %d (%s)", what, min, unit))
		case task.value < min:
			add(id, Fail, fmt.Sprintf("task %s %d is below the documented %d (%s)", what, task.value, min, unit),
				fmt.Sprintf("raise the task's %s to %d or more", what, min))
		default:
			add(id, Pass, fmt.Sprintf("task %s %d (minimum %d)", what, task.value, min), "")
		}
	}
	size("ECS-001", "memory", spec.Memory, ecsMinMemoryMiB, "MiB")
	size("ECS-002", "cpu", spec.CPU, ecsMinCPUUnits, "CPU units")

	var delegateContainer = -1
	for i, c := range spec.ContainerDefinitions {
		if strings.HasSuffix(delegate.ParseImage(c.Image).Repository, "harness/delegate") {
			delegateContainer = i
		}
	}
	if delegateContainer < 0 {
		add("ECS-003", Fail, "no container runs the harness/delegate image", "use the image harness/delegate:<yy.mm.verno>")
		return out, nil
	}
	c := spec.ContainerDefinitions[delegateContainer]
	img := delegate.ParseImage(c.Image)
	if _, ok := delegate.ParseVersion(img.Tag); !ok {
		add("ECS-003", Warn, fmt.Sprintf("container %s runs %s: the tag names no delegate release", c.Name, c.Image),
			"pin a release tag (yy.mm.verno); latest is the deprecated legacy image")
	} else {
		add("ECS-003", Pass, fmt.Sprintf("container %s runs %s", c.Name, c.Image), "")
	}

	env := map[string]string{}
	for _, e := range c.Environment {
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
	switch {
	case len(missing) > 0 || len(empty) > 0:
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, "missing "+strings.Join(missing, ", "))
		}
		if len(empty) > 0 {
			parts = append(parts, "empty "+strings.Join(empty, ", "))
		}
		add("ECS-004", Fail, "environment: "+strings.Join(parts, "; "),
			"the ECS delegate needs "+strings.Join(ecsRequiredEnv, ", ")+"; download the task spec again from Harness or add them")
	case env["DELEGATE_TYPE"] != "ECS":
		add("ECS-004", Fail, fmt.Sprintf("DELEGATE_TYPE is %q", env["DELEGATE_TYPE"]), `set DELEGATE_TYPE to "ECS"`)
	default:
		add("ECS-004", Pass, "environment has "+strings.Join(ecsRequiredEnv, ", "), "")
	}
	add("ECS-005", Skip, "not checkable from the task spec: the ECS cluster needs at least 8 GB of memory (m5.xlarge suggested)", "")
	return out, nil
}
