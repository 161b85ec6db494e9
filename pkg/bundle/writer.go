// Package bundle writes and reads support bundles: a tar.gz of the files collect gathers,
// each passed through a redactor on its way in, and an index.json saying what is there,
// what was hidden and what could not be collected. Reading is for untrusted archives.
package bundle

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"sync"
	"time"

	// A drop-in for compress/gzip: at BestSpeed it compresses delegate logs at about
	// 470 MB/s against the standard library's 12 MB/s at its default level (which set
	// collect's pace at 38 MB per CPU-second), for a 7% larger archive.
	"github.com/klauspost/compress/gzip"
)

// Names of the files at the root of every bundle.
const (
	IndexFile    = "index.json"
	SnapshotFile = "snapshot.json"
	DoctorJSON   = "doctor.json"
	DoctorText   = "doctor.txt"
)

// Index is index.json: what the bundle holds and how complete it is. Its JSON form is part
// of the bundle's documented layout.
type Index struct {
	APIVersion     string    `json:"apiVersion"`
	Kind           string    `json:"kind"`
	ToolVersion    string    `json:"toolVersion"`
	ClusterVersion string    `json:"clusterVersion,omitempty"`
	StartedAt      time.Time `json:"startedAt"`
	FinishedAt     time.Time `json:"finishedAt"`
	// Options are the collect flags, as collect was run.
	Options any `json:"options,omitempty"`
	// Redaction says whether secrets were hidden; false only when --redact=false was given.
	Redaction bool `json:"redaction"`
	// RedactionNote warns a reader of a bundle collected without redaction.
	RedactionNote string      `json:"redactionNote,omitempty"`
	Files         []FileEntry `json:"files"`
	Errors        []TaskError `json:"errors"`
	// Partial is true when any task failed or the collection was interrupted.
	Partial bool `json:"partial"`
	// Interrupted says why collection stopped early (interrupt, lost API server).
	Interrupted string `json:"interrupted,omitempty"`
}

// FileEntry is one file of the bundle.
type FileEntry struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	// Redactions are the values hidden in this file, by rule.
	Redactions Counts `json:"redactions,omitempty"`
}

// TaskError is something that could not be collected.
type TaskError struct {
	Task string `json:"task"`
	// Kind is forbidden, not-found, timeout, unreachable, interrupted or error.
	Kind  string `json:"kind"`
	Error string `json:"error"`
}

// ErrClosed is returned by Add once the bundle has been closed (after an interrupt, late
// tasks find it so).
var ErrClosed = errors.New("bundle already closed")

// Writer streams files into a tar.gz. Files may be added from many goroutines: each is
// spooled (in memory up to a bound, then in a temporary file) through the redactor, then
// copied into the archive under a lock, so memory does not grow with file size.
type Writer struct {
	mu       sync.Mutex
	out      *countingWriter
	gz       *gzip.Writer
	tw       *tar.Writer
	root     string
	redactor *Redactor
	index    Index
	closed   bool
	// closing: index.json is being written; files that arrive now would be missing from it.
	closing bool
	modTime time.Time
}

// NewWriter starts a bundle on out whose files sit under the directory root. redactor nil
// means no redaction (--redact=false), which index.json records.
func NewWriter(out io.Writer, root string, redactor *Redactor, index Index) *Writer {
	cw := &countingWriter{w: out}
	gz, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed) // the level is valid: no error
	index.APIVersion, index.Kind = "kubectl-delegate.dev/v1", "BundleIndex"
	index.Redaction = redactor != nil
	if !index.Redaction {
		index.RedactionNote = "collected with --redact=false: this bundle may hold tokens, passwords and keys"
	}
	if index.StartedAt.IsZero() {
		index.StartedAt = time.Now()
	}
	index.Files, index.Errors = []FileEntry{}, []TaskError{}
	return &Writer{out: cw, gz: gz, tw: tar.NewWriter(gz), root: root, redactor: redactor, index: index, modTime: index.StartedAt.UTC()}
}

// Redactor is the bundle's redactor, nil when redaction is off.
func (w *Writer) Redactor() *Redactor { return w.redactor }

// SetClusterVersion records the API server's version once it is known.
func (w *Writer) SetClusterVersion(v string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.index.ClusterVersion = v
}

// RecordError notes a task that failed; its message is redacted too.
func (w *Writer) RecordError(task, kind string, err error) {
	msg := err.Error()
	if w.redactor != nil {
		msg, _ = w.redactor.String(msg)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.index.Errors = append(w.index.Errors, TaskError{Task: task, Kind: kind, Error: msg})
}

// Errors are the failures recorded so far.
func (w *Writer) Errors() []TaskError {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]TaskError(nil), w.index.Errors...)
}

// Add writes one file: fill writes its content, which passes through the redactor. If fill
// fails after writing part of the file, the part is kept (partial is better than nothing)
// and fill's error is returned for the caller to record. pre are redactions already made to
// the content before fill wrote it.
func (w *Writer) Add(name string, pre Counts, fill func(io.Writer) error) error {
	if err := checkMemberName(name); err != nil {
		return err
	}
	sp := &spool{}
	defer sp.cleanup()
	counts := Counts{}
	counts.Add(pre)
	var fillErr error
	if w.redactor != nil {
		s := w.redactor.NewStream(sp)
		fillErr = fill(s)
		if err := s.Close(); err != nil {
			return fmt.Errorf("spooling %s: %w", name, err)
		}
		counts.Add(s.Counts())
	} else {
		fillErr = fill(sp)
	}
	if sp.err != nil {
		return fmt.Errorf("spooling %s: %w", name, sp.err)
	}
	if err := w.copyIn(name, sp, counts); err != nil {
		return err
	}
	return fillErr
}

// AddRedacted writes one file whose content the caller has already passed through
// Redactor (counts are what it hid): collect's snapshot, whose log tails were redacted as
// they were read, and whose every JSON string would otherwise be searched twice. Without a
// redactor it is Add.
func (w *Writer) AddRedacted(name string, counts Counts, fill func(io.Writer) error) error {
	if w.redactor == nil {
		return w.Add(name, counts, fill)
	}
	if err := checkMemberName(name); err != nil {
		return err
	}
	sp := &spool{}
	defer sp.cleanup()
	fillErr := fill(sp)
	if sp.err != nil {
		return fmt.Errorf("spooling %s: %w", name, sp.err)
	}
	all := Counts{}
	all.Add(counts)
	if err := w.copyIn(name, sp, all); err != nil {
		return err
	}
	return fillErr
}

func (w *Writer) copyIn(name string, sp *spool, counts Counts) error {
	content, err := sp.reader()
	if err != nil {
		return fmt.Errorf("reading back %s: %w", name, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || (w.closing && name != IndexFile) {
		return ErrClosed
	}
	hdr := &tar.Header{
		Name: path.Join(w.root, name), Mode: 0o644, Size: sp.size, ModTime: w.modTime,
		Typeflag: tar.TypeReg, Format: tar.FormatPAX,
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing %s into the bundle: %w", name, err)
	}
	if _, err := io.Copy(w.tw, content); err != nil {
		return fmt.Errorf("writing %s into the bundle: %w", name, err)
	}
	if len(counts) == 0 {
		counts = nil
	}
	w.index.Files = append(w.index.Files, FileEntry{Name: name, Size: sp.size, Redactions: counts})
	return nil
}

// Summary is what a finished bundle holds.
type Summary struct {
	Files    int
	Bytes    int64 // compressed size of the archive
	Errors   []TaskError
	Partial  bool
	Redacted int
}

// Close writes index.json last (it lists every other file) and closes the archive, leaving
// a readable tar.gz even after an interrupt. interrupted, when not empty, says why
// collection stopped early. It does not close the underlying writer.
func (w *Writer) Close(interrupted string, finished time.Time) (Summary, error) {
	w.mu.Lock()
	if w.closed || w.closing {
		w.mu.Unlock()
		return Summary{}, ErrClosed
	}
	w.closing = true
	idx := w.index
	idx.Files = append([]FileEntry(nil), w.index.Files...)
	idx.Interrupted = interrupted
	idx.Partial = interrupted != "" || len(idx.Errors) > 0
	idx.FinishedAt = finished
	sort.Slice(idx.Files, func(i, j int) bool { return idx.Files[i].Name < idx.Files[j].Name })
	w.mu.Unlock()

	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return Summary{}, err
	}
	// index.json does not go through the redactor: its error messages were redacted when
	// recorded, and the rule names it counts ("url-password": 2) would read as secrets.
	sp := &spool{}
	defer sp.cleanup()
	_, _ = sp.Write(append(data, '\n'))
	if err := w.copyIn(IndexFile, sp, nil); err != nil {
		return Summary{}, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if err := w.tw.Close(); err != nil {
		return Summary{}, fmt.Errorf("closing the bundle: %w", err)
	}
	if err := w.gz.Close(); err != nil {
		return Summary{}, fmt.Errorf("closing the bundle: %w", err)
	}
	sum := Summary{Files: len(w.index.Files), Bytes: w.out.n, Errors: idx.Errors, Partial: idx.Partial}
	for _, f := range w.index.Files {
		sum.Redacted += f.Redactions.Total()
	}
	return sum, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// spoolMemory is how much of one file is held in memory before it moves to a temporary
// file: with --workers files in flight, memory stays under workers x spoolMemory. Small: a
// log of a few MB passes through the page cache, which is not the process's memory, while
// 1 MiB per worker (and the garbage of growing to it) was a fifth of collect's heap.
const spoolMemory = 64 << 10

// spool holds one file's content until it is complete: a tar header needs the size first.
type spool struct {
	mem  bytes.Buffer
	file *os.File
	size int64
	err  error
}

func (s *spool) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.file == nil && s.mem.Len()+len(p) > spoolMemory {
		f, err := os.CreateTemp("", "kubectl-delegate-collect-*")
		if err != nil {
			s.err = err
			return 0, err
		}
		// Unlinked at once: nothing is left behind however the process ends.
		_ = os.Remove(f.Name())
		s.file = f
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			s.err = err
			return 0, err
		}
		s.mem = bytes.Buffer{}
	}
	var n int
	if s.file != nil {
		n, s.err = s.file.Write(p)
	} else {
		n, s.err = s.mem.Write(p)
	}
	s.size += int64(n)
	return n, s.err
}

func (s *spool) reader() (io.Reader, error) {
	if s.file == nil {
		return &s.mem, nil
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.LimitReader(s.file, s.size), nil
}

func (s *spool) cleanup() {
	if s.file != nil {
		_ = s.file.Close()
	}
}
