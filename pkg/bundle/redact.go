package bundle

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"regexp"
	"sort"
	"strings"
)

// Marker replaces every redacted value.
const Marker = "[REDACTED]"

// MinSecretLength is the shortest Secret value redacted literally: shorter values ("true",
// "1", a port) occur everywhere and would make the bundle unreadable without hiding anything.
const MinSecretLength = 6

// Counts are the redactions made, by rule name.
type Counts map[string]int

// Add adds other's counts to c.
func (c Counts) Add(other Counts) {
	for k, v := range other {
		c[k] += v
	}
}

// Total is the number of redactions of every rule.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// rule is one pattern whose match (or whose first group) is a secret.
type rule struct {
	name string
	re   *regexp.Regexp
	// hints: the rule only runs on text containing one of them, which keeps the regexp
	// engine off the vast majority of log lines.
	hints [][]byte
}

func hints(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, h := range s {
		out[i] = []byte(h)
	}
	return out
}

// Values end at whitespace, quotes, backslashes (JSON-escaped quotes) and separators; a value
// starting with "<" is kubectl describe's "<set to the key ... in secret ...>", not a secret.
const value = `([^\s"'\\,;&}<\[][^\s"'\\,;&}]*)`

// keyValue matches KEY=value, KEY: value, "KEY":"value" and \"KEY\":\"value\" on one line.
func keyValue(key string) *regexp.Regexp {
	return regexp.MustCompile(key + `\\?["']?[ \t]*[=:][ \t]*\\?["']?` + value)
}

// rules are the patterns redacted in everything the bundle holds. Each names what it hides,
// for the counts in index.json. Regexps never match across a newline (the streaming writer
// works a line at a time); private keys, which span lines, are handled apart.
var rules = []rule{
	{"delegate-token", keyValue(`\b(?:DELEGATE_TOKEN|UPGRADER_TOKEN|ACCOUNT_SECRET)`), hints("_TOKEN", "_SECRET")},
	{"jwt", regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`), hints("eyJ")},
	{"bearer-token", regexp.MustCompile(`(?i)\bbearer[ \t]+([A-Za-z0-9._~+/=-]{8,})`), hints("earer", "EARER")},
	{"authorization", regexp.MustCompile(`(?i)authorization\\?["']?[ \t]*[=:][ \t]*\\?["']?(?:basic|token)[ \t]+([A-Za-z0-9._~+/=-]+)`), hints("uthorization", "UTHORIZATION")},
	{"url-password", regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@"']*:([^/\s@"']+)@`), hints("://")},
	{"password", keyValue(`(?i)passw(?:or)?d`), hints("assw", "ASSW")},
	{"query-secret", regexp.MustCompile(`(?i)[?&](?:token|access_token|api_?key|secret|signature|sig|x-amz-signature|x-amz-credential)=([^&\s"'\\]+)`), hints("?", "&")},
	// Access key ids (AKIA long-lived, ASIA temporary); AIDA, AROA and the like name users
	// and roles and are not secret.
	{"aws-access-key-id", regexp.MustCompile(`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`), hints("AKIA", "ASIA")},
	{"aws-secret-key", keyValue(`(?i)aws_?secret_?(?:access_?)?key`), hints("ws_secret", "WS_SECRET", "wsSecret", "WSSecret")},
}

var (
	pemBegin = regexp.MustCompile(`-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----`)
	pemEnd   = regexp.MustCompile(`-----END[A-Z0-9 ]*PRIVATE KEY-----`)
)

const (
	ruleSecret     = "secret-value"
	rulePrivateKey = "private-key"
)

// Redactor hides secrets: the literal values it is given (the delegate's Secrets, inline
// tokens) and the patterns in rules. It is safe for concurrent use; the streams it makes are
// not.
type Redactor struct {
	literals [][]byte
	// overlap is what a stream keeps back when it must cut a line that has no end in sight,
	// so that no literal (and no usual token) straddles the cut unseen.
	overlap int
}

// NewRedactor builds a redactor for the given secret values. Each is also hidden in its
// JSON-escaped and base64 forms, as it appears in JSON files and in Secret data.
func NewRedactor(secrets []string) *Redactor {
	seen := map[string]bool{}
	r := &Redactor{overlap: 4096}
	add := func(s string) {
		if len(s) < MinSecretLength || seen[s] {
			return
		}
		seen[s] = true
		r.literals = append(r.literals, []byte(s))
		r.overlap = max(r.overlap, 2*len(s))
	}
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		add(s)
		if escaped, err := json.Marshal(s); err == nil {
			add(string(escaped[1 : len(escaped)-1]))
		}
		// MarshalJSON writes <, > and & as they are (no HTML escaping).
		if escaped := MarshalJSON(s); len(escaped) > 3 {
			add(string(escaped[1 : len(escaped)-2]))
		}
		add(base64.StdEncoding.EncodeToString([]byte(s)))
	}
	// Longest first, so that a secret containing another is hidden whole.
	sort.Slice(r.literals, func(i, j int) bool { return len(r.literals[i]) > len(r.literals[j]) })
	return r
}

// byteCounts is how often each byte occurs in the text being searched (a sample of it).
type byteCounts [256]int

// sampleCounts counts the bytes of up to the first 16 KiB of b: enough to rank the bytes of
// a log, cheap next to the searches it speeds up.
func sampleCounts(b []byte) *byteCounts {
	var c byteCounts
	for _, x := range b[:min(len(b), 16<<10)] {
		c[x]++
	}
	return &c
}

// index is bytes.Index(s, needle), searching for the byte of needle that is rarest in s by
// counts: bytes.Index skips to the first byte, and a secret or hint that starts with a
// common letter stops it every few bytes (most of the redactor's time went there).
func index(s, needle []byte, counts *byteCounts) int {
	if len(needle) < 2 || len(s) < 4096 {
		return bytes.Index(s, needle)
	}
	k := 0
	for i, c := range needle {
		if counts[c] < counts[needle[k]] {
			k = i
		}
	}
	c := needle[k]
	for off := k; off < len(s); {
		i := bytes.IndexByte(s[off:], c)
		if i < 0 {
			return -1
		}
		if p := off + i - k; p+len(needle) <= len(s) && bytes.Equal(s[p:p+len(needle)], needle) {
			return p
		}
		off += i + 1
	}
	return -1
}

// span is one secret found in a text: text[start:end] is replaced by Marker.
type span struct {
	start, end int
	rule       string
}

// find returns the secrets in b, ordered and without overlaps, and whether b ends inside a
// private key. inKey says b starts inside one. With guards it also returns the whole matches
// (key and value, private key headers), which a stream must not cut through.
func (r *Redactor) find(b []byte, inKey, guards bool) ([]span, bool, []span) {
	var spans, whole []span
	counts := sampleCounts(b)
	for _, lit := range r.literals {
		for off := 0; ; {
			i := index(b[off:], lit, counts)
			if i < 0 {
				break
			}
			spans = append(spans, span{off + i, off + i + len(lit), ruleSecret})
			off += i + len(lit)
		}
	}
	// Only the lines holding one of a rule's hints, found with bytes.Index, go through the
	// rule's regexp: the regexp engine then sees a small part of a log, which is what makes
	// redaction fast.
	for _, ru := range rules {
		for _, ln := range hintLines(b, ru.hints, counts) {
			line := b[ln[0]:ln[1]]
			for _, m := range ru.re.FindAllSubmatchIndex(line, -1) {
				s, e := m[0], m[1]
				if len(m) >= 4 && m[2] >= 0 {
					s, e = m[2], m[3]
				}
				if e > s && string(line[s:e]) != Marker {
					spans = append(spans, span{ln[0] + s, ln[0] + e, ru.name})
				}
				if guards {
					whole = append(whole, span{ln[0] + m[0], ln[0] + m[1], ru.name})
				}
			}
		}
	}
	// Private keys: everything between BEGIN and END, across lines and across calls.
	pos := 0
	for {
		if inKey {
			end := pemEnd.FindIndex(b[pos:])
			if end == nil {
				if pos < len(b) {
					spans = append(spans, span{pos, len(b), rulePrivateKey})
				}
				break
			}
			if end[0] > 0 {
				spans = append(spans, span{pos, pos + end[0], rulePrivateKey})
			}
			if guards {
				whole = append(whole, span{pos + end[0], pos + end[1], rulePrivateKey})
			}
			pos += end[1]
			inKey = false
			continue
		}
		begin := pemBegin.FindIndex(b[pos:])
		if begin == nil {
			break
		}
		if guards {
			whole = append(whole, span{pos + begin[0], pos + begin[1], rulePrivateKey})
		}
		pos += begin[1]
		inKey = true
	}
	return merge(spans), inKey, whole
}

// hintLines are the [start, end) of each line of b holding one of hints, in order, once.
func hintLines(b []byte, hints [][]byte, counts *byteCounts) [][2]int {
	var lines [][2]int
	for _, h := range hints {
		for off := 0; off < len(b); {
			i := index(b[off:], h, counts)
			if i < 0 {
				break
			}
			p := off + i
			start := bytes.LastIndexByte(b[:p], '\n') + 1
			end := len(b)
			if j := bytes.IndexByte(b[p:], '\n'); j >= 0 {
				end = p + j + 1
			}
			lines = append(lines, [2]int{start, end})
			off = end
		}
	}
	if len(hints) > 1 && len(lines) > 1 {
		sort.Slice(lines, func(i, j int) bool { return lines[i][0] < lines[j][0] })
		out := lines[:1]
		for _, l := range lines[1:] {
			if l[0] != out[len(out)-1][0] {
				out = append(out, l)
			}
		}
		lines = out
	}
	return lines
}

// merge orders spans and joins overlapping ones; the first rule of a joined span names it.
func merge(spans []span) []span {
	if len(spans) < 2 {
		return spans
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].start != spans[j].start {
			return spans[i].start < spans[j].start
		}
		return spans[i].end > spans[j].end
	})
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s.start < last.end {
			last.end = max(last.end, s.end)
			continue
		}
		out = append(out, s)
	}
	return out
}

// apply writes b with the spans replaced by Marker and counts them.
func apply(w io.Writer, b []byte, spans []span, counts Counts) error {
	// Written piece by piece: a copy of b per call cost more than the regexps.
	prev := 0
	for _, s := range spans {
		if _, err := w.Write(b[prev:s.start]); err != nil {
			return err
		}
		if _, err := io.WriteString(w, Marker); err != nil {
			return err
		}
		counts[s.rule]++
		prev = s.end
	}
	_, err := w.Write(b[prev:])
	return err
}

// String redacts one string, as a whole.
func (r *Redactor) String(s string) (string, Counts) {
	counts := Counts{}
	b := []byte(s)
	spans, _, _ := r.find(b, false, false)
	if len(spans) == 0 {
		return s, counts
	}
	var out bytes.Buffer
	_ = apply(&out, b, spans, counts)
	return out.String(), counts
}

// RedactJSONText redacts a JSON document, as MarshalJSON writes it, one string at a time, as
// a walk over the decoded values would, but on the encoded text: every literal is also
// searched in its JSON-escaped forms and the patterns allow for escaped quotes. It holds no
// decoded tree (five times the document's size: snapshot.json holds every log tail, and
// collect's memory peaked there). A match never leaves its string, so the result is JSON.
func (r *Redactor) RedactJSONText(doc []byte) ([]byte, Counts) {
	counts := Counts{}
	var out bytes.Buffer
	out.Grow(len(doc))
	prev := 0
	for i := 0; i < len(doc); i++ {
		if doc[i] != '"' {
			continue
		}
		end := i + 1
		for end < len(doc) && doc[end] != '"' {
			if doc[end] == '\\' {
				end++
			}
			end++
		}
		end = min(end, len(doc))
		content := doc[i+1 : end]
		if spans, _, _ := r.find(content, false, false); len(spans) > 0 {
			spans = wholeEscapes(content, spans)
			out.Write(doc[prev : i+1])
			_ = apply(&out, content, spans, counts)
			prev = end
		}
		i = end
	}
	if prev == 0 {
		return doc, counts
	}
	out.Write(doc[prev:])
	return out.Bytes(), counts
}

// wholeEscapes widens spans that begin or end inside an escape sequence (\n, \", \u00e9) of a
// JSON string's content to the whole sequence: a pattern may start after the backslash
// (its keys allow an escaped quote), and a half-replaced escape is no longer JSON.
func wholeEscapes(content []byte, spans []span) []span {
	if bytes.IndexByte(content, '\\') < 0 {
		return spans
	}
	// start[i] is where the escape sequence holding content[i] begins, or -1.
	start := make([]int32, len(content))
	for i := 0; i < len(content); {
		n := 1
		if content[i] == '\\' {
			n = 2
			if i+1 < len(content) && content[i+1] == 'u' {
				n = 6
			}
			n = min(n, len(content)-i)
		}
		for j := i; j < i+n; j++ {
			start[j] = -1
			if n > 1 {
				start[j] = int32(i)
			}
		}
		i += n
	}
	for k := range spans {
		if s := spans[k].start; s < len(content) && start[s] >= 0 {
			spans[k].start = int(start[s])
		}
		if e := spans[k].end; e < len(content) && start[e] >= 0 && int(start[e]) < e {
			// e falls inside a sequence: take the rest of it.
			for e < len(content) && start[e] == start[spans[k].end] {
				e++
			}
			spans[k].end = e
		}
	}
	return merge(spans)
}

// maxLine is how much of one line a stream holds before it must cut it: memory stays flat
// however long a line is.
const maxLine = 256 << 10

// Stream is an io.WriteCloser that redacts what is written through it and passes it on to
// the underlying writer a line at a time. Close flushes the last, unterminated line.
type Stream struct {
	r      *Redactor
	w      io.Writer
	buf    []byte
	inKey  bool
	counts Counts
	err    error
}

// NewStream redacts everything written to it into w.
func (r *Redactor) NewStream(w io.Writer) *Stream {
	return &Stream{r: r, w: w, counts: Counts{}}
}

// Counts are the redactions made so far.
func (s *Stream) Counts() Counts { return s.counts }

// Write buffers p until whole lines are there and redacts them.
func (s *Stream) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	s.buf = append(s.buf, p...)
	// Only p can hold a newline: what was buffered before had none.
	if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
		s.emit(len(s.buf) - len(p) + i + 1)
	}
	for s.err == nil && len(s.buf) > maxLine {
		s.cut()
	}
	return len(p), s.err
}

// emit redacts and writes buf[:n], keeping the rest.
func (s *Stream) emit(n int) {
	spans, inKey, _ := s.r.find(s.buf[:n], s.inKey, false)
	s.inKey = inKey
	s.err = apply(s.w, s.buf[:n], spans, s.counts)
	s.buf = append(s.buf[:0], s.buf[n:]...)
}

// cut writes most of an overlong line, keeping back the last overlap bytes and any secret
// that crosses the cut, so that a secret is always seen whole.
func (s *Stream) cut() {
	spans, _, whole := s.r.find(s.buf, s.inKey, true)
	n := len(s.buf) - s.r.overlap
	// Moving the cut back may make it cross an earlier match: repeat until none crosses.
	for moved := true; moved; {
		moved = false
		for _, sp := range append(spans, whole...) {
			if sp.start < n && sp.end > n {
				n, moved = sp.start, true
			}
		}
	}
	if n <= 0 {
		// One secret fills the whole window (a private key, or a match with no end): write
		// it redacted rather than hold an unbounded line.
		n = len(s.buf)
	}
	s.emit(n)
}

// Close redacts and writes what is left. It does not close the underlying writer.
func (s *Stream) Close() error {
	if s.err == nil && len(s.buf) > 0 {
		s.emit(len(s.buf))
	}
	return s.err
}

// MarshalJSON is indented JSON without HTML escaping, ending in a newline.
func MarshalJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		// Only values json.Marshal already accepted, or decoded, come here.
		return []byte(`{"error": "` + strings.ReplaceAll(err.Error(), `"`, `'`) + `"}` + "\n")
	}
	return buf.Bytes()
}
