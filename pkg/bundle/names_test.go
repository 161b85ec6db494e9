package bundle

import (
	"bytes"
	"io"
	"net/url"
	"strings"
	"testing"
	"unicode"
)

// A name from the cluster (DELEGATE_NAME is any string) must stay one path component.
func TestComponentIsOneSafePathComponent(t *testing.T) {
	for in, want := range map[string]string{
		"prod-delegate":        "prod-delegate",
		"harness.delegate-0":   "harness.delegate-0",
		"../../../../tmp/x":    "..%2F..%2F..%2F..%2Ftmp%2Fx",
		"..":                   "%2E%2E",
		".":                    "%2E",
		"":                     "%",
		"a/b":                  "a%2Fb",
		"a\\b":                 "a%5Cb",
		"fake\x1b[2J\x07row\n": "fake%1B%5B2J%07row%0A",
		"50%":                  "50%25",
		"Ünïcode":              "%C3%9Cn%C3%AFcode",
	} {
		if got := Component(in); got != want {
			t.Errorf("Component(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzComponent(f *testing.F) {
	for _, s := range []string{"prod", "..", ".", "", "a/b", "\x00", "%2F", "../x", "x\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Component(s)
		if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "/\\") {
			t.Fatalf("Component(%q) = %q is not one path component", s, c)
		}
		for _, r := range c {
			if r > unicode.MaxASCII || unicode.IsControl(r) {
				t.Fatalf("Component(%q) = %q holds %q", s, c, r)
			}
		}
		if _, err := memberName("root/" + c + "/file"); err != nil {
			t.Fatalf("Component(%q) = %q is refused by the reader: %v", s, c, err)
		}
		// Escaping keeps names apart: two delegates never share a directory.
		if c != "%" {
			back, err := url.PathUnescape(c)
			if err != nil || back != s {
				t.Fatalf("Component(%q) = %q does not decode back (%q, %v)", s, c, back, err)
			}
		}
	})
}

// The writer is the last line: whatever a caller builds, no member leaves the root.
func TestWriterRefusesUncleanMemberNames(t *testing.T) {
	for _, name := range []string{
		"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", "a\\b", "a\x00b", "ns/\x1b[2J/x.log", "..", ".",
	} {
		w := NewWriter(&bytes.Buffer{}, "bundle", nil, Index{})
		err := w.Add(name, nil, func(io.Writer) error { return nil })
		if err == nil {
			t.Errorf("Add(%q) was accepted", name)
		}
		if _, err := w.Close("", w.modTime); err != nil {
			t.Fatal(err)
		}
	}
	w := NewWriter(&bytes.Buffer{}, "bundle", nil, Index{})
	if err := w.Add("ns/prod/pods/prod-0/delegate.log", nil, func(io.Writer) error { return nil }); err != nil {
		t.Errorf("a clean name was refused: %v", err)
	}
}
