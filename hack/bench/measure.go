package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/collect"
)

// job is what one side of a comparison runs: one command for the plugin, or the sequence of
// kubectl commands a person would type for the same answer.
type job struct {
	label string
	steps [][]string
	// outputs are files or directories the steps write; removed after every run, outside
	// the timing, so each run starts alike and the disk does not fill.
	outputs []string
}

// pair is one row group of the table: the plugin's command and its kubectl baseline.
type pair struct {
	name             string
	plugin, baseline job
}

// sample is one timed run of a job. For a sequence, wall and CPU add up and RSS is the
// largest of its processes.
type sample struct {
	wall, cpu time.Duration
	rssKiB    int64
	exitCodes []int
}

// result is everything measured of one job.
type result struct {
	job      job
	samples  []sample
	requests int
}

type runner struct {
	env []string
	// spawn is hack/bench/spawn, built at start: every command runs under it, see there why.
	spawn, resultFile string
}

func newRunner(ctx context.Context, work, kubeconfig string) (*runner, error) {
	home := filepath.Join(work, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", home, err)
	}
	root, err := localcluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	spawn := filepath.Join(work, "spawn")
	build := exec.CommandContext(ctx, "go", "build", "-o", spawn, "./hack/bench/spawn")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building hack/bench/spawn: %w: %s", err, out)
	}
	// HOME points at an empty directory so that neither side reads the user's kubeconfig or
	// shares their discovery cache; both build their own in the first, untimed run.
	return &runner{
		env:        append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+home),
		spawn:      spawn,
		resultFile: filepath.Join(work, "rusage.json"),
	}, nil
}

// spawnResult is what hack/bench/spawn writes.
type spawnResult struct {
	WallNanos, UserNanos, SysNanos int64
	MaxRSSKiB                      int64
	ExitCode                       int
}

// run executes argv under spawn and returns its wall time, rusage and exit code. stderr, if
// not nil, receives the command's stderr.
func (r *runner) run(ctx context.Context, argv []string, stderr *bytes.Buffer) (sample, error) {
	_ = os.Remove(r.resultFile)
	cmd := exec.CommandContext(ctx, r.spawn, append([]string{r.resultFile}, argv...)...)
	cmd.Env = r.env
	// A group of its own, killed whole on Ctrl-C: spawn and the command it runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// stdout goes to /dev/null: a terminal's speed is not what is measured.
	cmd.Stdout = nil
	var errBuf bytes.Buffer
	if stderr == nil {
		stderr = &errBuf
	}
	cmd.Stderr = stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return sample{}, ctx.Err()
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return sample{}, fmt.Errorf("running %s: %w", strings.Join(argv, " "), err)
	}
	res, err := r.readResult()
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, lastLine(stderr.String()))
	}
	if res.ExitCode != 0 {
		logf("  exit %d: %s: %s", res.ExitCode, strings.Join(argv, " "), lastLine(stderr.String()))
	}
	return sample{
		wall:      time.Duration(res.WallNanos),
		cpu:       time.Duration(res.UserNanos + res.SysNanos),
		rssKiB:    res.MaxRSSKiB,
		exitCodes: []int{res.ExitCode},
	}, nil
}

func (r *runner) readResult() (spawnResult, error) {
	var res spawnResult
	data, err := os.ReadFile(r.resultFile)
	if err != nil {
		return res, fmt.Errorf("no result from spawn: %w", err)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, fmt.Errorf("reading %s: %w", r.resultFile, err)
	}
	return res, nil
}

// runJob runs a job's steps one after another, as a person would, then removes its outputs.
func (r *runner) runJob(ctx context.Context, j job) (sample, error) {
	var total sample
	for _, argv := range j.steps {
		s, err := r.run(ctx, argv, nil)
		if err != nil {
			return sample{}, err
		}
		total.wall += s.wall
		total.cpu += s.cpu
		total.rssKiB = max(total.rssKiB, s.rssKiB)
		total.exitCodes = append(total.exitCodes, s.exitCodes...)
	}
	return total, removeOutputs(j)
}

func removeOutputs(j job) error {
	for _, path := range j.outputs {
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("removing %s: %w", path, err)
		}
	}
	return nil
}

// requestLine matches client-go's request log at -v=6, in both of its formats:
// `"Response" verb="GET" url="https://..."` (structured, newer) and `GET https://... 200 OK`.
var requestLine = regexp.MustCompile(`round_trippers\.go:\d+\] ("Response" verb=|(GET|POST|PUT|PATCH|DELETE|HEAD) https?://)`)

// countRequests runs a job once more with -v=6 (kubectl's flag; the plugin has it too) and
// counts client-go's request lines: no proxy that sees bodies is needed. The run is untimed
// and doubles as the warm-up that fills both sides' discovery caches. The counts by kind go to
// stderr: they say which requests grow with delegates or pods.
func (r *runner) countRequests(ctx context.Context, j job) (int, error) {
	n := 0
	byKind := map[string]int{}
	for _, argv := range j.steps {
		var stderr bytes.Buffer
		if _, err := r.run(ctx, append(append([]string{}, argv...), "-v=6"), &stderr); err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(&stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			// collect's describers are answered from what it already read: logged, not sent.
			if requestLine.Match(sc.Bytes()) && !bytes.Contains(sc.Bytes(), []byte(collect.CachedStatus)) {
				n++
				byKind[requestKind(sc.Text())]++
			}
		}
	}
	logRequestKinds(byKind)
	return n, removeOutputs(j)
}

// requestURL picks verb and path out of a structured request line.
var requestURL = regexp.MustCompile(`verb="(\w+)" url="https?://[^/"]*([^?"]*)`)

// nameSegment is what makes two requests for the same kind of object differ: a namespace's
// name, or an object's name after its resource.
var nameSegment = regexp.MustCompile(`(/namespaces/)[^/]+|(/(pods|configmaps|secrets|deployments|statefulsets|replicasets|cronjobs|jobs|serviceaccounts|events|nodes|clusterrolebindings|rolebindings|roles)/)[^/]+`)

// requestKind is a request line's verb and path with names wildcarded, so that the counts say
// which requests grow with delegates or pods.
func requestKind(line string) string {
	m := requestURL.FindStringSubmatch(line)
	if m == nil {
		return "other"
	}
	return m[1] + " " + nameSegment.ReplaceAllString(m[2], "$1$2*")
}

func logRequestKinds(byKind map[string]int) {
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(a, b int) bool {
		return byKind[kinds[a]] > byKind[kinds[b]] || byKind[kinds[a]] == byKind[kinds[b]] && kinds[a] < kinds[b]
	})
	for _, k := range kinds {
		logf("  %4d  %s", byKind[k], k)
	}
}

// measureAll measures every pair: first the request counts (the warm-up), then the timed
// runs, plugin and baseline alternately, the one going first swapping every run so that
// neither side always meets a cache the other warmed.
func measureAll(ctx context.Context, r *runner, pairs []pair, runs int) ([][2]*result, error) {
	var out [][2]*result
	for _, p := range pairs {
		res, err := measurePair(ctx, r, p, runs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func measurePair(ctx context.Context, r *runner, p pair, runs int) ([2]*result, error) {
	res := [2]*result{{job: p.plugin}, {job: p.baseline}}
	for _, side := range res {
		logf("%s: counting requests (untimed, -v=6): %s", p.name, side.job.label)
		n, err := r.countRequests(ctx, side.job)
		if err != nil {
			return res, err
		}
		side.requests = n
	}
	for i := range runs {
		order := []*result{res[0], res[1]}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, side := range order {
			s, err := r.runJob(ctx, side.job)
			if err != nil {
				return res, err
			}
			logf("%s run %d/%d: %-60.60s %6.2fs wall %6.2fs CPU %5d MiB", p.name, i+1, runs, side.job.label, s.wall.Seconds(), s.cpu.Seconds(), s.rssKiB>>10)
			side.samples = append(side.samples, s)
		}
	}
	return res, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// median, lowest and highest of the samples' values.
func stats(samples []sample, value func(sample) float64) (med, lo, hi float64) {
	vs := make([]float64, len(samples))
	for i, s := range samples {
		vs[i] = value(s)
	}
	sort.Float64s(vs)
	n := len(vs)
	med = vs[n/2]
	if n%2 == 0 {
		med = (vs[n/2-1] + vs[n/2]) / 2
	}
	return med, vs[0], vs[n-1]
}
