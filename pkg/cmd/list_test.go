package cmd

import (
	"bytes"
	"encoding/json"
	"k8s.io/utils/ptr"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

// legacyWithSecrets is a legacy StatefulSet that carries its token and proxy password inline in
// the pod spec, as old manifests did: the values are there for anything to leak.
func legacyWithSecrets(token, password string) *delegate.Objects {
	labels := map[string]string{delegate.LabelLegacyApp: delegate.LegacyAppValue}
	return &delegate.Objects{StatefulSets: []appsv1.StatefulSet{{
		ObjectMeta: metav1.ObjectMeta{Name: "old-abc", Namespace: "harness-delegate", Labels: labels},
		Spec: appsv1.StatefulSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "delegate", Image: "harness/delegate:latest", Env: []corev1.EnvVar{
					{Name: "DELEGATE_NAME", Value: "old"}, {Name: "ACCOUNT_SECRET", Value: token},
					{Name: "PROXY_HOST", Value: "proxy.corp"}, {Name: "PROXY_USER", Value: "svc"}, {Name: "PROXY_PASSWORD", Value: password},
				}}},
			}},
		},
	}}}
}

func TestPrintInspectionNeverShowsAValue(t *testing.T) {
	const token, password = "tok-4f1b9c-must-not-print", "pw-77d2e0-must-not-print"
	ds := delegate.Build(legacyWithSecrets(token, password), renderNow)
	if len(ds) != 1 {
		t.Fatalf("want the legacy delegate, got %d delegates", len(ds))
	}
	in := Inspection{APIVersion: delegate.SchemaVersion, Kind: "DelegateInspection", Delegate: ds[0], WarningEvents: []delegate.Event{}}
	var text bytes.Buffer
	if err := printInspectionAs(&text, "", in, renderNow); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"legacy StatefulSet (out of support since 2024-01-31)", "inline in the pod spec as ACCOUNT_SECRET (present)",
		"unknown (tag latest names no release)", "proxy.corp, with credentials"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("inspection lacks %q:\n%s", want, text.String())
		}
	}
	// Every format: a template can reach any field, so no field may hold a value.
	outputs := map[string]string{"text": text.String()}
	for _, format := range []string{"json", "yaml", "go-template={{.}}"} {
		var out bytes.Buffer
		if err := printInspectionAs(&out, format, in, renderNow); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		outputs[format] = out.String()
	}
	for format, out := range outputs {
		for _, value := range []string{token, password} {
			if strings.Contains(out, value) {
				t.Errorf("-o %s shows the value %q:\n%s", format, value, out)
			}
		}
	}
}

// A read-only user cannot read the token's Secret: inspect says unknown, never missing.
func TestInspectTokenUnknownWhenSecretsAreNotReadable(t *testing.T) {
	cases := []struct {
		token delegate.TokenRef
		want  string
	}{
		{delegate.TokenRef{Source: delegate.TokenFromSecret, SecretName: "prod", SecretKey: "DELEGATE_TOKEN"}, "Secret prod, key DELEGATE_TOKEN: unknown (Secrets not readable)"},
		{delegate.TokenRef{Source: delegate.TokenFromSecret, SecretName: "prod", SecretKey: "DELEGATE_TOKEN", Present: ptr.To(true)}, "Secret prod, key DELEGATE_TOKEN (present)"},
		{delegate.TokenRef{Source: delegate.TokenMissing}, "MISSING: no DELEGATE_TOKEN in the delegate's environment"},
	}
	for _, tc := range cases {
		if got := tokenDetail(tc.token); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.token, got, tc.want)
		}
	}
}

// inspect says per pod whether it registered: when and as which delegate id, that it did
// not, or that its log could not be read; JSON gains pods[].registered.
func TestInspectRegistered(t *testing.T) {
	at := renderNow.Add(-5 * time.Minute)
	in := Inspection{APIVersion: delegate.SchemaVersion, Kind: "DelegateInspection", WarningEvents: []delegate.Event{},
		unread: map[string]string{"p-unread": "forbidden"}}
	in.Name, in.Namespace = "d", "ns"
	in.Pods = []delegate.Pod{
		{Name: "p-yes", Node: "n", Registered: &delegate.Registered{At: &at, DelegateID: "id01"}},
		{Name: "p-no", Node: "n"},
		{Name: "p-unread", Node: "n"},
		{Name: "p-pending"},
	}
	var text bytes.Buffer
	if err := printInspectionAs(&text, "", in, renderNow); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"REGISTERED", "yes, 5m ago (id id01)", "unknown (log not read)", "no (not started)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("inspection lacks %q:\n%s", want, text.String())
		}
	}
	var doc bytes.Buffer
	if err := printInspectionAs(&doc, "json", in, renderNow); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Pods []struct {
			Name       string
			Registered *struct {
				At         time.Time
				DelegateID string `json:"delegateId"`
			}
		}
	}
	if err := json.Unmarshal(doc.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if r := got.Pods[0].Registered; r == nil || r.DelegateID != "id01" || !r.At.Equal(at) {
		t.Errorf("pods[0].registered = %+v, want at %s, delegateId id01", r, at)
	}
	if got.Pods[1].Registered != nil {
		t.Errorf("a pod that did not register has registered %+v", got.Pods[1].Registered)
	}
}
