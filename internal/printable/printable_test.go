package printable

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"prod-delegate":           "prod-delegate",
		"Ünïcode naïve 日本":        "Ünïcode naïve 日本",
		"fake\nNAMESPACE  NAME":   `fake\nNAMESPACE  NAME`,
		"\x1b[2J\x1b]0;title\x07": `\x1b[2J\x1b]0;title\x07`,
		"tab\there":               `tab\there`,
		"cr\rover":                `cr\rover`,
		"c1\u009b31m":             `c1\u009b31m`,
		"bidi\u202eevil":          `bidi\u202eevil`,
		"bad\xffutf8":             `bad\xffutf8`,
		"del\x7f":                 `del\x7f`,
		`back\slash stays`:        `back\slash stays`,
		"":                        "",
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"a", "\x1b[31m", "\n", "\u009b", "\xff", "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if !utf8.ValidString(out) {
			t.Fatalf("String(%q) = %q is not valid UTF-8", s, out)
		}
		for _, r := range out {
			if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
				t.Fatalf("String(%q) = %q keeps %U", s, out, r)
			}
		}
	})
}
