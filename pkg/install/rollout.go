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
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// RolloutStatus is one look at a Deployment's rollout.
type RolloutStatus struct {
	// Message reads as kubectl rollout status prints it.
	Message string
	Done    bool
	// Available is the Deployment's available replicas at that moment.
	Available int32
	Desired   int32
}

// DeploymentRolloutStatus is kubectl rollout status's reading of a Deployment, plus the
// number of replicas available. It is pure.
//
// It ports kubectl's polymorphichelpers.DeploymentStatusViewer rather than calling it: the
// viewer returns whole sentences ("Waiting for deployment %q rollout to finish: ...\n",
// "successfully rolled out") that would have to be parsed back into this status, and importing
// it links k8s.io/kubectl/pkg/cmd/util with i18n and templates: 28 more packages, 6 more
// modules and +520,096 bytes (69,520,920 -> 70,041,016, go build -ldflags '-s -w').
func DeploymentRolloutStatus(d *appsv1.Deployment) (RolloutStatus, error) {
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	s := RolloutStatus{Available: d.Status.AvailableReplicas, Desired: desired}
	if d.Generation > d.Status.ObservedGeneration {
		s.Message = "waiting for the deployment spec update to be observed"
		return s, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return s, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
		}
	}
	switch st := d.Status; {
	case st.UpdatedReplicas < desired:
		s.Message = fmt.Sprintf("%d out of %d new replicas have been updated", st.UpdatedReplicas, desired)
	case st.Replicas > st.UpdatedReplicas:
		s.Message = fmt.Sprintf("%d old replicas are pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		s.Message = fmt.Sprintf("%d of %d updated replicas are available", st.AvailableReplicas, st.UpdatedReplicas)
	default:
		s.Message = fmt.Sprintf("%d of %d replicas available", st.AvailableReplicas, desired)
		s.Done = true
	}
	return s, nil
}

// PodProblem is why a pod of the new revision is not coming up.
type PodProblem struct {
	Pod    string
	Reason string // CrashLoopBackOff, ImagePullBackOff, ...
	Detail string
}

func (p PodProblem) String() string {
	if p.Detail == "" {
		return p.Pod + ": " + p.Reason
	}
	return p.Pod + ": " + p.Reason + " (" + p.Detail + ")"
}

// hopeless are the waiting reasons a delegate pod does not recover from by waiting.
var hopeless = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

// PodProblems lists the pods that will not become available without a change. It is pure.
func PodProblems(pods []corev1.Pod) []PodProblem {
	return podProblems(pods, false)
}

// NotAvailable describes every pod that is not ready, stuck or not: Pending with the
// scheduler's reason, a waiting container, or running but not ready. It is pure.
func NotAvailable(pods []corev1.Pod) []PodProblem {
	return podProblems(pods, true)
}

func podProblems(pods []corev1.Pod, all bool) []PodProblem {
	var out []PodProblem
	for _, p := range pods {
		if all && p.DeletionTimestamp == nil && !podReady(p) {
			if problem, ok := notReadyReason(p); ok {
				out = append(out, problem)
				continue
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			w := cs.State.Waiting
			if w == nil || !hopeless[w.Reason] {
				continue
			}
			detail := w.Message
			if t := cs.LastTerminationState.Terminated; t != nil {
				detail = fmt.Sprintf("last exit: %s, code %d", t.Reason, t.ExitCode)
			}
			out = append(out, PodProblem{Pod: p.Name, Reason: w.Reason, Detail: detail})
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// notReadyReason says why a pod is not ready when no container is stuck in a hopeless state.
func notReadyReason(p corev1.Pod) (PodProblem, bool) {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && hopeless[w.Reason] {
			return PodProblem{}, false // reported as stuck below
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return PodProblem{Pod: p.Name, Reason: "Pending", Detail: strings.TrimSpace(c.Message)}, true
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			return PodProblem{Pod: p.Name, Reason: w.Reason, Detail: w.Message}, true
		}
	}
	return PodProblem{Pod: p.Name, Reason: string(p.Status.Phase) + ", not ready"}, true
}

// RolloutError says why a rollout did not finish: the pods' states and their warning events.
type RolloutError struct {
	Deployment string
	Cause      string
	Problems   []PodProblem
	Events     []string
}

func (e *RolloutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deployment %s did not become available: %s", e.Deployment, e.Cause)
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  pod %s", p)
	}
	for _, ev := range e.Events {
		fmt.Fprintf(&b, "\n  event %s", ev)
	}
	return b.String()
}

// WaitOptions say how long and how often to look.
type WaitOptions struct {
	Timeout  time.Duration
	Interval time.Duration
	// Progress hears each new status message.
	Progress func(RolloutStatus)
	// MinAvailable hears the lowest number of available replicas seen while waiting.
	MinAvailable *int32
}

// WaitForRollout waits until the Deployment's newest revision is fully available, or fails
// early when its pods are stuck in a state waiting does not cure (crash loop, image pull,
// missing configuration), or when the timeout passes. Each look is a GET of the Deployment,
// and a LIST of its ReplicaSets and pods by its selector while it is not done.
func WaitForRollout(ctx context.Context, client kubernetes.Interface, namespace, name string, opts WaitOptions) error {
	if opts.Interval == 0 {
		opts.Interval = time.Second
	}
	var last string
	var cause error
	var problems []PodProblem
	err := wait.PollUntilContextTimeout(ctx, opts.Interval, opts.Timeout, true, func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err() // the timeout, not a failed read
			}
			return false, fmt.Errorf("reading deployment %s: %w", name, err)
		}
		status, err := DeploymentRolloutStatus(d)
		if opts.MinAvailable != nil && status.Available < *opts.MinAvailable {
			*opts.MinAvailable = status.Available
		}
		if err != nil {
			cause = err
			problems, _ = newRevisionProblems(ctx, client, d, true)
			return false, err
		}
		if status.Message != last && opts.Progress != nil {
			opts.Progress(status)
		}
		last = status.Message
		if status.Done {
			return true, nil
		}
		// Until the deployment controller has observed the spec, the revision annotation
		// still names the revision before it: after a rollback, the failed one, whose
		// crash-looping pods would be taken for the rolled-back revision's.
		if d.Generation > d.Status.ObservedGeneration {
			return false, nil
		}
		if problems, err = newRevisionProblems(ctx, client, d, false); err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, err
		}
		if len(problems) > 0 {
			cause = fmt.Errorf("%d pod(s) of the new revision are in %s", len(problems), problems[0].Reason)
			return false, cause
		}
		return false, nil
	})
	if err == nil {
		return nil
	}
	if cause == nil {
		if !errors.Is(err, context.DeadlineExceeded) && !wait.Interrupted(err) {
			return err
		}
		cause = fmt.Errorf("timed out after %s (%s)", opts.Timeout, last)
		// The last look may predate the timeout by an interval; look once more for why.
		if d, gerr := client.AppsV1().Deployments(namespace).Get(context.WithoutCancel(ctx), name, metav1.GetOptions{}); gerr == nil {
			problems, _ = newRevisionProblems(context.WithoutCancel(ctx), client, d, true)
		}
	}
	rerr := &RolloutError{Deployment: namespace + "/" + name, Cause: cause.Error(), Problems: problems}
	rerr.Events = podWarnings(context.WithoutCancel(ctx), client, namespace, problems, 5)
	return rerr
}

// newRevisionProblems reads the pods of the Deployment's newest ReplicaSet.
// With all, every pod that is not ready is described, not only the hopeless ones.
func newRevisionProblems(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment, all bool) ([]PodProblem, error) {
	pods, err := newRevisionPods(ctx, client, d)
	if err != nil {
		return nil, err
	}
	if all {
		return NotAvailable(pods), nil
	}
	return PodProblems(pods), nil
}

// newRevisionPods lists the pods of the Deployment's newest ReplicaSet: a LIST of its
// ReplicaSets and a LIST of pods, by selector.
func newRevisionPods(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment) ([]corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s has a bad selector: %w", d.Name, err)
	}
	rsList, err := client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, fmt.Errorf("listing the replica sets of %s: %w", d.Name, err)
	}
	revision := d.Annotations["deployment.kubernetes.io/revision"]
	var hash string
	for _, rs := range rsList.Items {
		if rs.Annotations["deployment.kubernetes.io/revision"] == revision && delegate.ControlledBy(&rs, d.UID) {
			hash = rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		}
	}
	if hash == "" {
		return nil, nil
	}
	podSelector := labels.Set{appsv1.DefaultDeploymentUniqueLabelKey: hash}.AsSelector().String() + "," + selector.String()
	pods, err := client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: podSelector})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of %s: %w", d.Name, err)
	}
	return pods.Items, nil
}

// podWarnings are the newest warning events of the stuck pods, as one line each.
func podWarnings(ctx context.Context, client kubernetes.Interface, namespace string, problems []PodProblem, limit int) []string {
	if len(problems) == 0 {
		return nil
	}
	events, err := delegate.ListWarningEvents(ctx, client, namespace)
	if err != nil {
		return nil
	}
	stuck := map[string]bool{}
	for _, p := range problems {
		stuck[p.Pod] = true
	}
	var relevant []corev1.Event
	for _, e := range events {
		if e.InvolvedObject.Kind == "Pod" && stuck[e.InvolvedObject.Name] {
			relevant = append(relevant, e)
		}
	}
	sort.Slice(relevant, func(i, j int) bool { return delegate.EventTime(relevant[i]).After(delegate.EventTime(relevant[j])) })
	var out []string
	for i, e := range relevant {
		if i == limit {
			break
		}
		out = append(out, fmt.Sprintf("%s %s: %s", e.InvolvedObject.Name, e.Reason, strings.TrimSpace(e.Message)))
	}
	return out
}
