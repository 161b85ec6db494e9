package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

var sampleReport = diagnose.NewReport([]diagnose.Finding{
	{ID: "DLG-101", Category: diagnose.CategoryCluster, Verdict: diagnose.Pass, Subject: "cluster", Finding: "Kubernetes v1.36.3 is supported"},
	{ID: "DLG-301", Category: diagnose.CategoryPods, Verdict: diagnose.Fail, Subject: "harness-delegate-ng/prod", Finding: "prod-1 OOMKilled", Hint: "raise --memory"},
})

func sampleInspection() Inspection {
	return Inspection{APIVersion: delegate.SchemaVersion, Kind: "DelegateInspection", Delegate: sampleDelegates()[0],
		WarningEvents: []delegate.Event{{Reason: "BackOff", Object: "pod/prod-1", Count: 4}}}
}

// printers are the four read commands' print paths, each given the -o format and fake data.
var readPrinters = map[string]func(w *bytes.Buffer, format string) error{
	"list": func(w *bytes.Buffer, format string) error {
		return printDelegates(w, format, true, sampleDelegates(), renderNow)
	},
	"inspect": func(w *bytes.Buffer, format string) error {
		return printInspectionAs(w, format, sampleInspection(), renderNow)
	},
	"doctor": func(w *bytes.Buffer, format string) error {
		o := &DoctorOptions{IOStreams: genericiooptions.IOStreams{Out: w}, Output: format}
		return o.printReport(sampleReport)
	},
	"version": func(w *bytes.Buffer, format string) error {
		return printVersion(w, format, sampleVersion)
	},
}

// documents are what the read commands give the printers for the same fake data.
var readDocuments = map[string]any{
	"list":    DelegateList{APIVersion: delegate.SchemaVersion, Kind: "DelegateList", Items: sampleDelegates()},
	"inspect": sampleInspection(),
	"doctor":  sampleReport,
	"version": sampleVersion,
}

// TestReadCommandsKeepTheirDocuments: -o yaml is byte for byte what printStructured printed
// before the printers; -o json keeps the field order, in kubectl's four-space indent.
func TestReadCommandsKeepTheirDocuments(t *testing.T) {
	for command, doc := range readDocuments {
		indented, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		before, err := yaml.JSONToYAML(indented)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := readPrinters[command](&got, "yaml"); err != nil {
			t.Fatalf("%s -o yaml: %v", command, err)
		}
		if got.String() != string(before) {
			t.Errorf("%s -o yaml changed:\n%s\nwas:\n%s", command, got.String(), before)
		}

		want, _ := json.MarshalIndent(doc, "", "    ")
		got.Reset()
		if err := readPrinters[command](&got, "json"); err != nil {
			t.Fatalf("%s -o json: %v", command, err)
		}
		if got.String() != string(want)+"\n" {
			t.Errorf("%s -o json:\n%s\nwant:\n%s", command, got.String(), want)
		}
	}
}

func TestReadCommandsPrintEveryFormat(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		command, format, want string
	}{
		{"list", "name", "delegate/prod\ndelegate/old\n"},
		{"list", "jsonpath={.items[*].name}", "prod old"},
		{"list", "jsonpath-file=" + file("names.jsonpath", `{range .items[*]}{.namespace}/{.name}{"\n"}{end}`), "harness-delegate-ng/prod\nharness-delegate/old\n"},
		{"list", `go-template={{range .items}}{{.name}} {{.replicas.ready}}/{{.replicas.desired}}{{"\n"}}{{end}}`, "prod 1/2\nold 1/1\n"},
		{"list", "go-template-file=" + file("kind.tmpl", `{{.apiVersion}} {{.kind}} {{len .items}}`), "kubectl-delegate.dev/v1 DelegateList 2"},

		{"inspect", "name", "delegate/prod\n"},
		{"inspect", "jsonpath={.kind} {.image.tag} {.warningEvents[0].reason}", "DelegateInspection 26.09.90000 BackOff"},
		{"inspect", "go-template={{.token.secretName}}/{{.token.secretKey}}", "prod/DELEGATE_TOKEN"},

		{"doctor", "name", "finding/DLG-101\nfinding/DLG-301\n"},
		{"doctor", `jsonpath={.summary.fail} {.findings[?(@.verdict=="fail")].id}`, "1 DLG-301"},
		{"doctor", `go-template={{range .findings}}{{.id}}={{.verdict}} {{end}}`, "DLG-101=pass DLG-301=fail "},

		{"version", "name", "version/v1.2.3\n"},
		{"version", "jsonpath={.serverVersion.gitVersion}", "v1.36.3"},
		{"version", "go-template={{.clientVersion.platform}}", "linux/amd64"},
	} {
		var out bytes.Buffer
		if err := readPrinters[tc.command](&out, tc.format); err != nil {
			t.Errorf("%s -o %s: %v", tc.command, tc.format, err)
			continue
		}
		if out.String() != tc.want {
			t.Errorf("%s -o %s: got %q, want %q", tc.command, tc.format, out.String(), tc.want)
		}
	}
}

// TestReadCommandsValidateOutput: a bad -o names the flag and the formats, and a template
// that does not parse is refused, both by Validate, before any request.
func TestReadCommandsValidateOutput(t *testing.T) {
	validate := map[string]func(format string) error{
		"list":    func(f string) error { return (&ListOptions{Output: f}).Validate() },
		"inspect": func(f string) error { return (&InspectOptions{Output: f}).Validate() },
		"doctor":  func(f string) error { return (&DoctorOptions{Output: f, FailOn: "fail"}).Validate() },
		"version": func(f string) error { return (&VersionOptions{Output: f}).Validate() },
	}
	for command, validate := range validate {
		for _, ok := range []string{"", "json", "yaml", "name", "jsonpath={.kind}", "go-template={{.kind}}"} {
			if err := validate(ok); err != nil {
				t.Errorf("%s -o %q: %v", command, ok, err)
			}
		}
		err := validate("xml")
		for _, says := range []string{`-o/--output "xml" is not supported`, "json, jsonpath, jsonpath-as-json, jsonpath-file", "name", "yaml", "leave -o out"} {
			if err == nil || !strings.Contains(err.Error(), says) {
				t.Errorf("%s -o xml: %v lacks %q", command, err, says)
			}
		}
		for _, bad := range []string{"jsonpath={.items[", "go-template={{.kind", "jsonpath"} {
			if err := validate(bad); err == nil || !strings.Contains(err.Error(), "-o/--output "+bad) {
				t.Errorf("%s -o %s: %v", command, bad, err)
			}
		}
	}
	if err := (&ListOptions{Output: "wide"}).Validate(); err != nil {
		t.Errorf("list -o wide: %v", err)
	}
	if err := (&InspectOptions{Output: "wide"}).Validate(); err == nil {
		t.Error("inspect -o wide: only list has a wide table")
	}
}

// TestReadCommandsTakeJSONPathFromTheCommandLine runs the commands that need no cluster,
// so that -o reaches the printers through cobra.
func TestReadCommandsTakeJSONPathFromTheCommandLine(t *testing.T) {
	code, out, errOut := execute("version", "--client", "-o", "jsonpath={.clientVersion.platform}")
	if code != 0 || !strings.Contains(out, "/") || strings.Contains(out, "{") {
		t.Errorf("version -o jsonpath: exit %d, %q, %q", code, out, errOut)
	}
	spec := filepath.Join(t.TempDir(), "ecs-task-spec.json")
	_ = os.WriteFile(spec, []byte(`{"family": "f", "memory": "4096", "cpu": "1024", "containerDefinitions": [{"name": "d",
		"image": "harness/delegate:26.09.90000", "environment": [{"name": "DELEGATE_TYPE", "value": "ECS"}]}]}`), 0o644)
	code, out, errOut = execute("doctor", "--ecs-task-spec", spec, "-o", "jsonpath={.findings[0].id}")
	if code != diagnose.ExitFailures || out != "ECS-001" {
		t.Errorf("doctor -o jsonpath: exit %d, %q, %q", code, out, errOut)
	}
	// A server that answers nothing: a request would fail with a connection error.
	kubeconfig := filepath.Join(t.TempDir(), "config")
	_ = os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: ns}}]
current-context: c
`), 0o600)
	for _, command := range []string{"list", "inspect NAME", "doctor", "version"} {
		args := append(strings.Fields(command), "--kubeconfig", kubeconfig, "-o", "xml")
		code, _, errOut = execute(args...)
		if code != 1 || !strings.HasPrefix(errOut, `error: -o/--output "xml" is not supported`) {
			t.Errorf("%s -o xml: exit %d, %q", command, code, errOut)
		}
	}
}
