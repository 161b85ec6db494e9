//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kubectl's -v logs each request; no level prints the Secret data the plugin reads.
func TestVerbosityLogsRequestsButNoSecret(t *testing.T) {
	t.Parallel()
	ns := applyFixture(t, "helm-chart")
	res := plugin(t, "inspect", "helm-delegate", "-n", ns, "-v=6")
	if res.code != 0 {
		t.Fatalf("inspect -v=6: exit %d: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, `verb="GET" url="https://127.0.0.1:`) || !strings.Contains(res.stderr, `status="200 OK" milliseconds=`) {
		t.Errorf("-v=6 does not log the requests:\n%s", res.stderr)
	}
	res = plugin(t, "inspect", "helm-delegate", "-n", ns, "-v=9")
	if !strings.Contains(res.stderr, "using -v=7") {
		t.Errorf("-v=9 is not capped with a warning:\n%s", res.stderr)
	}
	encoded := base64.StdEncoding.EncodeToString([]byte(fixtureToken))
	if out := res.stdout + res.stderr; strings.Contains(out, fixtureToken) || strings.Contains(out, encoded) {
		t.Errorf("-v=9 printed the delegate token")
	}
}

// client-go's default limiter (5 requests a second) set doctor's pace and printed "Waited
// ... due to client-side throttling"; the plugin leaves the pace to the API server.
func TestNoClientSideThrottling(t *testing.T) {
	t.Parallel()
	applyFixture(t, "helm-chart")
	res := plugin(t, "doctor", "-A", "-v=3")
	if strings.Contains(res.stderr, "client-side throttling") {
		t.Errorf("doctor -A waited on the client's own rate limiter:\n%s", res.stderr)
	}
}

// A bundle that cannot be written is a local failure, not an unreachable API server.
func TestCollectToAFullDisk(t *testing.T) {
	t.Parallel()
	ns := applyFixture(t, "helm-chart")
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full here: %v", err)
	}
	defer full.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.plugin, "collect", "-n", ns, "-O", "-")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.kubeconfig)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = full, &stderr
	err = cmd.Run()
	if err == nil {
		t.Fatal("collect to a full disk succeeded")
	}
	msg := stderr.String()
	if strings.Contains(msg, "cannot reach") || !strings.Contains(msg, "writing the bundle to stdout") || !strings.Contains(msg, "no space left on device") {
		t.Errorf("the error does not say the disk is full:\n%s", msg)
	}
}

// An existing bundle is never overwritten without --force, and a finished one replaces it
// only with --force; no temporary file is left behind.
func TestCollectKeepsAnExistingFile(t *testing.T) {
	t.Parallel()
	ns := applyFixture(t, "helm-chart")
	dir := t.TempDir()
	path := filepath.Join(dir, "bundle.tar.gz")
	if err := os.WriteFile(path, []byte("earlier bundle"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := plugin(t, "collect", "-n", ns, "-O", path)
	if res.code != 1 || !strings.Contains(res.stderr, "--force") {
		t.Errorf("exit %d, want 1 and a hint naming --force: %s", res.code, res.stderr)
	}
	if data, _ := os.ReadFile(path); string(data) != "earlier bundle" {
		t.Fatalf("the existing file was changed")
	}
	res = plugin(t, "collect", "-n", ns, "-O", path, "--force")
	if res.code != 0 && res.code != 5 { // 5: written, partial (the fixture's pods have no logs)
		t.Fatalf("collect --force: exit %d: %s", res.code, res.stderr)
	}
	if _, files := untar(t, path); len(files) == 0 {
		t.Error("--force did not write a bundle")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left in the output directory: %v", entries)
	}
}
