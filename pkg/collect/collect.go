// Package collect writes a support bundle from a live cluster: doctor's snapshot and report,
// descriptions, logs, events and objects of every delegate in scope, and the cluster's
// version and nodes. Tasks run in a bounded pool and stream their files into the bundle
// through the redactor as they finish; a failed task is recorded and the rest carry on.
package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/bundle"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// Options say what to collect and how.
type Options struct {
	// Namespace in scope; "" for all namespaces.
	Namespace string
	// Select narrows the delegates (collect NAME); its error stops collect before anything
	// is written.
	Select func([]delegate.Delegate) ([]delegate.Delegate, error)
	// Root is the directory the bundle's files sit under.
	Root string
	// Workers bounds the tasks in flight (default 8).
	Workers int
	// TimeoutPerPod bounds each task: one pod's description and logs (default 60s).
	TimeoutPerPod time.Duration
	// Since, TailLines and LimitBytes bound each container log (as kubectl logs' flags);
	// zero Since and negative TailLines mean no bound.
	Since      time.Duration
	TailLines  int64
	LimitBytes int64
	// Redact hides secrets (the default); false writes them as they are.
	Redact        bool
	SupportMatrix diagnose.SupportMatrix
	ToolVersion   string
	// Flags are recorded in index.json as the options collect ran with.
	Flags any
	// Progress is told of every finished task; calls are serialised.
	Progress func(Progress)
	Now      func() time.Time
}

// Progress is the state of a collection after a task finished.
type Progress struct {
	Done, Total int
	Task        string
	Err         error
}

// Result is what was written.
type Result struct {
	bundle.Summary
	// Interrupted says why collection stopped early, "" when it ran to the end.
	Interrupted string
	// Report is the doctor report written into the bundle; nil when gathering failed.
	Report *diagnose.Report
}

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.TimeoutPerPod <= 0 {
		o.TimeoutPerPod = 60 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Root == "" {
		o.Root = "delegate-bundle"
	}
}

// selectError marks the error of Options.Select, which stops collect before it writes.
type selectError struct{ err error }

func (e selectError) Error() string { return e.err.Error() }
func (e selectError) Unwrap() error { return e.err }

// collector is one collection in progress.
type collector struct {
	opts   Options
	client kubernetes.Interface
	// logClient streams the logs (logConfig).
	logClient kubernetes.Interface
	// describers are kubectl's, built on a client whose requests time out per pod and whose
	// reads of what collect already holds are answered from it (readCache).
	describers describers
	w          *bundle.Writer
	snapshot   *diagnose.Snapshot
	objs       *delegate.Objects
	secrets    map[string][]secretInfo
	// events are each delegate namespace's, in the API server's order, read before the
	// tasks: events.txt and every description's Events come from them. A namespace whose
	// LIST failed is absent, its error in eventErrs.
	events    map[string][]corev1.Event
	eventErrs map[string]error
	// progressMu serialises calls of opts.Progress.
	progressMu sync.Mutex
	// total counts the tasks and the snapshot, for progress.
	total int
	// tails are the snapshot's log tails by "namespace/pod", redacted as they arrive: the
	// snapshot is written last, and redacting its JSON text whole cost more than all the
	// logs' redaction (a log tail is one JSON string, one very long line).
	tails *tailStore
}

// newDescribersFunc builds the describers once collect knows what it can answer itself.
type newDescribersFunc func(*readCache) (describers, error)

// Collect writes a bundle to out. An error means nothing useful was written (the delegate
// named does not exist, the output failed); a bundle written with failures is a Result with
// Partial set.
func Collect(ctx context.Context, cfg *rest.Config, out io.Writer, opts Options) (Result, error) {
	opts.defaults()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Result{}, err
	}
	logClient, err := kubernetes.NewForConfig(logConfig(cfg))
	if err != nil {
		return Result{}, err
	}
	return collect(ctx, clients{client, logClient}, func(cache *readCache) (describers, error) {
		return newDescribers(cfg, opts.TimeoutPerPod, cache)
	}, out, opts)
}

// clients are collect's: one for the API's objects, one for the logs.
type clients struct{ api, logs kubernetes.Interface }

// logConfig is the configuration of the client that streams logs: HTTP/1.1, a connection
// per stream. Over HTTP/2 every log stream shares one connection, and the client buffers
// what the server sends ahead of the reader in the process (up to 4 MiB per stream, the
// x/net/http2 default window; 4 MB held for 8 workers in the heap profile): with a
// connection each, the kernel's socket buffer holds it and TCP slows the sender.
func logConfig(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.NextProtos = []string{"http/1.1"}
	return cfg
}

// collect is Collect on given clients and describers (tests pass fakes).
func collect(ctx context.Context, cs clients, newDescribers newDescribersFunc, out io.Writer, opts Options) (Result, error) {
	client := cs.api
	c := &collector{opts: opts, client: client, logClient: cs.logs, tails: newTailStore()}
	started := opts.Now()

	// The snapshot first: it says which delegates there are, and the Secrets it points at
	// give the redactor the values to hide before any file is written.
	gatherOpts := diagnose.GatherOptions{
		Namespace: opts.Namespace, SupportMatrix: opts.SupportMatrix, Now: opts.Now,
		Objects:  func(o *delegate.Objects) { c.objs = o },
		SkipLogs: true, // read once, by the pod tasks: the file and the snapshot's tail
	}
	if opts.Select != nil {
		gatherOpts.Select = func(ds []delegate.Delegate) ([]delegate.Delegate, error) {
			out, err := opts.Select(ds)
			if err != nil {
				return nil, selectError{err}
			}
			return out, nil
		}
	}
	snapshot, gatherErr := diagnose.Gather(ctx, client, gatherOpts)
	var sel selectError
	if errors.As(gatherErr, &sel) {
		return Result{}, sel.err
	}
	if gatherErr == nil {
		c.snapshot = snapshot
	}
	var secretErrs []taskError
	if c.snapshot != nil {
		// Both before any task: the Secrets' values for the redactor, the events for the
		// descriptions.
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			c.secrets, secretErrs = c.readSecrets(ctx)
		}()
		go func() {
			defer wg.Done()
			c.events, c.eventErrs = c.readEvents(ctx)
		}()
		wg.Wait()
	}
	var err error
	if c.describers, err = newDescribers(newReadCache(c.objs, c.events)); err != nil {
		return Result{}, err
	}
	var redactor *bundle.Redactor
	if opts.Redact {
		redactor = bundle.NewRedactor(c.secretValues())
	}
	c.w = bundle.NewWriter(out, opts.Root, redactor, bundle.Index{ToolVersion: opts.ToolVersion, StartedAt: started.UTC(), Options: opts.Flags})
	res := Result{}
	if gatherErr != nil {
		c.w.RecordError("gather the snapshot", errorKind(gatherErr), gatherErr)
	}
	for _, e := range secretErrs {
		c.w.RecordError(e.task, errorKind(e.err), e.err)
	}
	res.Interrupted = c.run(ctx, c.tasks())
	if res.Interrupted == "" && ctx.Err() != nil {
		res.Interrupted = "interrupted: " + ctx.Err().Error()
	}
	// The snapshot last: the pod tasks filled in its log tails. Written after an interrupt
	// too, with the tails read so far, so that doctor --bundle works on a partial bundle.
	if c.snapshot != nil {
		c.w.SetClusterVersion(c.snapshot.ServerVersion)
		report, err := c.writeSnapshot()
		if err != nil {
			c.w.RecordError("write the snapshot and doctor report", errorKind(err), err)
		}
		res.Report = report
		c.progress(Progress{Done: c.total, Total: c.total, Task: "snapshot and doctor report", Err: err})
	}
	sum, err := c.w.Close(res.Interrupted, opts.Now().UTC())
	if err != nil {
		return res, err
	}
	res.Summary = sum
	return res, nil
}

// writeSnapshot writes snapshot.json, redacted, and doctor's report on that same redacted
// snapshot, so that doctor --bundle finds exactly what doctor.json says. The log tails,
// redacted as they arrived, are the bulk of it: they are neither copied nor redacted again,
// but spliced into the JSON of the rest as it streams into the bundle.
func (c *collector) writeSnapshot() (*diagnose.Report, error) {
	tails, tailCounts := c.tails.take()
	counts := bundle.Counts{}
	counts.Add(tailCounts)

	c.snapshot.Logs = map[string]diagnose.PodLogs{}
	data := bundle.MarshalJSON(c.snapshot)
	snapshot := c.snapshot
	if r := c.w.Redactor(); r != nil {
		var more bundle.Counts
		data, more = r.RedactJSONText(data)
		counts.Add(more)
		snapshot = &diagnose.Snapshot{}
		if err := json.Unmarshal(data, snapshot); err != nil {
			return nil, fmt.Errorf("reading back the redacted snapshot: %w", err)
		}
	}
	snapshot.Logs = tails
	if err := c.w.AddRedacted(bundle.SnapshotFile, counts, func(w io.Writer) error { return spliceLogs(w, data, tails) }); err != nil {
		return nil, err
	}
	report := diagnose.NewReport(diagnose.Run(snapshot))
	if err := c.w.Add(bundle.DoctorJSON, nil, writeBytes(bundle.MarshalJSON(report))); err != nil {
		return &report, err
	}
	if err := c.w.Add(bundle.DoctorText, nil, func(w io.Writer) error { return report.WriteText(w, false) }); err != nil {
		return &report, err
	}
	return &report, nil
}

// logsField is how bundle.MarshalJSON writes a snapshot's empty Logs: a top-level member,
// the only place where a newline and two spaces can precede it (inside a string, a newline
// is escaped).
const logsField = "\n  \"logs\": {}"

// spliceLogs writes doc, a snapshot's JSON as bundle.MarshalJSON writes it with no logs,
// with logs in place of its empty Logs: the same bytes as bundle.MarshalJSON of the
// snapshot with them, one tail in memory at a time instead of the whole document twice.
func spliceLogs(w io.Writer, doc []byte, logs map[string]diagnose.PodLogs) error {
	at := bytes.Index(doc, []byte(logsField))
	if at < 0 {
		return errors.New("the snapshot's JSON has no logs member")
	}
	if _, err := w.Write(doc[:at]); err != nil {
		return err
	}
	if len(logs) == 0 {
		_, err := w.Write(doc[at:])
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// Members of a map two levels down: the indentation bundle.MarshalJSON gives them.
	enc.SetIndent("    ", "  ")
	buf.WriteString("\n  \"logs\": {")
	for i, key := range slices.Sorted(maps.Keys(logs)) {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n    ")
		if err := enc.Encode(key); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		buf.WriteString(": ")
		if err := enc.Encode(logs[key]); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1)
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		buf.Reset()
	}
	buf.WriteString("\n  }")
	buf.Write(doc[at+len(logsField):])
	_, err := w.Write(buf.Bytes())
	return err
}

func writeBytes(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

// task is one unit of the pool: it writes one or more files and records its own failures.
type task struct {
	name string
	run  func(ctx context.Context) error
}

// lostAfter is how many tasks in a row may find the API server unreachable before collect
// stops: the server is gone, and every further task would only wait for its timeout.
const lostAfter = 3

// run runs the tasks in a pool of opts.Workers and reports progress. It returns why it
// stopped early: the context ended, or the API server was lost.
func (c *collector) run(ctx context.Context, tasks []task) string {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.total = len(tasks)
	if c.snapshot != nil {
		c.total++ // written last
	}
	var (
		mu          sync.Mutex
		done        int
		total       = c.total
		unreachable int
		lost        string
		started     = make([]bool, len(tasks))
		closing     bool
	)
	finished := func(t task, err error) {
		mu.Lock()
		defer mu.Unlock()
		done++
		switch {
		case err != nil && errorKind(err) == kindUnreachable:
			if unreachable++; unreachable >= lostAfter && lost == "" {
				lost = "lost the API server: " + err.Error()
				cancel()
			}
		case err == nil:
			unreachable = 0
		}
		c.progress(Progress{Done: done, Total: total, Task: t.name, Err: err})
	}
	// start says whether a task may still start: not once the context ended or the bundle
	// is closing.
	start := func(i int) bool {
		mu.Lock()
		defer mu.Unlock()
		started[i] = !closing && ctx.Err() == nil
		return started[i]
	}
	var g errgroup.Group
	g.SetLimit(c.opts.Workers)
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		for i, t := range tasks {
			if ctx.Err() != nil {
				break
			}
			// Tasks record their own failures: one failing leaves the others' files.
			g.Go(func() error {
				if !start(i) {
					return nil
				}
				tctx, tcancel := context.WithTimeout(ctx, c.opts.TimeoutPerPod)
				defer tcancel()
				finished(t, t.run(tctx))
				return nil
			})
		}
		_ = g.Wait()
	}()
	// Tasks in flight end with the context; kubectl's describers do not take one, and their
	// requests end with the per-pod timeout. After an interrupt, wait a moment for them,
	// then close the bundle without them.
	select {
	case <-waited:
	case <-ctx.Done():
		select {
		case <-waited:
		case <-time.After(2 * time.Second):
		}
	}
	mu.Lock()
	defer mu.Unlock()
	closing = true
	// What never ran is recorded too, so index.json says what is missing.
	for i, t := range tasks {
		if !started[i] {
			c.w.RecordError(t.name, kindInterrupted, errors.New("not run: collection stopped early"))
		}
	}
	return lost
}

func (c *collector) progress(p Progress) {
	if c.opts.Progress == nil {
		return
	}
	c.progressMu.Lock()
	defer c.progressMu.Unlock()
	c.opts.Progress(p)
}

// tasks plans the collection: the cluster's, each namespace's and each delegate's.
func (c *collector) tasks() []task {
	out := []task{
		{"cluster version", c.clusterVersion},
		{"nodes", c.nodes},
	}
	if c.snapshot == nil {
		return out
	}
	byNamespace := map[string][]delegate.Delegate{}
	for _, d := range c.snapshot.Delegates {
		byNamespace[d.Namespace] = append(byNamespace[d.Namespace], d)
	}
	namespaces := make([]string, 0, len(byNamespace))
	for ns := range byNamespace {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	for _, ns := range namespaces {
		ds := byNamespace[ns]
		out = append(out, task{"events of namespace " + ns, func(ctx context.Context) error { return c.namespaceEvents(ns, ds) }})
		for _, d := range ds {
			out = append(out,
				task{"describe " + d.Workload.Kind + " " + ns + "/" + d.Workload.Name, func(ctx context.Context) error { return c.describeWorkload(d) }},
				task{"objects of " + ns + "/" + d.Name, func(ctx context.Context) error { return c.objects(ctx, d) }},
			)
			if d.Upgrader != nil {
				out = append(out, task{"upgrader of " + ns + "/" + d.Name, func(ctx context.Context) error { return c.upgrader(ctx, d) }})
			}
			for _, p := range d.Pods {
				out = append(out, task{"pod " + ns + "/" + p.Name, func(ctx context.Context) error { return c.pod(ctx, d, p.Name) }})
			}
		}
	}
	return out
}

// dir is where a delegate's files go.
// dir is a delegate's folder in the bundle. Names come from the cluster: each is escaped
// into one path component (bundle.Component), so none can climb out of the bundle.
func dir(d delegate.Delegate) string {
	return "delegates/" + bundle.Component(d.Namespace) + "/" + bundle.Component(d.Name)
}

// add writes one file and records its failure; it returns the failure too, so a task can
// say it failed.
func (c *collector) add(task, name string, fill func(io.Writer) error) error {
	err := c.w.Add(name, nil, fill)
	if err != nil && !errors.Is(err, bundle.ErrClosed) {
		c.w.RecordError(task+": "+name, errorKind(err), err)
	}
	return err
}

// fail records a task's failure and returns it.
func (c *collector) fail(task string, err error) error {
	if err != nil {
		c.w.RecordError(task, errorKind(err), err)
	}
	return err
}
