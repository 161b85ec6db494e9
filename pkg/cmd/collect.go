package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"

	"github.com/kubectl-delegate/kubectl-delegate/internal/buildinfo"
	"github.com/kubectl-delegate/kubectl-delegate/internal/printable"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/bundle"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/collect"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// exitPartial: the bundle was written, but some of it could not be collected (documented
// in the README beside doctor's 3 and 4).
const exitPartial = 5

// CollectOptions are the inputs of `kubectl delegate collect`.
type CollectOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Name              string
	AllNamespaces     bool
	Output            string
	Workers           int
	Since             time.Duration
	Tail              int64
	LimitBytes        int64
	Redact            bool
	TimeoutPerPod     time.Duration
	SupportMatrixFile string
	Force             bool

	matrix    diagnose.SupportMatrix
	config    *rest.Config
	namespace string
	now       func() time.Time
}

// NewCollectCommand builds `kubectl delegate collect`.
func NewCollectCommand(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CollectOptions{configFlags: configFlags, IOStreams: streams, now: time.Now}
	cmd := &cobra.Command{
		Use:   "collect [NAME]",
		Short: "Write a support bundle: descriptions, logs, events and doctor's report, secrets redacted",
		Long: `Collect what Harness support and troubleshooting ask for into one tar.gz: doctor's report
and snapshot, kubectl describe of each delegate's workload and pods, current and previous logs
of every container, events, the YAML of the delegate's objects (Secrets reduced to their key
names), the upgrader's CronJob and last Jobs, the cluster's version and nodes.

Secrets are redacted by default: the values of the delegate's Secrets wherever they appear,
tokens, JWTs, bearer tokens, passwords in URLs and settings, AWS keys and private keys.
index.json lists every file, the redactions in each and everything that could not be read.
Read a bundle back with: kubectl delegate doctor --bundle FILE

Exit codes: 0 the bundle is complete, 5 the bundle was written but is partial (a task failed,
collection was interrupted or lost the API server: index.json says what is missing),
1 no bundle was written.`,
		Example: `  # Every delegate in the current namespace, to delegate-bundle-<ns>-<time>.tar.gz
  kubectl delegate collect

  # One delegate, its logs of the last hour, to a file of your choice
  kubectl delegate collect prod-delegate -n harness-delegate-ng --since 1h -O bundle.tar.gz

  # To stdout, e.g. to copy it somewhere
  kubectl delegate collect -A -O - > bundle.tar.gz

  # Check it offline
  kubectl delegate doctor --bundle bundle.tar.gz`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: delegateNameCompletion(configFlags),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Name = args[0]
			}
			return runOptions(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Collect the delegates of every namespace")
	f.StringVarP(&o.Output, "output-file", "O", "", "Where to write the bundle; - for stdout (default: delegate-bundle-<scope>-<UTC time>.tar.gz)")
	f.IntVar(&o.Workers, "workers", 8, fmt.Sprintf("Tasks (one pod's description and logs, ...) run at once, at most %d", maxCollectWorkers))
	f.DurationVar(&o.Since, "since", 0, "Only log lines newer than this, e.g. 1h (default: no bound)")
	f.Int64Var(&o.Tail, "tail", 10000, "Lines from the end of each container log; -1 for all")
	f.Int64Var(&o.LimitBytes, "limit-bytes", 10<<20, "Most bytes read of each container log")
	// A boolean flag: turning it off takes --redact=false, spelled out.
	f.BoolVar(&o.Redact, "redact", true, "Hide secrets in the bundle; --redact=false is noted in index.json")
	f.DurationVar(&o.TimeoutPerPod, "timeout-per-pod", time.Minute, "Time allowed for each task, e.g. one pod's description and logs")
	f.BoolVar(&o.Force, "force", false, "Overwrite the output file when it exists")
	f.StringVar(&o.SupportMatrixFile, "support-matrix", "", "YAML or JSON file listing the supported Kubernetes versions, for the doctor report in the bundle")
	return cmd
}

// Complete reads the support matrix and the client configuration.
func (o *CollectOptions) Complete() error {
	var err error
	if o.matrix, err = loadSupportMatrix(o.SupportMatrixFile); err != nil {
		return err
	}
	if o.config, err = restConfig(o.configFlags); err != nil {
		return err
	}
	if !o.AllNamespaces {
		if o.namespace, _, err = o.configFlags.ToRawKubeConfigLoader().Namespace(); err != nil {
			return explainConfigError(err)
		}
	}
	return nil
}

// maxCollectWorkers caps --workers. Each worker keeps a pod's log streams and requests open
// against the API server, which by default serves 400 requests in flight for all its
// clients together (--max-requests-inflight); 64 leaves room for everyone else, and more
// workers only queue there, while each one's buffers still cost memory here.
const maxCollectWorkers = 64

// Validate checks the flags before anything is asked of the cluster.
func (o *CollectOptions) Validate() error {
	switch {
	case o.Name != "" && o.AllNamespaces:
		return errors.New("a delegate NAME and --all-namespaces do not go together: name the namespace with -n")
	case o.Workers < 1:
		return fmt.Errorf("--workers %d: at least 1", o.Workers)
	case o.Workers > maxCollectWorkers:
		return fmt.Errorf("--workers %d: at most %d", o.Workers, maxCollectWorkers)
	case o.Since < 0:
		return fmt.Errorf("--since %s: must not be negative", o.Since)
	case o.Tail < -1:
		return fmt.Errorf("--tail %d: a number of lines, or -1 for all", o.Tail)
	case o.LimitBytes < 1:
		return fmt.Errorf("--limit-bytes %d: at least 1", o.LimitBytes)
	case o.TimeoutPerPod <= 0:
		return fmt.Errorf("--timeout-per-pod %s: must be positive", o.TimeoutPerPod)
	}
	return nil
}

// Run writes the bundle; the exit code says whether it is partial.
func (o *CollectOptions) Run(ctx context.Context) error {
	// Ctrl-C closes the archive written so far instead of leaving a torn one.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := o.now().UTC()
	root := bundleRoot(o.Name, o.namespace, started)
	path, out := o.Output, &recordingWriter{w: o.Out}
	var file *bundleFile
	if path != "-" {
		if path == "" {
			path = root + ".tar.gz"
		}
		var err error
		if file, err = createBundleFile(path, o.Force); err != nil {
			return err
		}
		defer file.abort() // a no-op once committed
		out.w = file
	}
	var notFound error
	opts := collect.Options{
		Namespace: o.namespace, Root: root, Workers: o.Workers, TimeoutPerPod: o.TimeoutPerPod,
		Since: o.Since, TailLines: o.Tail, LimitBytes: o.LimitBytes, Redact: o.Redact,
		SupportMatrix: o.matrix, ToolVersion: buildinfo.Version, Now: o.now,
		Flags:    o.flagsForIndex(),
		Progress: newProgress(o.ErrOut),
	}
	if o.Name != "" {
		opts.Select = func(ds []delegate.Delegate) ([]delegate.Delegate, error) {
			d, err := findByName(ds, o.Name, o.namespace)
			notFound = err
			return []delegate.Delegate{d}, err
		}
	}
	res, err := collect.Collect(ctx, o.config, out, opts)
	switch {
	case notFound != nil:
		return notFound
	case out.err != nil:
		// The local side failed (a full disk, a closed pipe): not the API server.
		return fmt.Errorf("writing the bundle to %s: %w", bundleWhere(path), out.err)
	case err != nil:
		return explainServerError(o.config.Host, err)
	}
	if file != nil {
		if err := file.commit(); err != nil {
			return err
		}
	}
	return o.summarise(path, res)
}

// summarise prints where the bundle is, how big, and what it lacks.
func (o *CollectOptions) summarise(path string, res collect.Result) error {
	if isTerminal(o.ErrOut) {
		fmt.Fprint(o.ErrOut, "\r\033[K") // the progress line
	}
	where := bundleWhere(path)
	fmt.Fprintf(o.ErrOut, "Bundle written to %s (%s, %d files, %d values redacted)\n", where, humanBytes(res.Bytes), res.Files, res.Redacted)
	if !o.Redact {
		fmt.Fprintln(o.ErrOut, "Warning: collected with --redact=false: the bundle may hold tokens, passwords and keys.")
	}
	if !res.Partial {
		fmt.Fprintf(o.ErrOut, "Check it offline with: kubectl delegate doctor --bundle %s\n", where)
		return nil
	}
	why := fmt.Sprintf("%d tasks failed", len(res.Errors))
	if res.Interrupted != "" {
		why = res.Interrupted + "; " + why
	}
	fmt.Fprintf(o.ErrOut, "The bundle is partial (%s); index.json lists what is missing:\n", why)
	const shown = 10
	for i, e := range res.Errors {
		if i == shown {
			fmt.Fprintf(o.ErrOut, "  ... and %d more\n", len(res.Errors)-shown)
			break
		}
		fmt.Fprintf(o.ErrOut, "  - %s: %s: %s\n", printable.String(e.Task), e.Kind, printable.String(e.Error))
	}
	return &exitError{code: exitPartial}
}

func bundleWhere(path string) string {
	if path == "-" {
		return "stdout"
	}
	return path
}

// recordingWriter keeps the first error of the bundle's output, so that a failure to write
// it is told apart from a failure to read the cluster.
type recordingWriter struct {
	w   io.Writer
	err error
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if err != nil && r.err == nil {
		r.err = err
	}
	return n, err
}

// flagsForIndex are the options recorded in index.json.
func (o *CollectOptions) flagsForIndex() map[string]any {
	return map[string]any{
		"name": o.Name, "namespace": o.namespace, "allNamespaces": o.AllNamespaces, "workers": o.Workers,
		"since": o.Since.String(), "tail": o.Tail, "limitBytes": o.LimitBytes, "redact": o.Redact,
		"timeoutPerPod": o.TimeoutPerPod.String(),
	}
}

// bundleRoot names the bundle after what it holds and when, in UTC, so that bundles sort by
// time and say what they are.
func bundleRoot(name, namespace string, t time.Time) string {
	scope := "all-namespaces"
	switch {
	case name != "":
		scope = namespace + "-" + name
	case namespace != "":
		scope = namespace
	}
	// The scope comes from flags; escaped all the same, since it names a file and a directory.
	return "delegate-bundle-" + bundle.Component(scope) + "-" + t.Format("20060102T150405Z")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// newProgress reports each finished task: one line rewritten in place on a terminal, plain
// lines otherwise (a CI log, a file).
func newProgress(w io.Writer) func(collect.Progress) {
	tty := isTerminal(w)
	return func(p collect.Progress) {
		status := ""
		if p.Err != nil {
			status = " (failed)"
		}
		task := printable.String(p.Task) // names from the cluster

		if tty {
			fmt.Fprintf(w, "\r\033[K[%d/%d] %s%s", p.Done, p.Total, task, status)
			if p.Done == p.Total {
				fmt.Fprint(w, "\r\033[K")
			}
			return
		}
		fmt.Fprintf(w, "[%d/%d] %s%s\n", p.Done, p.Total, task, status)
	}
}
