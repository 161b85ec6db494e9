package collect

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/bundle"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// tailStore holds the snapshot's log tails, redacted, from the moment each log is read
// until the snapshot is written, last. They wait in an unlinked temporary file: in memory
// they were the largest thing collect held while the logs streamed (up to 512 KiB a pod),
// beside every worker's buffers. If no temporary file can be made, they wait in memory.
type tailStore struct {
	mu     sync.Mutex
	file   *os.File
	size   int64
	noFile bool
	logs   map[string]storedLogs
	counts bundle.Counts
	// taken: the snapshot is being written; a tail that arrives later (a task still in
	// flight after an interrupt) is left out.
	taken bool
}

// storedLogs is diagnose.PodLogs with its texts in the store.
type storedLogs struct {
	current, previous storedText
	err               string
}

// storedText is a text in memory, or n bytes of the file at off.
type storedText struct {
	mem    string
	off, n int64
	onDisk bool
}

func newTailStore() *tailStore {
	return &tailStore{logs: map[string]storedLogs{}, counts: bundle.Counts{}}
}

// record puts one log's tail (or why it could not be read: msg) under key, as doctor's
// gather would have. tail and msg are redacted already; counts are what that hid.
func (s *tailStore) record(key string, previous, failed bool, tail, msg string, counts bundle.Counts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.taken {
		return
	}
	s.counts.Add(counts)
	logs := s.logs[key]
	switch {
	case previous && !failed:
		logs.previous = s.keep(tail)
	case previous && logs.err == "":
		logs.err = "previous: " + msg
	case !failed:
		logs.current = s.keep(tail)
	default:
		logs.err = msg
	}
	s.logs[key] = logs
}

// keep stores a text: appended to the file, or in memory when there is none.
func (s *tailStore) keep(text string) storedText {
	if text == "" {
		return storedText{}
	}
	if s.file == nil && !s.noFile {
		f, err := os.CreateTemp("", "kubectl-delegate-tails-*")
		if err != nil {
			s.noFile = true
			return storedText{mem: text}
		}
		// Unlinked at once: nothing is left behind however the process ends.
		_ = os.Remove(f.Name())
		s.file = f
	}
	if s.noFile {
		return storedText{mem: text}
	}
	n, err := io.WriteString(s.file, text)
	if err != nil {
		// The file is broken from here on (a full disk): this text and the next in memory.
		s.noFile = true
		_, _ = s.file.Seek(s.size, io.SeekStart)
		return storedText{mem: text}
	}
	t := storedText{off: s.size, n: int64(n), onDisk: true}
	s.size += int64(n)
	return t
}

// take ends the store and returns every tail read, with the redactions made in them. A
// tail the file no longer gives back is an error of its pod's logs, not of the snapshot.
func (s *tailStore) take() (map[string]diagnose.PodLogs, bundle.Counts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.taken = true
	out := make(map[string]diagnose.PodLogs, len(s.logs))
	for key, l := range s.logs {
		current, err1 := s.load(l.current)
		previous, err2 := s.load(l.previous)
		logs := diagnose.PodLogs{Current: current, Previous: previous, Error: l.err}
		if err := errors.Join(err1, err2); err != nil && logs.Error == "" {
			logs.Error = fmt.Sprintf("reading back the log tail: %v", err)
		}
		out[key] = logs
	}
	s.logs = nil
	if s.file != nil {
		_ = s.file.Close()
		s.file = nil
	}
	return out, s.counts
}

func (s *tailStore) load(t storedText) (string, error) {
	if !t.onDisk {
		return t.mem, nil
	}
	// Straight into the string's memory: one copy of the tail, not two.
	var b strings.Builder
	b.Grow(int(t.n))
	if n, err := io.Copy(&b, io.NewSectionReader(s.file, t.off, t.n)); err != nil || n != t.n {
		return "", cmp.Or(err, io.ErrUnexpectedEOF)
	}
	return b.String(), nil
}
