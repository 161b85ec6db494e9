package diagnose

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestRequiredLiterals(t *testing.T) {
	for re, want := range map[string][]string{
		`used (expired|revoked) token`:         {"expired", "revoked"},
		`Account ID: \S+ not found`:            {"Account ID: "},
		`x509:|PKIX|unable to find valid cert`: {"x509:", "PKIX", "unable to find valid cert"},
		`SocketTimeoutException: [Cc]onnect timed out|ConnectException: Connection refused`: nil, // checked below: any required set
		`(?i)password`: nil,
		`a*`:           nil,
	} {
		got := requiredLiterals(regexp.MustCompile(re))
		if want != nil && !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", re, got, want)
		}
		if (re == `(?i)password` || re == `a*`) && got != nil {
			t.Errorf("%s: %q, want none (no literal is required)", re, got)
		}
	}
	// Every known line has a prefilter, or doctor runs its regexp on every line again.
	for i, p := range logPatterns {
		if len(logHints[i]) == 0 {
			t.Errorf("pattern %s has no required literal", p.re)
		}
	}
}

// The prefilter changes nothing but the work: whatever scanLog finds with it, every
// pattern run on every line finds too.
func FuzzScanLogPrefilter(f *testing.F) {
	f.Add("INFO start\nERROR java.net.UnknownHostException: app.harness.io\nDelegate registered with id x")
	f.Add("used revoked token\nAccount ID: abc not found")
	f.Fuzz(func(t *testing.T, text string) {
		got, gotLine, gotReg := scanLog(text)
		want, wantLine, wantReg := scanLogEveryLine(text)
		if got != want || gotLine != wantLine || gotReg != wantReg {
			t.Fatalf("%q: prefiltered %v %q %v, every line %v %q %v", text, got, gotLine, gotReg, want, wantLine, wantReg)
		}
	})
}

// scanLogEveryLine is scanLog without the prefilter.
func scanLogEveryLine(text string) (failure *logPattern, line string, registered bool) {
	for _, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if registeredRE.MatchString(l) {
			registered, failure, line = true, nil, ""
			continue
		}
		for i := range logPatterns {
			if p := &logPatterns[i]; p.re.MatchString(l) {
				if failure == nil || p.specificity >= failure.specificity {
					failure, line, registered = p, excerpt(l), false
				}
				break
			}
		}
	}
	return failure, line, registered
}

// BenchmarkScanLog is doctor's log check on one 256 KiB tail of ordinary delegate lines.
func BenchmarkScanLog(b *testing.B) {
	var sb strings.Builder
	for sb.Len() < 256<<10 {
		sb.WriteString("2026-01-02 03:04:05,678 [pool-1-thread-3] INFO  io.harness.delegate.service.DelegateAgentServiceImpl - Sending heartbeat to manager\n")
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		scanLog(text)
	}
}
