package diagnose

import (
	"fmt"
	"io"
	"slices"
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
	APIVersion string  `json:"apiVersion"`
	Kind       string  `json:"kind"`
	Summary    Summary `json:"summary"`
	// Causes are, per delegate with a warning or failure, the most likely cause: what to
	// fix first.
	Causes   []Cause   `json:"causes,omitempty"`
	Findings []Finding `json:"findings"`
	// ContextErrors are the contexts of a run over several (doctor --contexts) that could
	// not be read; the findings are the other contexts'.
	ContextErrors []ContextError `json:"contextErrors,omitempty"`
}

// Cause is a delegate's most likely cause: the finding to fix first, and the IDs of the
// findings about the delegate that follow from it.
type Cause struct {
	// Delegate is "namespace/name".
	Delegate string  `json:"delegate"`
	ID       string  `json:"id"`
	Verdict  Verdict `json:"verdict"`
	Subject  string  `json:"subject"`
	Finding  string  `json:"finding"`
	Hint     string  `json:"hint,omitempty"`
	// Explains are the IDs of the delegate's other warnings and failures of the layers
	// after the cause's: the symptoms.
	Explains []string `json:"explains,omitempty"`
	// Context is the delegate's kubeconfig context in a run over several; "" otherwise.
	Context string `json:"context,omitempty"`
}

// causeLayers are the categories that make the chain a delegate runs through: the pod's
// layers and its log. A failure there comes before any elsewhere (a configuration setting)
// in the ranking of causes; within them, table order ranks.
var causeLayers = map[Category]bool{CategoryPods: true, CategoryLogs: true}

// causeRank orders a delegate's findings as causes, lowest first: failures before
// warnings, the layers before the rest, and within them symptoms last, a pod's before the
// workload's; table order breaks ties.
func causeRank(f Finding) int {
	r := int(f.symptom)
	if !causeLayers[f.Category] {
		r += 3
	}
	if f.Verdict != Fail {
		r += 6
	}
	return r
}

// causes picks each delegate's cause from findings in table order: its first failure of a
// layer (a symptom's last), else its first failure, else the same for warnings.
func causes(findings []Finding) []Cause {
	var order []string
	byDelegate := map[string][]Finding{}
	for _, f := range findings {
		if f.Delegate == "" || (f.Verdict != Fail && f.Verdict != Warn) {
			continue
		}
		// The same namespace/name in two contexts is two delegates.
		key := f.Context + "\x00" + f.Delegate
		if _, ok := byDelegate[key]; !ok {
			order = append(order, key)
		}
		byDelegate[key] = append(byDelegate[key], f)
	}
	var out []Cause
	for _, d := range order {
		fs := byDelegate[d]
		top := -1
		for i, f := range fs {
			if top < 0 || causeRank(f) < causeRank(fs[top]) {
				top = i
			}
		}
		c := fs[top]
		cause := Cause{Delegate: c.Delegate, Context: c.Context, ID: c.ID, Verdict: c.Verdict, Subject: c.Subject, Finding: c.Finding, Hint: c.Hint}
		if causeLayers[c.Category] {
			// The symptoms: the layers' findings that rank after the cause.
			for i, f := range fs {
				after := causeRank(f) > causeRank(c) || (causeRank(f) == causeRank(c) && i > top)
				if after && causeLayers[f.Category] && f.ID != c.ID && !slices.Contains(cause.Explains, f.ID) {
					cause.Explains = append(cause.Explains, f.ID)
				}
			}
		}
		out = append(out, cause)
	}
	return out
}

// NewReport counts the findings and names each delegate's cause; the findings stay in
// check-table order, so two runs compare line by line.
func NewReport(findings []Finding) Report {
	r := Report{APIVersion: "kubectl-delegate.dev/v1", Kind: "DoctorReport", Findings: findings, Causes: causes(findings)}
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

// Top is the most severe finding: the first delegate's cause that is a failure, else the
// first failure, else the first warning (a cause first).
func (r Report) Top() (Finding, bool) {
	for _, want := range []Verdict{Fail, Warn} {
		for _, c := range r.Causes {
			if c.Verdict == want {
				return Finding{ID: c.ID, Verdict: c.Verdict, Subject: c.Subject, Finding: c.Finding, Hint: c.Hint, Delegate: c.Delegate, Context: c.Context}, true
			}
		}
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
	if len(r.ContextErrors) > 0 {
		b.WriteString("Contexts not read\n-----------------\n")
		for _, e := range r.ContextErrors {
			fmt.Fprintf(&b, "%s context %s: %s\n", paint(Fail, marks[Fail]), printable.String(e.Context), printable.String(e.Error))
		}
		b.WriteString("\n")
	}
	// Each failing delegate's cause first, with its fix and the findings it explains.
	if len(r.Causes) > 0 {
		b.WriteString("Causes\n------\n")
		for _, c := range r.Causes {
			fmt.Fprintf(&b, "%s %s %s: %s\n", paint(c.Verdict, marks[c.Verdict]), c.ID, printable.String(inContext(c.Context, c.Subject)), printable.String(c.Finding))
			if c.Hint != "" {
				fmt.Fprintf(&b, "    %s\n", printable.String(c.Hint))
			}
			if len(c.Explains) > 0 {
				fmt.Fprintf(&b, "    explains %s\n", strings.Join(c.Explains, ", "))
			}
		}
		b.WriteString("\n")
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
		fmt.Fprintf(&b, "%s %s %s: %s\n", paint(f.Verdict, marks[f.Verdict]), f.ID, printable.String(inContext(f.Context, f.Subject)), printable.String(f.Finding))
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

// inContext names the context before a subject in a run over several contexts.
func inContext(context, subject string) string {
	if context == "" {
		return subject
	}
	return "[" + context + "] " + subject
}
