package diagnose

import "bytes"

// TailWriter keeps what doctor reads of a log streaming past it: its last TailLines lines,
// at most LimitBytes of them, the most recent kept. collect writes each log into the bundle
// and the snapshot's tail from one read, instead of asking the API server twice. Memory is
// bounded by twice LimitBytes, however long the log.
type TailWriter struct {
	opts LogOptions
	buf  []byte
}

// NewTailWriter keeps the tail opts bound (doctor's defaults where unset).
func NewTailWriter(opts LogOptions) *TailWriter {
	opts.defaults()
	return &TailWriter{opts: opts}
}

// Write never fails.
func (t *TailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*int(t.opts.LimitBytes) {
		t.trim()
	}
	return len(p), nil
}

// String is the tail.
func (t *TailWriter) String() string {
	t.trim()
	return string(t.buf)
}

// trim keeps whole lines: the last LimitBytes bytes from a line start, then the last
// TailLines lines.
func (t *TailWriter) trim() {
	if limit := int(t.opts.LimitBytes); len(t.buf) > limit {
		cut := len(t.buf) - limit
		if i := bytes.IndexByte(t.buf[cut-1:], '\n'); i >= 0 {
			cut += i
		} else {
			cut = len(t.buf)
		}
		t.buf = append(t.buf[:0], t.buf[cut:]...)
	}
	lines, end := 0, len(t.buf)
	if end > 0 && t.buf[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if t.buf[i] == '\n' {
			if lines++; lines == int(t.opts.TailLines) {
				t.buf = append(t.buf[:0], t.buf[i+1:]...)
				return
			}
		}
	}
}
