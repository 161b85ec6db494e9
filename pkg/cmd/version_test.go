package cmd

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"
)

var sampleVersion = VersionInfo{
	ClientVersion: ClientVersion{Version: "v1.2.3", GitCommit: "abc123", BuildDate: "2026-11-20T00:00:00Z", GoVersion: "go1.26.8", Platform: "linux/amd64"},
	ServerVersion: &version.Info{GitVersion: "v1.36.3", Major: "1", Minor: "36"},
}

func TestPrintVersionText(t *testing.T) {
	var out bytes.Buffer
	if err := printVersion(&out, "", sampleVersion); err != nil {
		t.Fatal(err)
	}
	want := "Client Version: v1.2.3 (commit abc123, built 2026-11-20T00:00:00Z, go1.26.8, linux/amd64)\nServer Version: v1.36.3\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	clientOnly := sampleVersion
	clientOnly.ServerVersion = nil
	out.Reset()
	_ = printVersion(&out, "", clientOnly)
	if strings.Contains(out.String(), "Server") {
		t.Errorf("client-only output mentions a server: %q", out.String())
	}
}

func TestPrintVersionStructured(t *testing.T) {
	for _, format := range []string{"json", "yaml"} {
		var out bytes.Buffer
		if err := printVersion(&out, format, sampleVersion); err != nil {
			t.Fatal(err)
		}
		var back VersionInfo
		var err error
		if format == "json" {
			err = json.Unmarshal(out.Bytes(), &back)
		} else {
			err = yaml.Unmarshal(out.Bytes(), &back)
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", format, err, out.String())
		}
		if back.ClientVersion != sampleVersion.ClientVersion || back.ServerVersion.GitVersion != "v1.36.3" {
			t.Errorf("%s round trip: got %+v", format, back)
		}
	}
}

func TestVersionValidateNamesTheFlag(t *testing.T) {
	o := &VersionOptions{Output: "xml"}
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), "--output") || !strings.Contains(err.Error(), "json, jsonpath") {
		t.Errorf("got %v", err)
	}
	for _, ok := range []string{"", "json", "yaml", "name", "jsonpath={.clientVersion.version}"} {
		if err := (&VersionOptions{Output: ok}).Validate(); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// execute runs the root command with args and returns the exit code, stdout and stderr.
func execute(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	root := NewRootCommand(streams)
	root.SetArgs(args)
	code := Execute(root, streams)
	return code, out.String(), errOut.String()
}

func TestRootPresentsItselfAsKubectlDelegate(t *testing.T) {
	code, out, errOut := execute("version", "--help")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "kubectl delegate version [flags]") {
		t.Errorf("usage line does not say `kubectl delegate version`:\n%s", out)
	}
	// kubectl's global flags are all there.
	for _, flag := range []string{"--kubeconfig", "--context", "--namespace", "--as", "--request-timeout", "--server"} {
		if !strings.Contains(out, flag) {
			t.Errorf("help lacks %s", flag)
		}
	}

	code, out, errOut = execute("version", "--client", "-o", "json")
	if code != 0 {
		t.Fatalf("--client needs no cluster, got exit %d: %s", code, errOut)
	}
	var info VersionInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.ServerVersion != nil || info.ClientVersion.Version == "" {
		t.Errorf("--client -o json: %v %s", err, out)
	}

	code, _, errOut = execute("bogus")
	if code != 1 || errOut != "error: unknown command \"bogus\" for \"kubectl delegate\"\n" {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut)
	}
}

func TestCompletionScriptNamesThePlugin(t *testing.T) {
	code, out, errOut := execute("completion", "bash")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "__start_kubectl-delegate") {
		t.Errorf("bash completion does not complete kubectl-delegate:\n%.300s", out)
	}
}
