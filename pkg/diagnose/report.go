package diagnose

import (
	"fmt"
	"io"
	"strings"

	"github.com/kubectl-delegate/kubectl-delegate/internal/printable"
)

// Summary counts findings by verdict.
type Summary struct {
	Pass int `json:"pass"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
	Skip int `json:"skip"`
}

// Report is doctor's output for machines: apiVersion kubectl-delegate.dev/v1, kind
// DoctorReport.
type Report struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Summary    Summary   `json:"summary"`
	Findings   []Finding `json:"findings"`
}

// NewReport counts the findings; they stay in check-table order, so two runs compare line by
// line.
func NewReport(findings []Finding) Report {
	r := Report{APIVersion: "kubectl-delegate.dev/v1", Kind: "DoctorReport", Findings: findings}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	for _, f := range findings {
		switch f.Verdict {
		case Pass:
			r.Summary.Pass++
		case Warn:
			r.Summary.Warn++
		case Fail:
			r.Summary.Fail++
		case Skip:
			r.Summary.Skip++
		}
	}
	return r
}

// Top is the most severe finding: the first failure, else the first warning.
func (r Report) Top() (Finding, bool) {
	for _, want := range []Verdict{Fail, Warn} {
		for _, f := range r.Findings {
			if f.Verdict == want {
				return f, true
			}
		}
	}
	return Finding{}, false
}

// Exit codes of doctor, documented in the README.
const (
	ExitOK       = 0
	ExitFailures = 3
	ExitWarnings = 4
)

// ExitCode is 3 with any failure, 4 with warnings only (3 when failOnWarn), else 0.
func (r Report) ExitCode(failOnWarn bool) int {
	switch {
	case r.Summary.Fail > 0:
		return ExitFailures
	case r.Summary.Warn > 0 && failOnWarn:
		return ExitFailures
	case r.Summary.Warn > 0:
		return ExitWarnings
	}
	return ExitOK
}

var marks = map[Verdict]string{Pass: "√", Warn: "‼", Fail: "×", Skip: "-"}

var colours = map[Verdict]string{Pass: "\033[32m", Warn: "\033[33m", Fail: "\033[31m", Skip: "\033[2m"}

// WriteText prints the report grouped by category, like linkerd check: a mark per finding,
// the hint indented under warnings and failures, and a summary line. Colour only when asked
// (a terminal, and NO_COLOR unset: the caller decides).
func (r Report) WriteText(w io.Writer, colour bool) error {
	var b strings.Builder
	paint := func(v Verdict, s string) string {
		if !colour {
			return s
		}
		return colours[v] + s + "\033[0m"
	}
	var category Category
	for _, f := range r.Findings {
		if f.Category != category {
			if category != "" {
				b.WriteString("\n")
			}
			category = f.Category
			fmt.Fprintf(&b, "%s\n%s\n", category, strings.Repeat("-", len(category)))
		}
		// Subjects, findings and hints quote names, messages and log lines from the cluster.
		fmt.Fprintf(&b, "%s %s %s: %s\n", paint(f.Verdict, marks[f.Verdict]), f.ID, printable.String(f.Subject), printable.String(f.Finding))
		if f.Hint != "" && (f.Verdict == Warn || f.Verdict == Fail) {
			fmt.Fprintf(&b, "    %s\n", printable.String(f.Hint))
		}
	}
	s := r.Summary
	verdict := Pass
	switch {
	case s.Fail > 0:
		verdict = Fail
	case s.Warn > 0:
		verdict = Warn
	}
	fmt.Fprintf(&b, "\nStatus check results are %s: %d failed, %d warnings, %d passed, %d skipped\n",
		paint(verdict, marks[verdict]), s.Fail, s.Warn, s.Pass, s.Skip)
	_, err := io.WriteString(w, b.String())
	return err
}
