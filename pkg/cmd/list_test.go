package cmd

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

var renderNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func sampleDelegates() []delegate.Delegate {
	present := true
	return []delegate.Delegate{
		{
			Name: "prod", Namespace: "harness-delegate-ng", InstallMethod: delegate.Helm,
			Helm:     &delegate.HelmRelease{Release: "prod", Chart: "harness-delegate-ng", ChartVersion: "1.0.15"},
			Workload: delegate.WorkloadRef{Kind: "Deployment", Name: "prod", ServiceAccount: "prod"},
			Image:    delegate.Image{Repository: "harness/delegate", Tag: "26.09.90000"}, Version: "26.09.90000",
			Support:  delegate.Support{Status: delegate.Supported},
			Replicas: delegate.Replicas{Desired: 2, Ready: 1},
			Pods: []delegate.Pod{{Name: "prod-1", Restarts: 3, LastTermination: &delegate.Termination{Reason: "OOMKilled", ExitCode: 137,
				FinishedAt: renderNow.Add(-90 * time.Second)}}},
			CreatedAt: renderNow.Add(-50 * time.Hour),
			Token:     delegate.TokenRef{Source: delegate.TokenFromSecret, SecretName: "prod", SecretKey: "DELEGATE_TOKEN", Present: &present},
			RBAC:      delegate.RBAC{Mode: delegate.ClusterAdmin},
			Duplicate: &delegate.Duplicate{OtherNamespaces: []string{"team-b"}},
		},
		{
			Name: "old", Namespace: "harness-delegate", InstallMethod: delegate.Legacy,
			Workload: delegate.WorkloadRef{Kind: "StatefulSet", Name: "old-abc"},
			Image:    delegate.Image{Repository: "harness/delegate", Tag: "latest"},
			Support:  delegate.Support{Status: delegate.UnknownSupport},
			Replicas: delegate.Replicas{Desired: 1, Ready: 1}, CreatedAt: renderNow.Add(-400 * 24 * time.Hour),
			Token: delegate.TokenRef{Source: delegate.TokenInline, Variable: "ACCOUNT_SECRET", Present: &present},
			RBAC:  delegate.RBAC{Mode: delegate.NoRBAC},
		},
	}
}

func TestPrintDelegatesTable(t *testing.T) {
	var out bytes.Buffer
	if err := printDelegates(&out, "", true, sampleDelegates(), renderNow); err != nil {
		t.Fatal(err)
	}
	want := `NAMESPACE             NAME   METHOD                              VERSION       SUPPORT     READY   RESTARTS      AGE
harness-delegate-ng   prod   helm (harness-delegate-ng-1.0.15)   26.09.90000   supported   1/2     3 (90s ago)   2d2h
harness-delegate      old    legacy                              unknown       unknown     1/1     0             400d
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestPrintDelegatesWideAndName(t *testing.T) {
	var out bytes.Buffer
	_ = printDelegates(&out, "wide", false, sampleDelegates(), renderNow)
	for _, want := range []string{"WORKLOAD", "deployment/prod", "statefulset/old-abc", "secret/prod (present)", "inline (present)", "harness/delegate:latest"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("wide lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "NAMESPACE") {
		t.Error("one namespace: no NAMESPACE column")
	}
	out.Reset()
	_ = printDelegates(&out, "name", false, sampleDelegates(), renderNow)
	if out.String() != "delegate/prod\ndelegate/old\n" {
		t.Errorf("name: %q", out.String())
	}
}

func TestPrintDelegatesJSONIsAList(t *testing.T) {
	var out bytes.Buffer
	if err := printDelegates(&out, "json", true, nil, renderNow); err != nil {
		t.Fatal(err)
	}
	var doc DelegateList
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc.Items == nil || len(doc.Items) != 0 || doc.APIVersion != delegate.SchemaVersion {
		t.Errorf("an empty list must still be a list: %v %s", err, out.String())
	}
}

func TestDuplicateWarningsNameEveryNamespaceOnce(t *testing.T) {
	ds := sampleDelegates()
	twin := ds[0]
	twin.Namespace = "team-b"
	twin.Duplicate = &delegate.Duplicate{OtherNamespaces: []string{"harness-delegate-ng"}}
	warnings := duplicateWarnings(append(ds, twin))
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"prod"`) || !strings.Contains(warnings[0], "harness-delegate-ng, team-b") {
		t.Errorf("warnings %q", warnings)
	}
}

func TestFindByName(t *testing.T) {
	ds := sampleDelegates()
	if d, err := findByName(ds, "old-abc", "ns"); err != nil || d.Name != "old" {
		t.Errorf("by workload name: %v %v", d.Name, err)
	}
	_, err := findByName(ds, "nope", "harness-delegate-ng")
	if err == nil || !strings.Contains(err.Error(), "delegates there: old, prod") {
		t.Errorf("unknown name: %v", err)
	}
	_, err = findByName(nil, "nope", "default")
	if err == nil || !strings.Contains(err.Error(), "list -A") {
		t.Errorf("empty namespace: %v", err)
	}
}

func TestListValidateNamesTheFlag(t *testing.T) {
	if err := (&ListOptions{Output: "table"}).Validate(); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Errorf("got %v", err)
	}
	if err := (&ListOptions{Selector: "a in (b"}).Validate(); err == nil || !strings.Contains(err.Error(), "--selector") {
		t.Errorf("got %v", err)
	}
}

func TestPrintInspectionNeverShowsAValue(t *testing.T) {
	var out bytes.Buffer
	in := Inspection{Delegate: sampleDelegates()[1]}
	if err := printInspection(&out, in, renderNow); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"legacy StatefulSet (out of support since 2024-01-31)", "inline in the pod spec as ACCOUNT_SECRET (present)", "unknown (tag latest names no release)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("inspection lacks %q:\n%s", want, out.String())
		}
	}
}
