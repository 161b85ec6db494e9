package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// bundleFile is collect's output file: written under a temporary name beside the final one
// and moved into place when the archive is complete, so that a killed collect never leaves
// a truncated bundle under the name the user asked for.
type bundleFile struct {
	*os.File
	final string
	force bool
}

// createBundleFile refuses an existing file unless force: a bundle is evidence, and an
// earlier one may be the only copy.
func createBundleFile(path string, force bool) (*bundleFile, error) {
	if _, err := os.Lstat(path); err == nil && !force {
		return nil, fmt.Errorf("-O %s: the file exists; pass --force to overwrite it, or name another file", path)
	}
	// 0600 (CreateTemp's mode): even redacted, a bundle describes the cluster.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return nil, fmt.Errorf("creating the bundle: %w", err)
	}
	return &bundleFile{File: f, final: path, force: force}, nil
}

// commit closes the file and gives it its final name. Without force a file that appeared
// meanwhile is kept: the link fails instead of replacing it.
func (b *bundleFile) commit() error {
	tmp := b.Name()
	if err := b.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing the bundle: %w", err)
	}
	if b.force {
		if err := os.Rename(tmp, b.final); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("moving the bundle into place: %w", err)
		}
		return nil
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, b.final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("-O %s: the file appeared while collecting; pass --force to overwrite it", b.final)
		}
		// A file system without hard links: check, then rename (a narrow race, not a lost file).
		if _, statErr := os.Lstat(b.final); statErr == nil {
			return fmt.Errorf("-O %s: the file appeared while collecting; pass --force to overwrite it", b.final)
		}
		if err := os.Rename(tmp, b.final); err != nil {
			return fmt.Errorf("moving the bundle into place: %w", err)
		}
	}
	return nil
}

// abort removes the temporary file.
func (b *bundleFile) abort() {
	_ = b.Close()
	_ = os.Remove(b.Name())
}
