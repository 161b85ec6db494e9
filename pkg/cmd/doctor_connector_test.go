package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// noServer is an API server address nothing listens on: a command that made a request
// would fail with connection refused instead of the error the test wants.
const noServer = "http://127.0.0.1:1"

func writeConnector(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "connector.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDoctorConnectorBadInputFailsBeforeAnyRequest(t *testing.T) {
	path := writeConnector(t, "connector:\n  identifier: spot\n  type: Spot\n  spec:\n    delegateSelectors: [east, 7]\n")
	code, _, errOut := execute("doctor", "--server", noServer, "--connector", path)
	if code != 1 || !strings.Contains(errOut, "connector.spec.delegateSelectors[1]: expected a delegate tag") || strings.Contains(errOut, "refused") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestDoctorConnectorOnThePlatformNeedsNoDelegate(t *testing.T) {
	path := writeConnector(t, "connector:\n  identifier: dockerhub\n  type: DockerRegistry\n  spec:\n    executeOnDelegate: false\n")
	code, out, errOut := execute("doctor", "--server", noServer, "--connector", path, "-o", "json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var r diagnose.ConnectorReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Kind != "ConnectorReport" || len(r.Connectors) != 1 || r.Connectors[0].Verdict != diagnose.Skip || r.Connectors[0].Identifier != "dockerhub" {
		t.Errorf("report %+v", r)
	}
	code, out, _ = execute("doctor", "--server", noServer, "--connector", path, "-o", "name")
	if code != 0 || out != "connector/dockerhub\n" {
		t.Errorf("-o name: exit %d, %q", code, out)
	}
}

func TestDoctorConnectorDoesNotGoWithOtherModes(t *testing.T) {
	path := writeConnector(t, "connector: {identifier: x, type: Git, spec: {}}\n")
	for _, args := range [][]string{{"NAME"}, {"--pre"}, {"--list-checks"}} {
		code, _, errOut := execute(append([]string{"doctor", "--server", noServer, "--connector", path}, args...)...)
		if code != 1 || !strings.Contains(errOut, "--connector") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestWriteConnectorText(t *testing.T) {
	r := diagnose.ConnectorReport{Connectors: []diagnose.ConnectorResult{
		{Connector: diagnose.Connector{Identifier: "spot\x1b[2J", Type: "Spot", ExecuteOnDelegate: true, Selectors: []string{"east"}},
			Verdict: diagnose.Pass, Finding: "served by 1 of the 2 delegates in scope, 1 of them healthy",
			Delegates: []diagnose.ConnectorDelegate{{Delegate: "ns/east", Verdict: diagnose.Pass}}},
		{Connector: diagnose.Connector{Identifier: "hub", Type: "DockerRegistry"}, Verdict: diagnose.Skip, Finding: "runs on the Harness platform"},
	}}
	var b bytes.Buffer
	if err := writeConnectorText(&b, r); err != nil {
		t.Fatal(err)
	}
	want := `√ connector spot\x1b[2J (Spot): served by 1 of the 2 delegates in scope, 1 of them healthy
    selectors: east
DELEGATE   VERDICT   CAUSE
ns/east    pass      -

- connector hub (DockerRegistry): runs on the Harness platform
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestDoctorConnectorReadsStdin(t *testing.T) {
	// execute's stdin is empty: the file read is stdin's, and it holds no connector.
	code, _, errOut := execute("doctor", "--server", noServer, "--connector", "-")
	if code != 1 || !strings.Contains(errOut, "--connector -: no connector in the file") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
