package diagnose

import (
	"fmt"
	"strings"
	"testing"
)

func TestTailWriterKeepsWhatDoctorReads(t *testing.T) {
	var log strings.Builder
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&log, "line %d\n", i)
	}
	for _, tc := range []struct {
		opts      LogOptions
		chunk     int
		wantFirst string
		wantLines int
	}{
		{LogOptions{TailLines: 2000, LimitBytes: 256 << 10}, 7, "line 3000\n", 2000},
		{LogOptions{TailLines: 2000, LimitBytes: 100}, 4096, "line 4990\n", 10},
		{LogOptions{TailLines: 3, LimitBytes: 1 << 20}, 1 << 20, "line 4997\n", 3},
	} {
		w := NewTailWriter(tc.opts)
		data := log.String()
		for i := 0; i < len(data); i += tc.chunk {
			_, _ = w.Write([]byte(data[i:min(i+tc.chunk, len(data))]))
		}
		got := w.String()
		if !strings.HasPrefix(got, tc.wantFirst) || strings.Count(got, "\n") != tc.wantLines || !strings.HasSuffix(got, "line 4999\n") {
			t.Errorf("%+v: kept %d lines from %q", tc.opts, strings.Count(got, "\n"), got[:min(len(got), 20)])
		}
		if len(got) > int(tc.opts.LimitBytes) {
			t.Errorf("%+v: kept %d bytes", tc.opts, len(got))
		}
	}
}
