// Package printable makes text read from a cluster or a bundle safe to print for people.
// Object names, labels, log lines and messages can hold any bytes: raw, an ESC or a C1
// control moves the cursor or rewrites the screen, a newline starts a fake table row, and a
// bidi override reorders what the reader sees. JSON and YAML output stay exact; only text
// meant for a terminal goes through here.
package printable

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every control character (C0, DEL, C1), bidi control and invalid
// UTF-8 byte written as a Go escape (\n, \x1b, \u009b, \xff); everything else, non-ASCII
// letters included, is unchanged. Backslashes are not escaped: the result is for reading,
// not for parsing back.
func String(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafe(r):
			b.WriteString(escape(r))
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= utf8.RuneSelf {
			// Non-ASCII is usually fine; look closer only then.
			return c < utf8.RuneSelf || !utf8.ValidString(s) || strings.IndexFunc(s, unsafe) >= 0
		}
	}
	return false
}

func unsafe(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }

func escape(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	if r < 0x80 {
		return fmt.Sprintf(`\x%02x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}
