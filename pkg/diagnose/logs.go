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

// upgraderTailLines are what doctor reads of a failed upgrader run's log: its last lines
// say why, and the finding quotes a few of them.
const upgraderTailLines = 50

// gatherLogs reads the tail of every delegate pod's logs, and the previous instance's where
// the container has restarted, with bounded concurrency and a timeout per pod; and the tail
// of the failed upgrader run's pod, one per delegate at most. redact hides secrets in every
// text before it is kept: findings quote these logs.
func gatherLogs(ctx context.Context, client kubernetes.Interface, ds []delegate.Delegate, opts LogOptions, redact func(string) string) map[string]PodLogs {
	opts.defaults()
	out := map[string]PodLogs{}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(opts.Workers)
	read := func(ctx context.Context, ns, pod, container string, previous bool, tail int64) (string, error) {
		req := client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{
			Container: container, Previous: previous, TailLines: &tail, LimitBytes: &opts.LimitBytes,
		})
		stream, err := req.Stream(ctx)
		if err != nil {
			return "", err
		}
		defer stream.Close()
		data, err := io.ReadAll(io.LimitReader(stream, opts.LimitBytes))
		return redact(string(data)), err
	}
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
				var err error
				if logs.Current, err = read(ctx, d.Namespace, p.Name, d.Workload.Container, false, opts.TailLines); err != nil {
					logs.Error = err.Error()
				}
				if p.Restarts > 0 || p.LastTermination != nil {
					if prev, err := read(ctx, d.Namespace, p.Name, d.Workload.Container, true, opts.TailLines); err == nil {
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
		if u := d.Upgrader; u != nil && u.LastJob != nil && u.LastJob.Failed && u.LastJob.Pod != "" {
			g.Go(func() error {
				ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
				defer cancel()
				logs := PodLogs{}
				var err error
				if logs.Current, err = read(ctx, d.Namespace, u.LastJob.Pod, "", false, upgraderTailLines); err != nil {
					logs.Error = err.Error()
				}
				mu.Lock()
				out[d.Namespace+"/"+u.LastJob.Pod] = logs
				mu.Unlock()
				return nil
			})
		}
	}
	_ = g.Wait()
	return out
}

// logPattern is a line the delegate writes when something is wrong, with its cause and fix
// (Harness delegate troubleshooting docs, ../shared/DOMAIN.md). Specificity ranks patterns
// when several lines match: a Java exception that names the cause (an unknown host, a
// refused connection) beats the generic registration error logged around it.
type logPattern struct {
	re          *regexp.Regexp
	cause       string
	fix         string
	specificity int
}

// Specificities: a line that names the cause outright, one that names a kind of cause, and
// one that only says something failed.
const (
	generic  = 1
	named    = 2
	specific = 3
)

var logPatterns = []logPattern{
	{regexp.MustCompile(`used invalid token`), "the delegate's token is wrong or was deleted",
		"create a token in Harness (Account Settings > Delegates > Tokens) and put it in the token Secret, then restart the delegate", specific},
	{regexp.MustCompile(`used (expired|revoked) token`), "the delegate's token expired or was revoked",
		"rotate it: create a new token in Harness and update the token Secret, then restart the delegate", specific},
	{regexp.MustCompile(`Account ID: \S+ not found`), "the account id is wrong",
		"set ACCOUNT_ID (the chart's accountId) to the id in your Harness URLs", specific},
	{regexp.MustCompile(`java\.net\.UnknownHostException`), "the manager's host name does not resolve",
		"check the spelling of MANAGER_HOST_AND_PORT (the chart's managerEndpoint) and the cluster's DNS: kubectl run -it --rm dns --image=busybox --restart=Never -- nslookup HOST", specific},
	{regexp.MustCompile(`SocketTimeoutException: [Cc]onnect timed out|ConnectException: Connection refused|java\.net\.NoRouteToHostException`), "the delegate cannot open a connection to the manager",
		"allow egress from the delegate's pods to the manager on port 443 (NetworkPolicy, firewall), or route it through the proxy (the chart's proxyHost, proxyPort)", specific},
	{regexp.MustCompile(`407 Proxy Authentication Required|Unable to tunnel through proxy`), "the proxy refuses the delegate's credentials",
		"set PROXY_USER and PROXY_PASSWORD (the chart's proxyUser, proxyPassword) to an account the proxy accepts", specific},
	{regexp.MustCompile(`x509:|PKIX|unable to find valid certification path`), "the manager's certificate is not trusted",
		"add your CA bundle (the chart's delegateCustomCa.secretName, mounted at /opt/harness-delegate/ca-bundle/)", specific},
	{regexp.MustCompile(`java\.lang\.OutOfMemoryError`), "the JVM ran out of heap",
		"the heap must fit under the container's memory limit: lower -Xmx or -XX:MaxRAMPercentage in JAVA_OPTS, or raise the memory (request = limit, at least 2Gi)", specific},
	{regexp.MustCompile(`Failed to build trust key store`), "the delegate cannot build its trust store",
		"the truststore password changed: set it back, or recreate the truststore with the new one", specific},
	{regexp.MustCompile(`must be less than or equal to cpu limit`), "a LimitRange in the namespace conflicts with the delegate's resources",
		"make the delegate's requests and limits fit the LimitRange (kubectl get limitrange -n NAMESPACE), or change it", specific},
	{regexp.MustCompile(`Self destruct sequence initiated`), "Harness told the delegate to self-destruct: two delegates share its name, or its token is invalid",
		"give each delegate a unique name (DELEGATE_NAME, the chart's delegateName) in every cluster, and check its token", named},
	{regexp.MustCompile(`KubernetesClientException.*Operation: \[list\]`), "the delegate's calls to the Kubernetes API fail, behind a proxy",
		"add the API server's IP to NO_PROXY (the chart's noProxy; NO_PROXY takes no subnet masks)", named},
	{regexp.MustCompile(`Delegate\(s\) not supported for task type`), "the delegate is too old for the task",
		"upgrade the delegate to the published release (or enable the upgrader)", named},
	{regexp.MustCompile(`Missing required write permissions`), "the delegate cannot write its working directory",
		"run it with a securityContext that lets it write its filesystem (no readOnlyRootFilesystem, a writable user)", specific},
	{regexp.MustCompile(`Error while executing initialization script`), "the INIT_SCRIPT failed",
		"fix the init script (the chart's initScript); the lines before this one in the log show the failing command", specific},
	{regexp.MustCompile(`Connectivity test failed|Connection check to Harness manager failed|Error occurred while registering delegate with manager`),
		"the delegate cannot reach the Harness manager", "allow egress to the manager endpoint on 443, or set the proxy; check DNS from the pod", generic},
}

var registeredRE = regexp.MustCompile(`Delegate registered with id`)

// logHints are the required literals of each of logPatterns, by index.
var logHints = func() [][]string {
	out := make([][]string, len(logPatterns))
	for i, p := range logPatterns {
		out[i] = requiredLiterals(p.re)
	}
	return out
}()

// scanLog finds the known error line that says most about the cause since the last
// registration (the latest among equally specific ones), and whether a registration came
// after every error. Excerpts are cut to 200 characters: log lines are the user's data.
func scanLog(text string) (failure *logPattern, line string, registered bool) {
	// Only the patterns whose required literals the text holds are run on its lines.
	var active []*logPattern
	for i := range logPatterns {
		if mayMatch(text, logHints[i]) {
			active = append(active, &logPatterns[i])
		}
	}
	mayRegister := strings.Contains(text, registeredRE.String())
	if len(active) == 0 && !mayRegister {
		return nil, "", false
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if mayRegister && registeredRE.MatchString(l) {
			registered, failure, line = true, nil, ""
			continue
		}
		for _, p := range active {
			if p.re.MatchString(l) {
				if failure == nil || p.specificity >= failure.specificity {
					failure, line, registered = p, excerpt(l), false
				}
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

// crashLogCause is the cause a crash-looping pod's logs name: the previous instance's log
// says why it exited; without one, the current log (a waiting container's is its last).
func crashLogCause(logs PodLogs) (*logPattern, string) {
	for _, text := range []string{logs.Previous, logs.Current} {
		if failure, line, _ := scanLog(text); failure != nil {
			return failure, line
		}
	}
	return nil, ""
}

// quotesLogCause says whether DLG-301 names the pod's log cause: a crash loop, unless the
// kernel's OOMKilled already says why.
func quotesLogCause(p delegate.Pod) bool {
	return p.Waiting == "CrashLoopBackOff" && (p.LastTermination == nil || p.LastTermination.Reason != "OOMKilled")
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
			// The pod's state first: it is free, and the log scans are what cost.
			if quotesLogCause(p) {
				if cause, _ := crashLogCause(logs); cause != nil {
					continue // DLG-301 says the crash loop and this cause in one finding
				}
			}
			f := Finding{Subject: key, Delegate: subject(d)}
			// The current log says how things stand now; the previous one why the last
			// instance died. Each log is scanned once, the previous only when it can matter.
			current, currentLine, registered := scanLog(logs.Current)
			var previous *logPattern
			var previousLine string
			if current == nil {
				previous, previousLine, _ = scanLog(logs.Previous)
			}
			switch {
			case current != nil:
				f.Verdict, f.Finding, f.Hint = Fail, fmt.Sprintf("%s: %q", current.cause, currentLine), current.fix
			case previous != nil:
				f.Verdict, f.Finding, f.Hint = Fail, fmt.Sprintf("the previous instance died: %s: %q", previous.cause, previousLine), previous.fix
			case logs.Error != "" && logs.Current == "":
				f.Verdict, f.Finding = Skip, "logs could not be read: "+logs.Error
			case registered:
				f.Verdict, f.Finding = Pass, "the delegate registered with the manager"
			default:
				f.Verdict, f.Finding = Pass, "no known error lines in the log"
			}
			out = append(out, f)
		}
	}
	return out
}
