package cmd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// --list-checks reads only the tables: no kubeconfig, and no request to the server it names.
func TestDoctorListChecksNeedsNoCluster(t *testing.T) {
	var requests atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer server.Close()
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	want := diagnose.ListChecks()

	// No kubeconfig at all: connecting would fail.
	code, out, errOut := execute("doctor", "--list-checks")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want.Items)+1 || strings.Join(strings.Fields(lines[0]), " ") != "ID CATEGORY SUBSETS TITLE" {
		t.Fatalf("want a header and %d rows:\n%s", len(want.Items), out)
	}
	for i, c := range want.Items {
		if row := lines[i+1]; !strings.HasPrefix(row, c.ID+" ") || !strings.Contains(row, strings.Join(c.Subsets, ",")) || !strings.HasSuffix(row, c.Title) {
			t.Errorf("row %d %q does not show %+v", i+1, row, c)
		}
	}

	// A server to ask: nothing is asked of it.
	code, out, errOut = execute("doctor", "--list-checks", "-o", "json", "--server", server.URL)
	if code != 0 || errOut != "" {
		t.Fatalf("-o json: exit %d, stderr %q", code, errOut)
	}
	var got diagnose.CheckList
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || got.Kind != "CheckList" {
		t.Errorf("-o json gave %+v", got)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d request(s) to the API server", n)
	}
}

func TestDoctorListChecksGoesAlone(t *testing.T) {
	for _, args := range [][]string{{"-A"}, {"prod"}, {"--pre"}, {"--bundle", "b.tar.gz"}, {"--ecs-task-spec", "t.json"}} {
		code, _, errOut := execute(append([]string{"doctor", "--list-checks"}, args...)...)
		if code != 1 || !strings.Contains(errOut, "--list-checks") {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
}

// The README's check table is the check table: the same IDs in the same order, with the
// same categories and subsets. A row added to a table and not to the README fails here.
func TestREADMECheckTableIsTheCheckTable(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := readmeCheckTable(string(data))
	if err != nil {
		t.Fatal(err)
	}
	var want [][3]string
	for _, c := range diagnose.ListChecks().Items {
		want = append(want, [3]string{c.ID, string(c.Category), strings.Join(c.Subsets, ", ")})
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("README.md's check table (ID, category, subsets) differs from doctor --list-checks:\nREADME: %q\ntables: %q", rows, want)
	}
}

// readmeCheckTable reads the ID, category and subsets columns of the table headed
// "| ID | category | subsets | checks |" in the section on kubectl delegate doctor.
func readmeCheckTable(readme string) ([][3]string, error) {
	const section, header = "### `kubectl delegate doctor", "| ID | category | subsets | checks |"
	start := strings.Index(readme, section)
	if start < 0 {
		return nil, fmt.Errorf("README.md has no section %q", section)
	}
	readme = readme[start:]
	if end := strings.Index(readme[len(section):], "\n### "); end >= 0 {
		readme = readme[:len(section)+end]
	}
	at := strings.Index(readme, header)
	if at < 0 {
		return nil, fmt.Errorf("the doctor section of README.md has no table %q", header)
	}
	lines := strings.Split(readme[at:], "\n")[2:] // past the header and its rule
	var rows [][3]string
	for _, line := range lines {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 4 {
			return nil, fmt.Errorf("README.md table row %q has fewer than 4 cells", line)
		}
		rows = append(rows, [3]string{strings.TrimSpace(cells[0]), strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])})
	}
	return rows, nil
}
