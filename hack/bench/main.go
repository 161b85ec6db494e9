// Command bench measures the plugin against the kubectl commands a person would run for the
// same job, side by side on a scaled local cluster (issue 13, point 5). It starts the cluster,
// fills it, runs each pair alternately several times, prints a table and stops the cluster,
// also when interrupted. hack/bench.sh (make bench) is its front end.
//
// It only measures: nothing in the repository asserts its times.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
)

// config holds the flags; the defaults are the scale of issue 13.
type config struct {
	plugin        string
	nodes         int
	pods          int
	delegates     int
	replicas      int
	logMB         int
	previousLogMB int
	runs          int
	kubeVersion   string
	kubectl       string
	keepDir       bool
	hold          bool
}

func parseFlags() config {
	var c config
	flag.StringVar(&c.plugin, "plugin", "bin/kubectl-delegate", "the plugin binary to measure (make bench builds it with the release flags, -s -w)")
	flag.IntVar(&c.nodes, "nodes", 200, "fake kwok nodes")
	flag.IntVar(&c.pods, "pods", 2000, "other pods, spread over the nodes, that are not delegates")
	flag.IntVar(&c.delegates, "delegates", 10, "chart-installed delegates, one namespace each")
	flag.IntVar(&c.replicas, "replicas", 5, "replicas per delegate")
	flag.IntVar(&c.logMB, "log-mb", 10, "MB of current log planted per delegate pod")
	flag.IntVar(&c.previousLogMB, "previous-log-mb", 1, "MB of previous (before the last restart) log planted per delegate pod")
	flag.IntVar(&c.runs, "runs", 5, "timed runs of each command; the table shows medians")
	flag.StringVar(&c.kubeVersion, "k8s-version", os.Getenv("K8S_VERSION"), "Kubernetes version of the local cluster (default: the pinned one)")
	flag.StringVar(&c.kubectl, "kubectl", "", "the kubectl measured as the baseline (default: the project's, built from hack/tools/kube for -k8s-version)")
	flag.BoolVar(&c.keepDir, "keep-dir", false, "keep the working directory (cluster logs, planted pod logs) for a post-mortem")
	flag.BoolVar(&c.hold, "hold", false, "fill the cluster, print its KUBECONFIG and keep it up until interrupted, measuring nothing (to profile a command against it)")
	flag.Parse()
	return c
}

func (c config) validate() error {
	switch {
	case c.nodes < 1, c.delegates < 1, c.replicas < 1, c.runs < 1:
		return errors.New("-nodes, -delegates, -replicas and -runs must be at least 1")
	case c.pods < 0, c.logMB < 0, c.previousLogMB < 0:
		return errors.New("-pods, -log-mb and -previous-log-mb must not be negative")
	}
	return nil
}

func main() {
	cfg := parseFlags()
	// Ctrl-C and SIGTERM cancel the context: the running command is killed and the deferred
	// cluster stop still runs, so no process or port is left behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) (err error) {
	if err := cfg.validate(); err != nil {
		return err
	}
	plugin, err := filepath.Abs(cfg.plugin)
	if err != nil {
		return fmt.Errorf("resolving the plugin's path: %w", err)
	}
	if _, err := os.Stat(plugin); err != nil {
		return fmt.Errorf("the plugin binary (build it with make build): %w", err)
	}
	work, err := os.MkdirTemp("", "kubectl-delegate-bench-")
	if err != nil {
		return fmt.Errorf("creating the working directory: %w", err)
	}
	defer func() {
		if cfg.keepDir {
			logf("kept %s", work)
			return
		}
		// Hundreds of MB of planted logs: never leave them in /tmp.
		if rmErr := os.RemoveAll(work); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("removing %s: %w", work, rmErr))
		}
	}()
	kubectl, err := baselineKubectl(ctx, cfg)
	if err != nil {
		return err
	}
	machine := describeMachine()
	start := time.Now()
	env, stopCluster, err := setUp(ctx, cfg, kubectl, work)
	if err != nil {
		return err
	}
	defer func() {
		logf("stopping the cluster")
		if stopErr := stopCluster(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stopping the cluster: %w", stopErr))
		}
	}()
	logf("cluster filled in %s", time.Since(start).Round(time.Second))
	if cfg.hold {
		// stdout holds only the line to paste, as the table otherwise.
		fmt.Printf("export KUBECONFIG=%s\n", env.kubeconfig)
		logf("holding the cluster until interrupted (Ctrl-C)")
		<-ctx.Done()
		return nil
	}
	r, err := newRunner(ctx, work, env.kubeconfig)
	if err != nil {
		return err
	}
	results, err := measureAll(ctx, r, pairs(plugin, kubectl, env, work), cfg.runs)
	if err != nil {
		return err
	}
	machine.loadAfter = loadAverage()
	return printReport(os.Stdout, cfg, plugin, kubectl, machine, results)
}

// baselineKubectl is -kubectl, or the project's kubectl of the cluster's version. The
// machine's own kubectl is not used by default: it may be a dispatcher (gcloud's picks a
// kubectl by the server's version, and execs it), whose extra start-up and requests are
// not kubectl's.
func baselineKubectl(ctx context.Context, cfg config) (string, error) {
	if cfg.kubectl != "" {
		return filepath.Abs(cfg.kubectl)
	}
	goBin, err := exec.LookPath("go")
	if err == nil {
		// /usr/bin/go may be a link, and /usr/bin may hold the kubectl to avoid.
		goBin, err = filepath.EvalSymlinks(goBin)
	}
	if err != nil {
		return "", fmt.Errorf("finding go to build kubectl (or pass -kubectl): %w", err)
	}
	// localcluster.Kubectl prefers a kubectl on PATH; a PATH holding only go's directory makes
	// it build (or find in its cache) the project's. Nothing else runs yet that reads PATH.
	path := os.Getenv("PATH")
	defer os.Setenv("PATH", path)
	if err := os.Setenv("PATH", filepath.Dir(goBin)); err != nil {
		return "", err
	}
	kubectl, err := localcluster.Kubectl(ctx, cfg.kubeVersion, os.Stderr)
	if err != nil {
		return "", fmt.Errorf("building kubectl (or pass -kubectl): %w", err)
	}
	return kubectl, nil
}

// logf reports progress on stderr, so stdout holds only the table.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
