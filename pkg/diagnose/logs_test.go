package diagnose

import (
	"strings"
	"testing"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

func TestScanLog(t *testing.T) {
	cases := []struct {
		name, log, cause string
		registered       bool
	}{
		{"registered", "starting\nDelegate registered with id abc123\nheartbeat", "", true},
		{"invalid token", "starting\nDelegate used invalid token. Self destruct procedure will be initiated.", "token is wrong", false},
		{"expired token", "Delegate used expired token", "expired or was revoked", false},
		{"revoked token", "Delegate used revoked token", "expired or was revoked", false},
		{"account", "Account ID: 6_vVHzo9Qeu9fXvj-AcQCb not found. Stop launching delegate.", "account id is wrong", false},
		{"manager", "Connection check to Harness manager failed", "cannot reach the Harness manager", false},
		{"register error", "Error occurred while registering delegate with manager", "cannot reach the Harness manager", false},
		{"pkix", "javax.net.ssl.SSLHandshakeException: PKIX path building failed: unable to find valid certification path to requested target", "not trusted", false},
		{"write", "Missing required write permissions on /opt/harness-delegate. Shutting down.", "cannot write", false},
		{"init", "Error while executing initialization script", "INIT_SCRIPT failed", false},
		{"oom", "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space", "ran out of heap", false},
		{"recovered", "Connectivity test failed\nretrying\nDelegate registered with id abc", "", true},
		{"unknown host", "java.net.UnknownHostException: app.harnes.io: Name or service not known", "does not resolve", false},
		{"timeout", "java.net.SocketTimeoutException: Connect timed out", "cannot open a connection", false},
		{"refused", "java.net.ConnectException: Connection refused (Connection refused)", "cannot open a connection", false},
		{"proxy auth", "java.io.IOException: Unable to tunnel through proxy. Proxy returns \"HTTP/1.1 407 Proxy Authentication Required\"", "proxy refuses", false},
		{"trust store", "Failed to build trust key store", "trust store", false},
		{"limit range", "must be less than or equal to cpu limit", "LimitRange", false},
		{"self destruct", "Self destruct sequence initiated...", "share its name", false},
		{"proxy list", "io.fabric8.kubernetes.client.KubernetesClientException: Operation: [list] for kind: [Pod]", "behind a proxy", false},
		{"too old", "Delegate(s) not supported for task type {HELM_DEPLOY}", "too old", false},
		// The most specific line wins, whichever comes first.
		{"host before generic", "java.net.UnknownHostException: app.harnes.io\nError occurred while registering delegate with manager", "does not resolve", false},
		{"generic before host", "Error occurred while registering delegate with manager\nCaused by: java.net.UnknownHostException: app.harnes.io", "does not resolve", false},
		{"nothing", "hello\nworld", "", false},
		{"empty", "", "", false},
	}
	for _, tc := range cases {
		failure, line, registered := scanLog(tc.log)
		if tc.cause == "" && failure != nil {
			t.Errorf("%s: unexpected failure %q on %q", tc.name, failure.cause, line)
		}
		if tc.cause != "" && (failure == nil || !strings.Contains(failure.cause, tc.cause) || line == "") {
			t.Errorf("%s: got %+v %q, want cause containing %q", tc.name, failure, line, tc.cause)
		}
		if registered != tc.registered {
			t.Errorf("%s: registered %v", tc.name, registered)
		}
	}
	long := strings.Repeat("x", 500) + " used invalid token"
	if _, line, _ := scanLog(long); len(line) > 203 {
		t.Errorf("excerpt not cut: %d characters", len(line))
	}
}

func TestCheckLogs(t *testing.T) {
	d := healthy()
	d.Pods = []delegate.Pod{{Name: "a", Node: "n"}, {Name: "b", Node: "n"}, {Name: "c", Node: "n"}, {Name: "d", Node: "n"}, {Name: "e"}}
	s := snapshot(d)
	s.Logs = map[string]PodLogs{
		"harness-delegate-ng/a": {Current: "Delegate registered with id 1"},
		"harness-delegate-ng/b": {Current: "Delegate used invalid token. Self destruct procedure will be initiated."},
		"harness-delegate-ng/c": {Current: "starting", Previous: "sun.security.validator.ValidatorException: PKIX path building failed"},
		"harness-delegate-ng/d": {Error: "pods \"d\" is forbidden"},
	}
	got := map[string]Finding{}
	for _, f := range checkLogs(s) {
		got[strings.TrimPrefix(f.Subject, "harness-delegate-ng/")] = f
	}
	if f := got["a"]; f.Verdict != Pass || !strings.Contains(f.Finding, "registered") {
		t.Errorf("a: %+v", f)
	}
	if f := got["b"]; f.Verdict != Fail || !strings.Contains(f.Finding, "invalid token") || !strings.Contains(f.Hint, "token Secret") {
		t.Errorf("b: %+v", f)
	}
	if f := got["c"]; f.Verdict != Fail || !strings.Contains(f.Finding, "previous instance died") || !strings.Contains(f.Hint, "delegateCustomCa") {
		t.Errorf("c: %+v", f)
	}
	if f := got["d"]; f.Verdict != Skip || !strings.Contains(f.Finding, "forbidden") {
		t.Errorf("d: %+v", f)
	}
	if _, ok := got["e"]; ok {
		t.Error("a pod never started has no logs to judge")
	}
}

// The log analyser reads the user's log lines: any text, no panic, a bounded excerpt, and a
// cause only with the line that shows it.
func FuzzScanLog(f *testing.F) {
	f.Add("Error occurred while registering delegate with manager\njava.net.UnknownHostException: x")
	f.Add("Delegate registered with id 1\nused invalid token")
	f.Add(strings.Repeat("é", 300) + " java.lang.OutOfMemoryError")
	f.Fuzz(func(t *testing.T, text string) {
		failure, line, registered := scanLog(text)
		if len(line) > 203 {
			t.Errorf("excerpt of %d bytes", len(line))
		}
		if (failure == nil) != (line == "") {
			t.Errorf("cause %v with line %q", failure, line)
		}
		if registered && failure != nil {
			t.Errorf("registered after a failure that came later: %q", text)
		}
	})
}
