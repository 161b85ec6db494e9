package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// Limits bound what reading a bundle may cost: a bundle is untrusted input (it may come from
// anyone who asks for help) and must not fill the disk or the memory of whoever reads it.
type Limits struct {
	// MaxFileBytes is the largest member (default 256 MiB).
	MaxFileBytes int64
	// MaxJSONBytes is the largest index.json or snapshot.json, which are held in memory
	// (default 64 MiB).
	MaxJSONBytes int64
	// MaxTotalBytes is the most uncompressed data read in all (default 2 GiB).
	MaxTotalBytes int64
	// MaxFiles is the most members (default 100,000).
	MaxFiles int
	// JSON bounds the shape of index.json and snapshot.json before they are decoded.
	JSON JSONLimits
}

func (l *Limits) defaults() {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = 256 << 20
	}
	if l.MaxJSONBytes <= 0 {
		l.MaxJSONBytes = 64 << 20
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = 2 << 30
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = 100_000
	}
	l.JSON.defaults()
}

// Bundle is what doctor reads back from a bundle.
type Bundle struct {
	Index    Index
	Snapshot *diagnose.Snapshot
}

// ErrUnsafe marks a bundle refused for its shape (paths, links, sizes), not for its content.
var ErrUnsafe = errors.New("unsafe bundle")

// Read reads a bundle from r without extracting it: every member is checked (a regular file
// or directory, under the one root directory, within the size limits) and only index.json
// and snapshot.json are kept.
func Read(r io.Reader, limits Limits) (*Bundle, error) {
	limits.defaults()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a tar.gz bundle: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	var (
		root            string
		total           int64
		files           int
		index, snapshot []byte
	)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the bundle: %w", err)
		}
		files++
		if files > limits.MaxFiles {
			return nil, fmt.Errorf("%w: more than %d members", ErrUnsafe, limits.MaxFiles)
		}
		name, err := memberName(hdr.Name)
		if err != nil {
			return nil, err
		}
		top, rest, _ := strings.Cut(name, "/")
		if root == "" {
			root = top
		}
		if top != root {
			return nil, fmt.Errorf("%w: member %q is outside the bundle's root directory %q", ErrUnsafe, hdr.Name, root)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		case tar.TypeSymlink, tar.TypeLink:
			return nil, fmt.Errorf("%w: member %q is a link (to %q); bundles hold regular files only", ErrUnsafe, hdr.Name, hdr.Linkname)
		default:
			return nil, fmt.Errorf("%w: member %q is not a regular file (type %q)", ErrUnsafe, hdr.Name, hdr.Typeflag)
		}
		if hdr.Size < 0 || hdr.Size > limits.MaxFileBytes {
			return nil, fmt.Errorf("%w: member %q is %d bytes, above the limit of %d", ErrUnsafe, hdr.Name, hdr.Size, limits.MaxFileBytes)
		}
		if total += hdr.Size; total > limits.MaxTotalBytes {
			return nil, fmt.Errorf("%w: members total more than %d bytes", ErrUnsafe, limits.MaxTotalBytes)
		}
		var keep *[]byte
		switch rest {
		case IndexFile:
			keep = &index
		case SnapshotFile:
			keep = &snapshot
		}
		if keep == nil {
			// Read through, so a size that lies about the data is caught too.
			if _, err := io.Copy(io.Discard, io.LimitReader(tr, hdr.Size)); err != nil {
				return nil, fmt.Errorf("reading %s: %w", hdr.Name, err)
			}
			continue
		}
		if hdr.Size > limits.MaxJSONBytes {
			return nil, fmt.Errorf("%w: %s is %d bytes, above the limit of %d", ErrUnsafe, hdr.Name, hdr.Size, limits.MaxJSONBytes)
		}
		if *keep != nil {
			return nil, fmt.Errorf("%w: %s appears twice", ErrUnsafe, hdr.Name)
		}
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, io.LimitReader(tr, hdr.Size)); err != nil {
			return nil, fmt.Errorf("reading %s: %w", hdr.Name, err)
		}
		*keep = buf.Bytes()
	}
	if root == "" {
		return nil, errors.New("the bundle is empty")
	}
	if snapshot == nil {
		return nil, fmt.Errorf("the bundle has no %s: it was not written by kubectl delegate collect, or collection stopped before it", SnapshotFile)
	}
	b := &Bundle{Snapshot: &diagnose.Snapshot{}}
	if err := decodeJSON(snapshot, b.Snapshot, limits.JSON); err != nil {
		return nil, fmt.Errorf("reading %s: %w", SnapshotFile, err)
	}
	if index != nil {
		if err := decodeJSON(index, &b.Index, limits.JSON); err != nil {
			return nil, fmt.Errorf("reading %s: %w", IndexFile, err)
		}
	}
	return b, nil
}

// decodeJSON decodes data into v once its shape is within the limits.
func decodeJSON(data []byte, v any, l JSONLimits) error {
	if err := checkJSONShape(data, l); err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// memberName checks a member's path: relative, without "..", backslashes or NUL bytes, and
// returns it cleaned.
func memberName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("%w: a member has no name", ErrUnsafe)
	case strings.HasPrefix(name, "/"):
		return "", fmt.Errorf("%w: member %q has an absolute path", ErrUnsafe, name)
	case strings.ContainsAny(name, "\\\x00"):
		return "", fmt.Errorf("%w: member %q has a backslash or NUL in its path", ErrUnsafe, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: member %q points outside the bundle (..)", ErrUnsafe, name)
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", fmt.Errorf("%w: member %q has no name", ErrUnsafe, name)
	}
	return clean, nil
}
