package cmd

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

func kubeconfigFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	data := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// client-go's default limiter (5 requests a second, burst 10) set the pace of doctor and
// list; the plugin bounds its own concurrency and leaves fairness to the API server.
func TestRestConfigHasNoClientSideRateLimit(t *testing.T) {
	flags := genericclioptions.NewConfigFlags(true)
	path := kubeconfigFile(t)
	flags.KubeConfig = &path
	wrapped := false
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config { wrapped = true; return c }
	cfg, err := restConfig(flags)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QPS >= 0 || cfg.RateLimiter != nil {
		t.Errorf("QPS %v, RateLimiter %v: want no client-side limiter (QPS < 0)", cfg.QPS, cfg.RateLimiter)
	}
	if !wrapped {
		t.Error("the caller's WrapConfigFn was not applied")
	}
}

func TestRestConfigKeepsAnExplicitLimit(t *testing.T) {
	flags := genericclioptions.NewConfigFlags(true)
	path := kubeconfigFile(t)
	flags.KubeConfig = &path
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config { c.QPS, c.Burst = 7, 9; return c }
	cfg, err := restConfig(flags)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QPS != 7 || cfg.Burst != 9 {
		t.Errorf("QPS %v burst %d: an explicit limit must be kept", cfg.QPS, cfg.Burst)
	}
}

func klogLevel(t *testing.T) string {
	t.Helper()
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	klog.InitFlags(fs)
	return fs.Lookup("v").Value.String()
}

// kubectl's -v sets client-go's request logging; levels above 7 print response bodies,
// which carry Secret data, so they are capped.
func TestVerbosityFlag(t *testing.T) {
	defer func() { _ = applyVerbosity(0, &bytes.Buffer{}) }()
	for _, tc := range []struct {
		args []string
		want string
		warn bool
	}{
		{[]string{"-v=6", "version", "--client"}, "6", false},
		{[]string{"--v", "4", "version", "--client"}, "4", false},
		{[]string{"-v=9", "version", "--client"}, "7", true},
		{[]string{"version", "--client"}, "0", false},
	} {
		var out, errOut bytes.Buffer
		root := NewRootCommand(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut})
		root.SetArgs(tc.args)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got := klogLevel(t); got != tc.want {
			t.Errorf("%v: klog level %s, want %s", tc.args, got, tc.want)
		}
		if warned := strings.Contains(errOut.String(), "Secret data"); warned != tc.warn {
			t.Errorf("%v: warning printed %v, want %v (stderr %q)", tc.args, warned, tc.warn, errOut.String())
		}
	}
}
