package diagnose

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// PodLogs are the tails of one delegate pod's current and previous logs.
type PodLogs struct {
	Current  string `json:"current,omitempty"`
	Previous string `json:"previous,omitempty"`
	// Error says why the logs could not be read (forbidden, timeout, none served).
	Error string `json:"error,omitempty"`
}

// LogOptions bound what doctor reads of each pod's logs.
type LogOptions struct {
	// TailLines read from the end of each log (current and previous), default 2000.
	TailLines int64
	// LimitBytes caps each read, default 256 KiB.
	LimitBytes int64
	// Workers bounds the log requests in flight, default 8.
	Workers int
	// Timeout of each pod's log requests, default 10s.
	Timeout time.Duration
}

func (o *LogOptions) defaults() {
	if o.TailLines <= 0 {
		o.TailLines = 2000
	}
	if o.LimitBytes <= 0 {
		o.LimitBytes = 256 << 10
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
}

// gatherLogs reads the tail of every delegate pod's logs, and the previous instance's where
// the container has restarted, with bounded concurrency and a timeout per pod.
func gatherLogs(ctx context.Context, client kubernetes.Interface, ds []delegate.Delegate, opts LogOptions) map[string]PodLogs {
	opts.defaults()
	out := map[string]PodLogs{}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(opts.Workers)
	for _, d := range ds {
		for _, p := range d.Pods {
			if p.Node == "" {
				continue // never started: no logs to read
			}
			// A pod whose logs fail records its error; the others' logs stand.
			g.Go(func() error {
				ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
				defer cancel()
				logs := PodLogs{}
				read := func(previous bool) (string, error) {
					req := client.CoreV1().Pods(d.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{
						Container: d.Workload.Container, Previous: previous, TailLines: &opts.TailLines, LimitBytes: &opts.LimitBytes,
					})
					stream, err := req.Stream(ctx)
					if err != nil {
						return "", err
					}
					defer stream.Close()
					data, err := io.ReadAll(io.LimitReader(stream, opts.LimitBytes))
					return string(data), err
				}
				var err error
				if logs.Current, err = read(false); err != nil {
					logs.Error = err.Error()
				}
				if p.Restarts > 0 || p.LastTermination != nil {
					if prev, err := read(true); err == nil {
						logs.Previous = prev
					} else if logs.Error == "" {
						logs.Error = "previous: " + err.Error()
					}
				}
				mu.Lock()
				out[d.Namespace+"/"+p.Name] = logs
				mu.Unlock()
				return nil
			})
		}
	}
	_ = g.Wait()
	return out
}

// logPattern is a line the delegate writes when something is wrong, with its cause and fix
// (Harness delegate troubleshooting docs).
type logPattern struct {
	re    *regexp.Regexp
	cause string
	fix   string
}

var logPatterns = []logPattern{
	{regexp.MustCompile(`used invalid token`), "the delegate's token is wrong or was deleted",
		"create a token in Harness (Account Settings > Delegates > Tokens) and put it in the token Secret, then restart the delegate"},
	{regexp.MustCompile(`used (expired|revoked) token`), "the delegate's token expired or was revoked",
		"rotate it: create a new token in Harness and update the token Secret, then restart the delegate"},
	{regexp.MustCompile(`Account ID: \S+ not found`), "the account id is wrong",
		"set ACCOUNT_ID (the chart's accountId) to the id in your Harness URLs"},
	{regexp.MustCompile(`Connectivity test failed|Connection check to Harness manager failed|Error occurred while registering delegate with manager`),
		"the delegate cannot reach the Harness manager", "allow egress to the manager endpoint on 443, or set the proxy; check DNS from the pod"},
	{regexp.MustCompile(`x509:|PKIX|unable to find valid certification path`), "the manager's certificate is not trusted",
		"add your CA bundle (the chart's delegateCustomCa.secretName, mounted at /opt/harness-delegate/ca-bundle/)"},
	{regexp.MustCompile(`Missing required write permissions`), "the delegate cannot write its working directory",
		"run it with a securityContext that lets it write its filesystem (no readOnlyRootFilesystem, a writable user)"},
	{regexp.MustCompile(`Error while executing initialization script`), "the INIT_SCRIPT failed",
		"fix the init script (the chart's initScript); the lines before this one in the log show the failing command"},
	{regexp.MustCompile(`java\.lang\.OutOfMemoryError`), "the JVM ran out of heap",
		"raise the memory (request = limit, at least 2Gi) or lower -Xmx in JAVA_OPTS"},
}

var registeredRE = regexp.MustCompile(`Delegate registered with id`)

// scanLog finds the last known error line and whether a registration came after it.
// Excerpts are cut to 200 characters: log lines are the user's data.
func scanLog(text string) (failure *logPattern, line string, registered bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if registeredRE.MatchString(l) {
			registered, failure, line = true, nil, ""
			continue
		}
		for i := range logPatterns {
			if logPatterns[i].re.MatchString(l) {
				failure, line, registered = &logPatterns[i], excerpt(l), false
				break
			}
		}
	}
	return failure, line, registered
}

func excerpt(line string) string {
	line = strings.TrimSpace(line)
	if len(line) > 200 {
		return line[:200] + "..."
	}
	return line
}

func checkLogs(s *Snapshot) []Finding {
	var out []Finding
	for _, d := range s.Delegates {
		for _, p := range d.Pods {
			key := d.Namespace + "/" + p.Name
			logs, ok := s.Logs[key]
			if !ok {
				continue
			}
			f := Finding{Subject: key}
			// The current log says how things stand now; the previous one why the last
			// instance died.
			if failure, line, _ := scanLog(logs.Current); failure != nil {
				f.Verdict, f.Finding = Fail, fmt.Sprintf("%s: %q", failure.cause, line)
				f.Hint = failure.fix
			} else if failure, line, _ := scanLog(logs.Previous); failure != nil {
				f.Verdict, f.Finding = Fail, fmt.Sprintf("the previous instance died: %s: %q", failure.cause, line)
				f.Hint = failure.fix
			} else if logs.Error != "" && logs.Current == "" {
				f.Verdict, f.Finding = Skip, "logs could not be read: "+logs.Error
			} else if _, _, registered := scanLog(logs.Current); registered {
				f.Verdict, f.Finding = Pass, "the delegate registered with the manager"
			} else {
				f.Verdict, f.Finding = Pass, "no known error lines in the log"
			}
			out = append(out, f)
		}
	}
	return out
}
