package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/collect"
)

func TestBundleFileAppearsOnlyWhenComplete(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "b.tar.gz")
	f, err := createBundleFile(final, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("archive")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(final); !os.IsNotExist(err) {
		t.Fatalf("the final name exists before the bundle is complete: %v", err)
	}
	if err := f.commit(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(final)
	if err != nil || string(data) != "archive" {
		t.Fatalf("after commit: %q, %v", data, err)
	}
	if info, _ := os.Stat(final); info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600: even redacted, a bundle describes the cluster", info.Mode().Perm())
	}
	assertOnlyFiles(t, dir, "b.tar.gz")
}

func TestBundleFileAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	f, err := createBundleFile(filepath.Join(dir, "b.tar.gz"), false)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("part"))
	f.abort()
	assertOnlyFiles(t, dir)
}

func TestBundleFileNeverOverwritesWithoutForce(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "b.tar.gz")
	if err := os.WriteFile(final, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := createBundleFile(final, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("an existing file: %v, want a refusal naming --force", err)
	}
	// Created meanwhile by someone else: commit still refuses to replace it.
	_ = os.Remove(final)
	f, err := createBundleFile(final, false)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(final, []byte("theirs"), 0o600)
	if err := f.commit(); err == nil {
		t.Fatal("commit replaced a file that appeared meanwhile")
	}
	if data, _ := os.ReadFile(final); string(data) != "theirs" {
		t.Fatalf("the other file was changed: %q", data)
	}
	assertOnlyFiles(t, dir, "b.tar.gz")

	f, err = createBundleFile(final, true)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("new"))
	if err := f.commit(); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(final); string(data) != "new" {
		t.Fatalf("--force did not replace it: %q", data)
	}
}

func assertOnlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("files %v, want %v", got, want)
	}
}

func TestCollectProgressEscapesClusterNames(t *testing.T) {
	var out strings.Builder
	newProgress(&out)(collect.Progress{Done: 1, Total: 2, Task: "pod ns/x\x1b[2J\nfake row"})
	if got := out.String(); strings.Contains(got, "\x1b") || strings.Count(got, "\n") != 1 {
		t.Errorf("progress line %q carries a control character from the cluster", got)
	}
}
