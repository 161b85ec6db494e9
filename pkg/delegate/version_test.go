package delegate

import (
	"strings"
	"testing"
	"time"
)

func TestParseImage(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	cases := []struct {
		ref  string
		want Image
	}{
		{"harness/delegate:25.10.87000", Image{Repository: "harness/delegate", Tag: "25.10.87000"}},
		{"harness/delegate:24.07.83605.minimal", Image{Repository: "harness/delegate", Tag: "24.07.83605.minimal"}},
		{"harness/delegate:latest", Image{Repository: "harness/delegate", Tag: "latest"}},
		{"harness/delegate", Image{Repository: "harness/delegate"}},
		{"us-docker.pkg.dev/gar-prod-setup/harness-public/harness/delegate:25.01.84800",
			Image{Repository: "us-docker.pkg.dev/gar-prod-setup/harness-public/harness/delegate", Tag: "25.01.84800"}},
		{"registry.local:5000/harness/delegate", Image{Repository: "registry.local:5000/harness/delegate"}},
		{"registry.local:5000/harness/delegate:25.03.85000", Image{Repository: "registry.local:5000/harness/delegate", Tag: "25.03.85000"}},
		{"harness/delegate:25.10.87000@" + digest, Image{Repository: "harness/delegate", Tag: "25.10.87000", Digest: digest}},
		{"harness/delegate@" + digest, Image{Repository: "harness/delegate", Digest: digest}},
		// Written out, docker.io stays: Repository is the name as written.
		{"docker.io/harness/delegate:25.10.87000", Image{Repository: "docker.io/harness/delegate", Tag: "25.10.87000"}},
		{"", Image{}},
		// Not a reference any runtime pulls (a digest too short, upper case): kept whole.
		{"harness/delegate@sha256:abcd", Image{Repository: "harness/delegate@sha256:abcd"}},
		{"Harness/Delegate:1", Image{Repository: "Harness/Delegate:1"}},
	}
	for _, tc := range cases {
		if got := ParseImage(tc.ref); got != tc.want {
			t.Errorf("ParseImage(%q) = %+v, want %+v", tc.ref, got, tc.want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	cases := []struct {
		tag  string
		want Version
		ok   bool
	}{
		{"25.10.87000", Version{Year: 2025, Month: 10, Build: 87000}, true},
		{"24.07.83605.minimal", Version{Year: 2024, Month: 7, Build: 83605, Minimal: true}, true},
		{"23.02.78306", Version{Year: 2023, Month: 2, Build: 78306}, true},
		{"latest", Version{}, false},
		{"", Version{}, false},
		{"25.13.87000", Version{}, false},       // no 13th month
		{"25.00.87000", Version{}, false},       // no month 0
		{"25.1.87000", Version{}, false},        // month is two digits
		{"2025.10.87000", Version{}, false},     // year is two digits
		{"25.10", Version{}, false},             // no build number
		{"25.10.87000.debug", Version{}, false}, // unknown suffix
		{"25.10.87000-minimal", Version{}, false},
		{"v25.10.87000", Version{}, false},
		{"25.10.abc", Version{}, false},
		{" 25.10.87000", Version{}, false},
		{"1.0.0", Version{}, false},
	}
	for _, tc := range cases {
		got, ok := ParseVersion(tc.tag)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseVersion(%q) = %+v, %v; want %+v, %v", tc.tag, got, ok, tc.want, tc.ok)
		}
	}
	if v, _ := ParseVersion("24.07.83605.minimal"); v.String() != "24.07.83605" {
		t.Errorf("String() = %q", v.String())
	}
}

func TestSupportAt(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }
	cases := []struct {
		tag  string
		now  time.Time
		want SupportStatus
	}{
		{"25.10.87000", day(2025, 10, 1), Supported},
		{"25.10.87000", day(2026, 3, 31), Supported},    // last day of the 6th month
		{"25.10.87000", day(2026, 4, 1), EndOfSupport},  // 6 months after the release month
		{"25.10.87000", day(2026, 5, 31), EndOfSupport}, // still before end of life
		{"25.10.87000", day(2026, 6, 1), EndOfLife},     // 8 months after
		{"24.07.83605.minimal", day(2026, 11, 20), EndOfLife},
		{"26.09.90000", day(2026, 11, 20), Supported},
		{"26.05.89000", day(2026, 11, 20), EndOfSupport}, // Nov 2026 is in [Nov 1, Jan 1)
		{"latest", day(2026, 11, 20), UnknownSupport},
		{"not-a-version", day(2026, 11, 20), UnknownSupport},
		{"25.13.1", day(2026, 11, 20), UnknownSupport},
	}
	for _, tc := range cases {
		got := SupportAt(tc.tag, tc.now)
		if got.Status != tc.want {
			t.Errorf("SupportAt(%q, %s) = %s, want %s", tc.tag, tc.now.Format("2006-01-02"), got.Status, tc.want)
		}
		if tc.want == UnknownSupport && (got.Released != nil || got.EndOfLife != nil) {
			t.Errorf("%q: unknown support must carry no dates, got %+v", tc.tag, got)
		}
	}
	s := SupportAt("25.10.87000", day(2025, 11, 1))
	if s.EndOfSupport.Format("2006-01-02") != "2026-04-01" || s.EndOfLife.Format("2006-01-02") != "2026-06-01" {
		t.Errorf("dates: %+v", s)
	}
}
