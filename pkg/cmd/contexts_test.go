package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-delegate/kubectl-delegate/internal/stuckserver"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// contextsKubeconfig has contexts a (namespace team-a) and b on server, and dead on a port
// where nothing listens.
func contextsKubeconfig(t *testing.T, server string) *genericclioptions.ConfigFlags {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	data := `apiVersion: v1
kind: Config
clusters:
- {name: live, cluster: {server: "` + server + `", insecure-skip-tls-verify: true}}
- {name: dead, cluster: {server: "https://127.0.0.1:1"}}
users: [{name: u, user: {token: x}}]
contexts:
- {name: b, context: {cluster: live, user: u}}
- {name: a, context: {cluster: live, user: u, namespace: team-a}}
- {name: dead, context: {cluster: dead, user: u}}
current-context: a
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &path
	return flags
}

func TestResolveContexts(t *testing.T) {
	tests := []struct {
		name    string
		set     func(*genericclioptions.ConfigFlags)
		flags   contextsFlags
		want    string
		wantErr string
	}{
		{name: "neither", want: ""},
		{name: "all, sorted", flags: contextsFlags{AllContexts: true}, want: "a,b,dead"},
		{name: "named, in order, once", flags: contextsFlags{Contexts: []string{"b", "a", "b"}}, want: "b,a"},
		{name: "unknown", flags: contextsFlags{Contexts: []string{"a", "prod"}}, wantErr: `context "prod" is not in the kubeconfig; its contexts are: a, b, dead`},
		{name: "empty", flags: contextsFlags{Contexts: []string{"a", ""}}, wantErr: "empty context name"},
		{name: "both", flags: contextsFlags{Contexts: []string{"a"}, AllContexts: true}, wantErr: "--contexts and --all-contexts do not go together"},
		{name: "with --context", set: func(f *genericclioptions.ConfigFlags) { v := "a"; f.Context = &v },
			flags: contextsFlags{AllContexts: true}, wantErr: "--context and --contexts/--all-contexts do not go together"},
		{name: "with --server", set: func(f *genericclioptions.ConfigFlags) { v := "https://x"; f.APIServer = &v },
			flags: contextsFlags{Contexts: []string{"a"}}, wantErr: "--server and --contexts/--all-contexts do not go together"},
		{name: "with --user", set: func(f *genericclioptions.ConfigFlags) { v := "u"; f.AuthInfoName = &v },
			flags: contextsFlags{Contexts: []string{"a"}}, wantErr: "--user and --contexts/--all-contexts do not go together"},
		{name: "negative context timeout", flags: contextsFlags{AllContexts: true, Timeout: -time.Second}, wantErr: "--context-timeout -1s: must be 0 (no limit) or more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags := contextsKubeconfig(t, "https://127.0.0.1:2")
			if tt.set != nil {
				tt.set(flags)
			}
			got, err := resolveContexts(flags, tt.flags)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// Each context is read with its own cluster, user and namespace, -n laid over all of them,
// and no client-side rate limit; a context whose server is down is its own result and the
// others still answer.
func TestGatherContextsEachWithItsOwnConfig(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer x" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"gitVersion":"v1.33.1"}`))
	}))
	defer srv.Close()
	flags := contextsKubeconfig(t, srv.URL)
	results, err := gatherContexts(context.Background(), flags, []string{"dead", "a", "b"}, false, time.Minute,
		func(ctx context.Context, c clusterClient) (string, error) {
			v, err := c.client.Discovery().ServerVersion()
			if err != nil {
				return "", err
			}
			return v.GitVersion, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		got = append(got, r.Context+"="+r.Value+"@"+r.Namespace)
	}
	if want := "dead=@default,a=v1.33.1@team-a,b=v1.33.1@default"; strings.Join(got, ",") != want {
		t.Errorf("got %s, want %s", strings.Join(got, ","), want)
	}
	if results[0].Err == nil || !strings.Contains(results[0].Err.Error(), "cannot reach the Kubernetes API server at https://127.0.0.1:1") {
		t.Errorf("dead context: %v", results[0].Err)
	}
	errs := contextErrors(results)
	if len(errs) != 1 || errs[0].Context != "dead" {
		t.Errorf("context errors %+v", errs)
	}

	ns := "team-z"
	flags.Namespace = &ns
	c, err := connectContext(flags, mustRaw(t, flags), "a", false)
	if err != nil {
		t.Fatal(err)
	}
	if c.namespace != "team-z" || c.server != srv.URL {
		t.Errorf("namespace %q server %q: want -n over the context's, and its server", c.namespace, c.server)
	}
}

func TestConnectContextHasNoClientSideRateLimit(t *testing.T) {
	flags := contextsKubeconfig(t, "https://127.0.0.1:2")
	timeout := "7s"
	flags.Timeout = &timeout
	cfg, _, err := contextConfig(flags, mustRaw(t, flags), "b")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QPS >= 0 || cfg.RateLimiter != nil {
		t.Errorf("QPS %v, RateLimiter %v: want no client-side limiter (QPS < 0)", cfg.QPS, cfg.RateLimiter)
	}
	if cfg.Timeout.String() != "7s" || cfg.BearerToken != "x" {
		t.Errorf("timeout %v token %q: want --request-timeout and the context's user", cfg.Timeout, cfg.BearerToken)
	}
}

func TestListContextsTableAndJSON(t *testing.T) {
	items := []ContextDelegate{}
	for i, ctx := range []string{"kind-a", "kind-b"} {
		items = append(items, ContextDelegate{Context: ctx, Delegate: sampleDelegates()[i]})
	}
	var out bytes.Buffer
	if err := printContextDelegates(&out, "", true, items, nil, renderNow); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[0], "CONTEXT") || !strings.Contains(lines[0], "NAMESPACE") ||
		!strings.HasPrefix(lines[1], "kind-a") || !strings.HasPrefix(lines[2], "kind-b") {
		t.Errorf("table:\n%s", out.String())
	}
	out.Reset()
	errs := contextErrors([]contextResult[int]{{Context: "dead", Err: os.ErrDeadlineExceeded}})
	if err := printContextDelegates(&out, "json", true, items, errs, renderNow); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		APIVersion    string
		Kind          string
		Items         []map[string]any
		ContextErrors []map[string]string
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.APIVersion != delegate.SchemaVersion || doc.Kind != "DelegateList" || len(doc.Items) != 2 ||
		doc.Items[1]["context"] != "kind-b" || doc.Items[1]["name"] != items[1].Name ||
		len(doc.ContextErrors) != 1 || doc.ContextErrors[0]["context"] != "dead" {
		t.Errorf("document:\n%s", out.String())
	}
}

func TestSharedNameWarnings(t *testing.T) {
	d := sampleDelegates()[0]
	other := sampleDelegates()[1]
	items := []ContextDelegate{{Context: "a", Delegate: d}, {Context: "b", Delegate: d}, {Context: "b", Delegate: other}}
	got := sharedNameWarnings(items)
	if len(got) != 1 || !strings.Contains(got[0], `delegate name "`+d.Name+`" is used in contexts a (namespace `+d.Namespace+`), b (namespace `+d.Namespace+`)`) {
		t.Errorf("warnings %q", got)
	}
	if got := sharedNameWarnings(items[1:]); len(got) != 0 {
		t.Errorf("one context: warnings %q", got)
	}
}

func TestDoctorContextsRefusesWhatMakesNoSense(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  func(*DoctorOptions)
		want string
	}{
		{"NAME", func(o *DoctorOptions) { o.Name = "prod" }, "a delegate NAME and --contexts/--all-contexts do not go together"},
		{"--pre", func(o *DoctorOptions) { o.Pre = true }, "do not go with --pre"},
		{"--bundle", func(o *DoctorOptions) { o.BundleFile = "b.tar.gz" }, "do not go with --pre, --bundle"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := &DoctorOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), FailOn: "fail", contexts: contextsFlags{AllContexts: true}}
			tt.set(o)
			if err := o.validateContexts(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func mustRaw(t *testing.T, flags *genericclioptions.ConfigFlags) clientcmdapi.Config {
	t.Helper()
	raw, err := flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestContextsFlagCompletesTheKubeconfigsContexts(t *testing.T) {
	flags := contextsKubeconfig(t, "https://127.0.0.1:2")
	cmd := NewListCommand(flags, genericiooptions.NewTestIOStreamsDiscard())
	complete, ok := cmd.GetFlagCompletionFunc("contexts")
	if !ok {
		t.Fatal("no completion for --contexts")
	}
	got, _ := complete(cmd, nil, "")
	if strings.Join(got, ",") != "a,b,dead" {
		t.Errorf("completions %q", got)
	}
}

// A context whose server accepts connections but never answers ends at --context-timeout
// as its own error; the context that answers is read (issue 14, point 3). The gather asks
// for the server version, a call that takes no context: the deadline holds all the same.
func TestGatherContextsEndsAHangingContext(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"gitVersion":"v1.33.1"}`))
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "config")
	data := `apiVersion: v1
kind: Config
clusters:
- {name: live, cluster: {server: "` + srv.URL + `", insecure-skip-tls-verify: true}}
- {name: hang, cluster: {server: "` + stuckserver.Start(t) + `", insecure-skip-tls-verify: true}}
users: [{name: u, user: {token: x}}]
contexts:
- {name: live, context: {cluster: live, user: u}}
- {name: hang, context: {cluster: hang, user: u}}
current-context: live
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &path

	type answer struct {
		results []contextResult[string]
		err     error
	}
	done := make(chan answer, 1)
	go func() {
		results, err := gatherContexts(context.Background(), flags, []string{"hang", "live"}, false, 5*time.Second,
			func(ctx context.Context, c clusterClient) (string, error) {
				v, err := diagnose.ServerVersion(ctx, c.client)
				if err != nil {
					return "", err
				}
				return v.GitVersion, nil
			})
		done <- answer{results, err}
	}()
	var got answer
	select {
	case got = <-done:
	case <-time.After(time.Minute): // a guard against hanging the test run, far past the deadline
		t.Fatal("gatherContexts did not return: the context that never answers holds up the run")
	}
	if got.err != nil {
		t.Fatal(got.err)
	}
	if got.results[1].Err != nil || got.results[1].Value != "v1.33.1" {
		t.Errorf("live context: %q, %v", got.results[1].Value, got.results[1].Err)
	}
	hang := got.results[0]
	if hang.Context != "hang" || hang.Err == nil || !strings.Contains(hang.Err.Error(), "not read within 5s (--context-timeout): the Kubernetes API server at ") {
		t.Errorf("hanging context: %+v", hang)
	}
}
