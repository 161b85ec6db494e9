package diagnose

import (
	"strings"
	"testing"
)

const ecsSpec = `{
  "containerDefinitions": [{
    "portMappings": [{"hostPort": 8080, "protocol": "tcp", "containerPort": 8080}],
    "cpu": 1,
    "environment": [
      {"name": "ACCOUNT_ID", "value": "acc123"},
      {"name": "DELEGATE_TOKEN", "value": "s3cr3t-token-value"},
      {"name": "DELEGATE_TYPE", "value": "ECS"},
      {"name": "DELEGATE_GROUP_NAME", "value": "example-ecs-delegate"},
      {"name": "DEPLOY_MODE", "value": "KUBERNETES"},
      {"name": "POLL_FOR_TASKS", "value": "false"}
    ],
    "memory": 6144,
    "image": "harness/delegate:26.09.90000",
    "essential": true,
    "hostname": "Harness-ECS-Delegate",
    "name": "ecs-delegate"
  }],
  "memory": "6144",
  "requiresCompatibilities": ["EC2"],
  "cpu": "1024",
  "family": "harness-delegate-task-spec"
}`

func ecsVerdicts(t *testing.T, spec string) map[string]Finding {
	t.Helper()
	fs, err := CheckECSTaskSpec([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Finding{}
	for _, f := range fs {
		out[f.ID] = f
		if strings.Contains(f.Finding+f.Hint, "s3cr3t-token-value") {
			t.Errorf("%s repeats the token", f.ID)
		}
	}
	return out
}

func TestECSTaskSpecAsDocumented(t *testing.T) {
	got := ecsVerdicts(t, ecsSpec)
	for _, id := range []string{"ECS-001", "ECS-002", "ECS-003", "ECS-004"} {
		if got[id].Verdict != Pass {
			t.Errorf("%s: %+v", id, got[id])
		}
	}
	if f := got["ECS-005"]; f.Verdict != Skip || !strings.Contains(f.Finding, "8 GB") {
		t.Errorf("ECS-005: %+v", f)
	}
}

func TestECSTaskSpecFailures(t *testing.T) {
	cases := []struct {
		name, from, to, id string
		want               Verdict
		says               string
	}{
		{"small memory", `"memory": "6144"`, `"memory": "4096"`, "ECS-001", Fail, "memory 4096 is below the documented 6144"},
		{"numeric cpu", `"cpu": "1024"`, `"cpu": 512`, "ECS-002", Fail, "cpu 512 is below"},
		{"no memory", `"memory": "6144",`, ``, "ECS-001", Fail, "not set"},
		{"latest", `harness/delegate:26.09.90000`, `harness/delegate:latest`, "ECS-003", Warn, "names no delegate release"},
		{"other image", `harness/delegate:26.09.90000`, `nginx:1`, "ECS-003", Fail, "no container runs"},
		{"empty token", `"s3cr3t-token-value"`, `""`, "ECS-004", Fail, "empty DELEGATE_TOKEN"},
		{"no group", `{"name": "DELEGATE_GROUP_NAME", "value": "example-ecs-delegate"},`, ``, "ECS-004", Fail, "missing DELEGATE_GROUP_NAME"},
		{"wrong type", `"value": "ECS"`, `"value": "KUBERNETES"`, "ECS-004", Fail, `DELEGATE_TYPE is "KUBERNETES"`},
	}
	for _, tc := range cases {
		spec := strings.Replace(ecsSpec, tc.from, tc.to, 1)
		if spec == ecsSpec {
			t.Fatalf("%s: the fixture has no %q", tc.name, tc.from)
		}
		f := ecsVerdicts(t, spec)[tc.id]
		if f.Verdict != tc.want || !strings.Contains(f.Finding, tc.says) {
			t.Errorf("%s: %+v", tc.name, f)
		}
	}
}

func TestECSTaskSpecRefusesOtherFiles(t *testing.T) {
	for _, bad := range []string{"", "{", `{"family": "x"}`, `{"memory": "lots", "containerDefinitions": [{}]}`} {
		if _, err := CheckECSTaskSpec([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
