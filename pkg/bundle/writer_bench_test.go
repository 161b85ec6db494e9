package bundle

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkWriterAdd is collect's path for one log: redaction, the spool and compression
// into the archive. MB/s here is what a CPU-second of collect turns into a bundle.
func BenchmarkWriterAdd(b *testing.B) {
	r := NewRedactor([]string{testToken})
	var buf bytes.Buffer
	for i := 0; buf.Len() < 8<<20; i++ {
		buf.WriteString("2026-01-02 03:04:05,678 [pool-1-thread-3] INFO  io.harness.delegate.service.DelegateAgentServiceImpl - Sending heartbeat to manager for delegate dlg-7f3a seq=")
		buf.WriteString(string(rune('a' + i%26)))
		buf.WriteString("\n")
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		w := NewWriter(io.Discard, "bundle", r, Index{})
		if err := w.Add("ns/d/pods/p/delegate.log", nil, func(out io.Writer) error {
			_, err := out.Write(data)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		if _, err := w.Close("", w.modTime); err != nil {
			b.Fatal(err)
		}
	}
}
