package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// member is one entry of a hand-made archive.
type member struct {
	name     string
	typ      byte
	body     string
	size     int64 // header size when it must differ from the body
	linkname string
}

func archive(t testing.TB, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, m := range members {
		typ := m.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		size := int64(len(m.body))
		if m.size != 0 {
			size = m.size
		}
		if typ != tar.TypeReg {
			size = 0
		}
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Typeflag: typ, Size: size, Mode: 0o644, Linkname: m.linkname}); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			_, _ = io.WriteString(tw, m.body)
		}
	}
	_ = tw.Flush()
	_ = gz.Close()
	return buf.Bytes()
}

const snapshotJSON = `{"collectedAt":"2026-01-02T03:04:05Z","serverVersion":"v1.36.3","delegates":[],"events":[],"access":{},"logs":{}}`

func TestReadRefusesUnsafeBundles(t *testing.T) {
	ok := member{name: "b/snapshot.json", body: snapshotJSON}
	tests := []struct {
		name    string
		data    []byte
		limits  Limits
		wantErr string
	}{
		{"path traversal", archive(t, ok, member{name: "b/../../etc/passwd", body: "x"}), Limits{}, "points outside the bundle"},
		{"absolute path", archive(t, ok, member{name: "/etc/passwd", body: "x"}), Limits{}, "absolute path"},
		{"second root", archive(t, ok, member{name: "other/file", body: "x"}), Limits{}, "outside the bundle's root directory"},
		{"symlink", archive(t, ok, member{name: "b/link", typ: tar.TypeSymlink, linkname: "/etc/shadow"}), Limits{}, "is a link"},
		{"hard link", archive(t, ok, member{name: "b/link", typ: tar.TypeLink, linkname: "b/snapshot.json"}), Limits{}, "is a link"},
		{"device", archive(t, ok, member{name: "b/dev", typ: tar.TypeChar}), Limits{}, "not a regular file"},
		{"oversized member", archive(t, ok, member{name: "b/big.log", body: strings.Repeat("x", 2000)}), Limits{MaxFileBytes: 1000}, "above the limit"},
		{"oversized total", archive(t, ok, member{name: "b/a.log", body: strings.Repeat("x", 800)}, member{name: "b/b.log", body: strings.Repeat("x", 800)}),
			Limits{MaxTotalBytes: 1500}, "total more than"},
		{"oversized snapshot", archive(t, member{name: "b/snapshot.json", body: snapshotJSON}), Limits{MaxJSONBytes: 10}, "above the limit"},
		{"too many members", archive(t, ok, member{name: "b/1", body: "x"}, member{name: "b/2", body: "x"}), Limits{MaxFiles: 2}, "more than 2 members"},
		{"backslash", archive(t, ok, member{name: `b\..\x`, body: "x"}), Limits{}, "backslash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tt.data), tt.limits)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrUnsafe) {
				t.Errorf("err = %v, want ErrUnsafe with %q", err, tt.wantErr)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"not gzip", []byte("hello"), "not a tar.gz bundle"},
		{"empty", archive(t), "empty"},
		{"no snapshot", archive(t, member{name: "b/index.json", body: "{}"}), "has no snapshot.json"},
		{"bad snapshot", archive(t, member{name: "b/snapshot.json", body: "{"}), "reading snapshot.json"},
		{"truncated member", archive(t, member{name: "b/snapshot.json", body: snapshotJSON, size: 5000}), "reading"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Read(bytes.NewReader(tt.data), Limits{}); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// What the writer writes, the reader reads back: the snapshot, and an index listing every
// file with its redactions and every error.
func TestWriteThenRead(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, "delegate-bundle-test", NewRedactor([]string{testToken}), Index{ToolVersion: "v1.2.3"})
	snapshot := diagnose.Snapshot{CollectedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ServerVersion: "v1.36.3",
		Logs: map[string]diagnose.PodLogs{"ns/pod": {Current: "token " + testToken}}}
	data, pre := w.Redactor().RedactJSONText(MarshalJSON(snapshot))
	if err := w.Add(SnapshotFile, pre, func(out io.Writer) error { _, err := out.Write(data); return err }); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("line of log with "+testToken+"\n", 60_000) // > spoolMemory: spooled to disk
	if err := w.Add("pods/p/delegate.log", nil, func(out io.Writer) error { _, err := io.WriteString(out, big); return err }); err != nil {
		t.Fatal(err)
	}
	failing := errors.New("stream broke")
	if err := w.Add("pods/p/half.log", nil, func(out io.Writer) error {
		_, _ = io.WriteString(out, "first half\n")
		return failing
	}); !errors.Is(err, failing) {
		t.Errorf("Add returned %v, want the fill error", err)
	}
	w.RecordError("pod p", "unreachable", errors.New("dial "+testToken))
	sum, err := w.Close("interrupted", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Partial || sum.Files != 4 || sum.Redacted != 60_001 {
		t.Errorf("summary %+v", sum)
	}
	if bytes.Contains(buf.Bytes(), []byte(testToken)) {
		t.Error("the compressed bundle holds the token")
	}
	b, err := Read(bytes.NewReader(buf.Bytes()), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Snapshot.ServerVersion != "v1.36.3" || b.Snapshot.Logs["ns/pod"].Current != "token "+Marker {
		t.Errorf("snapshot %+v", b.Snapshot)
	}
	idx := b.Index
	if !idx.Partial || idx.Interrupted != "interrupted" || !idx.Redaction || len(idx.Errors) != 1 || strings.Contains(idx.Errors[0].Error, testToken) {
		t.Errorf("index %+v", idx)
	}
	sizes := map[string]int64{}
	for _, f := range idx.Files {
		sizes[f.Name] = f.Size
		if f.Name == "pods/p/delegate.log" && f.Redactions[ruleSecret] != 60_000 {
			t.Errorf("log redactions %v", f.Redactions)
		}
	}
	if sizes["pods/p/half.log"] != int64(len("first half\n")) || sizes["pods/p/delegate.log"] == 0 {
		t.Errorf("files %+v", idx.Files)
	}
	if err := w.Add("late.txt", nil, func(io.Writer) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: %v", err)
	}
}

func TestWriterWithoutRedaction(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, "b", nil, Index{})
	_ = w.Add(SnapshotFile, nil, func(out io.Writer) error { _, err := io.WriteString(out, snapshotJSON); return err })
	if _, err := w.Close("", time.Now()); err != nil {
		t.Fatal(err)
	}
	b, err := Read(&buf, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Index.Redaction || !strings.Contains(b.Index.RedactionNote, "--redact=false") {
		t.Errorf("index %+v", b.Index)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(archive(f, member{name: "b/snapshot.json", body: snapshotJSON}, member{name: "b/index.json", body: `{"files":[]}`}))
	f.Add(archive(f, member{name: "b/../x", body: "x"}))
	f.Add(archive(f, member{name: "b/l", typ: tar.TypeSymlink, linkname: "/"}))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add(archive(f, member{name: "b/snapshot.json", body: snapshotJSON}, member{name: "b/sub/x.log", body: "x"}, member{name: "b/sub", typ: tar.TypeDir}))
	// Seeds one rule away from acceptance: a link, a way out, a second root.
	f.Add(archive(f, member{name: "b/snapshot.json", body: snapshotJSON}, member{name: "b/l", typ: tar.TypeSymlink, linkname: "/etc"}))
	f.Add(archive(f, member{name: "b/snapshot.json", body: snapshotJSON}, member{name: "b/../../x", body: "x"}))
	f.Add(archive(f, member{name: "b/snapshot.json", body: snapshotJSON}, member{name: "c/x", body: "x"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		limits := Limits{MaxFileBytes: 1 << 16, MaxTotalBytes: 1 << 18, MaxJSONBytes: 1 << 16, MaxFiles: 64}
		if _, err := Read(bytes.NewReader(data), limits); err != nil {
			return
		}
		// Whatever Read accepts is safe to extract: walk it again, independently.
		if problem := unsafeMember(data, limits); problem != "" {
			t.Fatalf("Read accepted a bundle with %s", problem)
		}
	})
}

// unsafeMember says what in an archive breaks the bundle's rules (one root directory, clean
// relative names, regular files and directories only, within limits), "" when nothing does.
func unsafeMember(data []byte, limits Limits) string {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return "no gzip stream: " + err.Error()
	}
	tr := tar.NewReader(gz)
	var root string
	var files int
	var total int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return ""
		}
		if err != nil {
			return "a broken tar stream: " + err.Error()
		}
		name := hdr.Name
		files++
		switch {
		case files > limits.MaxFiles:
			return "too many members"
		case name == "", strings.HasPrefix(name, "/"), strings.ContainsAny(name, "\\\x00"):
			return fmt.Sprintf("member name %q", name)
		case slices.Contains(strings.Split(name, "/"), ".."), strings.HasPrefix(path.Clean(name), ".."):
			return fmt.Sprintf("member %q outside the root", name)
		case hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeDir:
			return fmt.Sprintf("member %q of type %q", name, hdr.Typeflag)
		case hdr.Typeflag == tar.TypeReg && (hdr.Size < 0 || hdr.Size > limits.MaxFileBytes):
			return fmt.Sprintf("member %q of %d bytes", name, hdr.Size)
		}
		top, _, _ := strings.Cut(path.Clean(name), "/")
		if root == "" {
			root = top
		}
		if top != root {
			return fmt.Sprintf("members under two roots, %q and %q", root, top)
		}
		if hdr.Typeflag == tar.TypeReg {
			if total += hdr.Size; total > limits.MaxTotalBytes {
				return "members above the total limit"
			}
		}
	}
}
