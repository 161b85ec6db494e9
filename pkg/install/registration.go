package install

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// WaitCondition is what --wait waits for.
type WaitCondition string

const (
	// UntilRollout waits until the new revision's pods are available.
	UntilRollout WaitCondition = "rollout"
	// UntilRegistered waits past the rollout until each new pod's log says the delegate
	// registered with the manager.
	UntilRegistered WaitCondition = "registered"
)

// WaitConditions are the valid values, in the order help text names them.
var WaitConditions = []WaitCondition{UntilRegistered, UntilRollout}

// RegistrationStatus is one look at the new pods' registration with the manager.
type RegistrationStatus struct {
	Registered, Pods int
}

// Done says whether every pod registered (a Deployment scaled to 0 has none to wait for).
func (s RegistrationStatus) Done() bool { return s.Registered == s.Pods }

// RegistrationError is a new pod whose log holds a known failure line: waiting longer does
// not make it register. Cause, Fix and Line are doctor's finding for that line.
type RegistrationError struct {
	Namespace, Deployment, Pod string
	Cause, Fix, Line           string
}

func (e *RegistrationError) Error() string {
	return fmt.Sprintf("pod %s of deployment %s/%s will not register with the manager: %s: %q\n  fix: %s", e.Pod, e.Namespace, e.Deployment, e.Cause, e.Line, e.Fix)
}

// RegistrationTimeoutError is a wait for registration that ran out of time.
type RegistrationTimeoutError struct {
	Deployment string
	Timeout    time.Duration
	Status     RegistrationStatus
	// Waiting are the pods not registered yet, each with why its log could not be read
	// when it could not.
	Waiting []string
}

func (e *RegistrationTimeoutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deployment %s is rolled out but its delegate did not register with the manager within %s: %d of %d pods registered",
		e.Deployment, e.Timeout, e.Status.Registered, e.Status.Pods)
	for _, w := range e.Waiting {
		fmt.Fprintf(&b, "\n  pod %s", w)
	}
	b.WriteString("\n  kubectl delegate doctor says why")
	return b.String()
}

// RegistrationOptions say how long and how often to look, and how much of each log to read.
type RegistrationOptions struct {
	Timeout  time.Duration
	Interval time.Duration
	// TailLines and LimitBytes bound each log read; defaults 200 lines, 64 KiB.
	TailLines, LimitBytes int64
	// Redact hides secrets in a log before anything of it is kept or printed.
	Redact   func(string) string
	Progress func(RegistrationStatus)
}

func (o *RegistrationOptions) defaults() {
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.TailLines <= 0 {
		o.TailLines = 200
	}
	if o.LimitBytes <= 0 {
		o.LimitBytes = 64 << 10
	}
	if o.Redact == nil {
		o.Redact = func(s string) string { return s }
	}
}

// logReader reads the tail of one container's current log.
type logReader func(ctx context.Context, pod, container string) (string, error)

// WaitForRegistration waits until every pod of the Deployment's newest revision says in its
// log that the delegate registered with the manager, and stops at once with a
// *RegistrationError when one says why it will not (doctor's log patterns). Each look is a
// GET of the Deployment, a LIST of its ReplicaSets and pods, and one bounded log read per
// new pod not registered yet.
func WaitForRegistration(ctx context.Context, client kubernetes.Interface, namespace, name string, opts RegistrationOptions) error {
	opts.defaults()
	read := func(ctx context.Context, pod, container string) (string, error) {
		return diagnose.ReadLogTail(ctx, client, namespace, pod, container, opts.TailLines, opts.LimitBytes)
	}
	return waitForRegistration(ctx, client, namespace, name, opts, read)
}

func waitForRegistration(ctx context.Context, client kubernetes.Interface, namespace, name string, opts RegistrationOptions, read logReader) error {
	opts.defaults()
	ref := namespace + "/" + name
	registered := map[string]bool{} // a pod that registered is not read again
	readErrs := map[string]string{}
	var pods []string
	var last RegistrationStatus
	var failure *RegistrationError
	err := wait.PollUntilContextTimeout(ctx, opts.Interval, opts.Timeout, true, func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, fmt.Errorf("reading deployment %s: %w", name, err)
		}
		all, err := newRevisionPods(ctx, client, d)
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, err
		}
		pods = startedPods(all)
		container := delegate.MainContainer(d.Spec.Template.Spec)
		for _, pod := range pods {
			if registered[pod] {
				continue
			}
			text, err := read(ctx, pod, container)
			if err != nil {
				if ctx.Err() != nil {
					return false, ctx.Err()
				}
				readErrs[pod] = opts.Redact(err.Error())
				continue // the log may not be served yet: look again next time
			}
			delete(readErrs, pod)
			r := diagnose.ReadRegistration(opts.Redact(text))
			if r.Failed() {
				failure = &RegistrationError{Namespace: namespace, Deployment: name, Pod: pod, Cause: r.Cause, Fix: r.Fix, Line: r.Line}
				return false, failure
			}
			registered[pod] = r.Registered
		}
		status := registrationStatus(pods, registered, desiredReplicas(d))
		if status != last && opts.Progress != nil {
			opts.Progress(status)
		}
		last = status
		return status.Done(), nil
	})
	if err == nil || failure != nil {
		return err
	}
	if !errors.Is(err, context.DeadlineExceeded) && !wait.Interrupted(err) {
		return err
	}
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err // cancelled, not timed out: the caller says what is left
	}
	timeout := &RegistrationTimeoutError{Deployment: ref, Timeout: opts.Timeout, Status: last}
	for _, pod := range pods {
		if registered[pod] {
			continue
		}
		if e := readErrs[pod]; e != "" {
			timeout.Waiting = append(timeout.Waiting, pod+": its log could not be read: "+e)
		} else {
			timeout.Waiting = append(timeout.Waiting, pod+": no registration line in its log yet")
		}
	}
	return timeout
}

// registrationStatus counts the registered pods; a Deployment short of its replicas counts
// the missing ones as not registered. It is pure.
func registrationStatus(pods []string, registered map[string]bool, desired int32) RegistrationStatus {
	s := RegistrationStatus{Pods: max(len(pods), int(desired))}
	for _, p := range pods {
		if registered[p] {
			s.Registered++
		}
	}
	return s
}

// startedPods are the names of the pods that run on a node and are not going away, sorted:
// only they have a log to read.
func startedPods(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			out = append(out, p.Name)
		}
	}
	sort.Strings(out)
	return out
}

func desiredReplicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// WaitForRegistration waits, when the Config says so, for the delegate's new pods to register,
// telling each new count; the wait shares Timeout with the rollout's, which began at start.
func (i *Installer) WaitForRegistration(ctx context.Context, name string, start time.Time) error {
	if i.settings.WaitFor != UntilRegistered {
		return nil
	}
	progress := func(s RegistrationStatus) { i.progress(Event{Kind: Registration, Deployment: name, Registration: s}) }
	// What is left of the timeout, and at least one look.
	timeout := max(i.settings.Timeout-time.Since(start), time.Millisecond)
	opts := RegistrationOptions{Timeout: timeout, Interval: i.settings.Interval, Redact: i.settings.Redact, Progress: progress}
	if i.readLog != nil {
		return waitForRegistration(ctx, i.kube, i.settings.Namespace, name, opts, i.readLog)
	}
	return WaitForRegistration(ctx, i.kube, i.settings.Namespace, name, opts)
}
