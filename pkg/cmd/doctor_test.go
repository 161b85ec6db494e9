package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

func TestDoctorECSTaskSpecNeedsNoCluster(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "ecs-task-spec.json")
	_ = os.WriteFile(spec, []byte(`{"family": "f", "memory": "4096", "cpu": "1024", "containerDefinitions": [{"name": "d",
		"image": "harness/delegate:26.09.90000", "environment": [{"name": "ACCOUNT_ID", "value": "a"}, {"name": "DELEGATE_TOKEN", "value": "tok"},
		{"name": "DELEGATE_TYPE", "value": "ECS"}, {"name": "DEPLOY_MODE", "value": "KUBERNETES"}, {"name": "POLL_FOR_TASKS", "value": "false"},
		{"name": "DELEGATE_GROUP_NAME", "value": "g"}]}]}`), 0o644)
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	code, out, errOut := execute("doctor", "--ecs-task-spec", spec, "-o", "json")
	if code != diagnose.ExitFailures || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var r diagnose.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if top, _ := r.Top(); top.ID != "ECS-001" {
		t.Errorf("top finding %+v", top)
	}
}

func TestDoctorValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		o    DoctorOptions
		says string
	}{
		{DoctorOptions{Output: "table", FailOn: "fail"}, "--output"},
		{DoctorOptions{FailOn: "never"}, "--fail-on"},
		{DoctorOptions{FailOn: "fail", Name: "x", AllNamespaces: true}, "--all-namespaces"},
		{DoctorOptions{FailOn: "fail", ECSTaskSpecFile: "f", AllNamespaces: true}, "--ecs-task-spec"},
	} {
		if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%+v: %v", tc.o, err)
		}
	}
	code, _, errOut := execute("doctor", "--support-matrix", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != 1 || !strings.Contains(errOut, "--support-matrix") {
		t.Errorf("missing matrix file: exit %d, %q", code, errOut)
	}
}
