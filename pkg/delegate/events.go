package delegate

import (
	"context"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

// Event is a warning event about a delegate's workload or pods.
type Event struct {
	Object   string    `json:"object"`
	Reason   string    `json:"reason"`
	Message  string    `json:"message"`
	Count    int32     `json:"count"`
	LastSeen time.Time `json:"lastSeen"`
}

// WarningEvents lists the namespace's warning events once (a field-selected LIST, paginated)
// and keeps those about the delegate's workload, its ReplicaSets and its pods, newest first.
func WarningEvents(ctx context.Context, client kubernetes.Interface, d Delegate, limit int) ([]Event, error) {
	all, err := ListWarningEvents(ctx, client, d.Namespace)
	if err != nil {
		return nil, err
	}
	return delegateEvents(all, d, limit), nil
}

// ListWarningEvents lists the warning events of a namespace ("" for all) with one
// field-selected, paginated LIST.
func ListWarningEvents(ctx context.Context, client kubernetes.Interface, namespace string) ([]corev1.Event, error) {
	opts := metav1.ListOptions{FieldSelector: "type=" + corev1.EventTypeWarning, Limit: 500}
	return ListAll[corev1.Event](ctx, opts, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return client.CoreV1().Events(namespace).List(ctx, o)
	})
}

func delegateEvents(all []corev1.Event, d Delegate, limit int) []Event {
	var out []Event
	for _, e := range all {
		if e.Type != corev1.EventTypeWarning || !Concerns(d, e.InvolvedObject) {
			continue
		}
		out = append(out, Event{
			Object:   e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name,
			Reason:   e.Reason,
			Message:  strings.TrimSpace(e.Message),
			Count:    max(e.Count, 1),
			LastSeen: EventTime(e),
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// EventTime is when an event last happened, whichever of its time fields the reporter set.
func EventTime(e corev1.Event) time.Time {
	var series time.Time
	if e.Series != nil {
		series = e.Series.LastObservedTime.Time
	}
	for _, t := range []time.Time{e.LastTimestamp.Time, series, e.EventTime.Time, e.FirstTimestamp.Time, e.CreationTimestamp.Time} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}
