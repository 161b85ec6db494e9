package collect

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/bundle"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// The snapshot streamed with its tails spliced in is, byte for byte, what MarshalJSON
// writes of the whole snapshot (what collect wrote before, and doctor --bundle reads).
func TestSpliceLogsWritesWhatMarshalJSONWrites(t *testing.T) {
	logs := map[string]diagnose.PodLogs{
		"ns/b-pod":   {Current: "line 1\nline <2> & \"3\"\t\u00e9\n", Previous: "before\n"},
		"ns/a-pod":   {Error: "forbidden: <user>"},
		"ns/c-pod":   {},
		"ns\"/odd\n": {Current: strings.Repeat("x", 70<<10)},
	}
	s := &diagnose.Snapshot{ServerVersion: "v1.36.3", CollectedAt: now, Delegates: []delegate.Delegate{{Name: "prod", Namespace: "ns"}},
		Logs: map[string]diagnose.PodLogs{}}
	doc := bundle.MarshalJSON(s)
	for _, tails := range []map[string]diagnose.PodLogs{logs, {}} {
		var got bytes.Buffer
		if err := spliceLogs(&got, doc, tails); err != nil {
			t.Fatal(err)
		}
		whole := *s
		whole.Logs = tails
		if want := bundle.MarshalJSON(&whole); !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%d tails: spliced\n%s\nwant\n%s", len(tails), got.Bytes(), want)
		}
	}
	if err := spliceLogs(&bytes.Buffer{}, []byte(`{"logs":{}}`), logs); err == nil {
		t.Error("a document without the snapshot's logs member was spliced into")
	}
}

// Tails wait in the store (a file) and come back as recorded, as doctor's gather records
// them; a tail that arrives after the snapshot was taken is left out.
func TestTailStoreGivesBackWhatWasRecorded(t *testing.T) {
	for _, inMemory := range []bool{false, true} {
		t.Run(fmt.Sprintf("in memory %v", inMemory), func(t *testing.T) {
			s := newTailStore()
			s.noFile = inMemory
			s.record("ns/a", false, false, "current of a\n", "", bundle.Counts{"jwt": 1})
			s.record("ns/a", true, false, "previous of a\n", "", bundle.Counts{"jwt": 2})
			s.record("ns/b", false, true, "", "forbidden", nil)
			s.record("ns/b", true, true, "", "no previous", nil)
			s.record("ns/c", true, true, "", "no previous", nil)
			s.record("ns/d", false, false, strings.Repeat("y", 300<<10), "", nil)
			if !inMemory && s.file == nil {
				t.Error("the tails are in memory, not in the file")
			}
			got, counts := s.take()
			want := map[string]diagnose.PodLogs{
				"ns/a": {Current: "current of a\n", Previous: "previous of a\n"},
				// As recordTail always did: the previous log's error replaces the current's.
				"ns/b": {Error: "no previous"},
				"ns/c": {Error: "previous: no previous"},
				"ns/d": {Current: strings.Repeat("y", 300<<10)},
			}
			if !maps.Equal(got, want) {
				t.Errorf("tails %v", got)
			}
			if counts["jwt"] != 3 {
				t.Errorf("counts %v", counts)
			}
			s.record("ns/e", false, false, "late\n", "", nil)
			if late, _ := s.take(); len(late) != 0 {
				t.Errorf("a tail recorded after take: %v", late)
			}
		})
	}
}
