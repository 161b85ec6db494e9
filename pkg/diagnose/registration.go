package diagnose

import (
	"context"
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

// Registration is what a delegate pod's log tail says about its registration with the
// manager: install's wait and inspect read it with doctor's own log patterns, so that the
// three agree on what a line means.
type Registration struct {
	// Registered: the log's last word on the matter is "Delegate registered with id ...".
	Registered bool
	// DelegateID is the id of the last registration line, At its time when the log was read
	// with timestamps (zero otherwise).
	DelegateID string
	At         time.Time
	// Cause, Fix and Line are the known failure line since the last registration, as
	// doctor words it (empty when there is none).
	Cause, Fix, Line string
}

// Failed says whether the log holds a known failure line since its last registration.
func (r Registration) Failed() bool { return r.Cause != "" }

var registeredIDRE = regexp.MustCompile(`Delegate registered with id\s*:?\s*([^\s,;]*)`)

// ReadRegistration reads a log tail (with or without the kubelet's RFC 3339 timestamp at the
// start of each line, PodLogOptions.Timestamps). It is pure.
func ReadRegistration(text string) Registration {
	failure, line, registered := scanLog(text)
	r := Registration{Registered: registered, Line: line}
	if failure != nil {
		r.Cause, r.Fix = failure.cause, failure.fix
	}
	if !registered {
		return r
	}
	// The last registration line: the one scanLog's verdict rests on.
	end := len(text)
	for end > 0 {
		start := strings.LastIndexByte(text[:end], '\n') + 1
		l := text[start:end]
		if m := registeredIDRE.FindStringSubmatch(l); m != nil {
			r.DelegateID = m[1]
			if stamp, _, ok := strings.Cut(l, " "); ok {
				if at, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
					r.At = at
				}
			}
			break
		}
		end = max(start-1, 0)
	}
	return r
}

// PodRegistrations reads the tail of the current log of each of the delegate's pods that
// runs on a node (one request per pod, with timestamps, bounded by opts, redact applied
// first) and says of each what it says about its registration. A log that cannot be read
// is in the errors, by pod name.
func PodRegistrations(ctx context.Context, client kubernetes.Interface, d delegate.Delegate, opts LogOptions, redact func(string) string) (map[string]Registration, map[string]error) {
	opts.defaults()
	regs, errs := map[string]Registration{}, map[string]error{}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(opts.Workers)
	for _, p := range d.Pods {
		if p.Node == "" {
			continue // never started: no log to read
		}
		g.Go(func() error {
			ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			defer cancel()
			text, err := ReadLogTail(ctx, client, d.Namespace, p.Name, d.Workload.Container, opts.TailLines, opts.LimitBytes)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[p.Name] = err
				return nil
			}
			regs[p.Name] = ReadRegistration(redact(text))
			return nil
		})
	}
	_ = g.Wait()
	return regs, errs
}

// ReadLogTail reads the timestamped tail of a container's current log, at most tailLines lines
// and limitBytes bytes: what inspect and install's registration wait look at.
func ReadLogTail(ctx context.Context, client kubernetes.Interface, namespace, pod, container string, tailLines, limitBytes int64) (string, error) {
	stream, err := client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container,
		TailLines: &tailLines, LimitBytes: &limitBytes, Timestamps: true}).Stream(ctx)
	if err != nil {
		return "", err
	}
	defer stream.Close()
	data, err := io.ReadAll(io.LimitReader(stream, limitBytes))
	return string(data), err
}

// Registered is the model's form of a registration, nil when the log says none.
func (r Registration) Model() *delegate.Registered {
	if !r.Registered {
		return nil
	}
	out := &delegate.Registered{DelegateID: r.DelegateID}
	if !r.At.IsZero() {
		at := r.At
		out.At = &at
	}
	return out
}
