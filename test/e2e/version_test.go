//go:build e2e

package e2e

import (
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func serverGitVersion(t *testing.T) string {
	t.Helper()
	v, err := env.client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	return v.GitVersion
}

func TestVersionPrintsServerVersion(t *testing.T) {
	t.Parallel()
	want := serverGitVersion(t)
	if env.startedHere != nil && want != env.startedHere.KubeVersion {
		t.Fatalf("the API server reports %s, but %s was built: its version is not stamped", want, env.startedHere.KubeVersion)
	}
	res := plugin(t, "version")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, "Server Version: "+want+"\n") || !strings.Contains(res.stdout, "Client Version: "+stampVersion) {
		t.Errorf("version output:\n%s", res.stdout)
	}

	res = plugin(t, "version", "-o", "json")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	var doc struct {
		ClientVersion struct{ Version, GitCommit, BuildDate string }
		ServerVersion struct{ GitVersion string }
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("version -o json is not JSON: %v\n%s", err, res.stdout)
	}
	if doc.ClientVersion.Version != stampVersion || doc.ClientVersion.GitCommit != stampCommit || doc.ClientVersion.BuildDate != stampDate {
		t.Errorf("client version %+v; want %s %s %s", doc.ClientVersion, stampVersion, stampCommit, stampDate)
	}
	if doc.ServerVersion.GitVersion != want {
		t.Errorf("server version %q, want %q", doc.ServerVersion.GitVersion, want)
	}
}

func TestVersionWithUnreachableServerNamesIt(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := "https://" + l.Addr().String()
	l.Close() // nothing listens there now
	res := plugin(t, "version", "--server", server, "--insecure-skip-tls-verify")
	if res.code == 0 {
		t.Fatalf("exit 0 with no server; stdout %q", res.stdout)
	}
	lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], server) || !strings.HasPrefix(lines[0], "error: ") {
		t.Errorf("stderr should be one error line naming %s, got:\n%s", server, res.stderr)
	}
	if !strings.Contains(res.stdout, "Client Version: "+stampVersion) {
		t.Errorf("the client version needs no server and should still print; stdout %q", res.stdout)
	}
}

func TestKubectlFindsThePlugin(t *testing.T) {
	t.Parallel()
	res := runCommand(t, env.kubectl, "plugin", "list")
	if res.code != 0 || !strings.Contains(res.stdout, filepath.Join(env.binDir, "kubectl-delegate")) {
		t.Fatalf("kubectl plugin list: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	res = runCommand(t, env.kubectl, "delegate", "version")
	if res.code != 0 || !strings.Contains(res.stdout, "Server Version: "+serverGitVersion(t)) {
		t.Fatalf("kubectl delegate version: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	// Help and usage present the plugin the way it is typed.
	res = runCommand(t, env.kubectl, "delegate", "--help")
	if !strings.Contains(res.stdout, "kubectl delegate [command]") {
		t.Errorf("help does not say `kubectl delegate`:\n%s", res.stdout)
	}
	res = runCommand(t, env.kubectl, "delegate", "nosuchcommand")
	if res.code == 0 || !strings.Contains(res.stderr, `for "kubectl delegate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestGlobalFlagsReachTheClient(t *testing.T) {
	t.Parallel()
	// kubectl's global flags are parsed by cli-runtime's ConfigFlags and reach the client.
	res := plugin(t, "version", "--context", "does-not-exist")
	if res.code == 0 || !strings.Contains(res.stderr, "does-not-exist") {
		t.Errorf("--context does-not-exist: exit %d, stderr %q", res.code, res.stderr)
	}
	res = plugin(t, "version", "--request-timeout", "5s", "-o", "yaml")
	if res.code != 0 || !strings.Contains(res.stdout, "gitVersion: "+serverGitVersion(t)) {
		t.Errorf("--request-timeout 5s -o yaml: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}
