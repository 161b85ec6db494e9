package install

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// rolledOut is a Deployment of two replicas, its newest ReplicaSet, its pods (one still
// unscheduled when scheduled is false) and a pod of an older revision.
func rolledOut(scheduled bool) []runtime.Object {
	labels := map[string]string{"app": "d"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns", UID: "uid-d", Annotations: map[string]string{"deployment.kubernetes.io/revision": "2"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "delegate"}}}}},
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "d-new", Namespace: "ns",
		Labels:          map[string]string{"app": "d", appsv1.DefaultDeploymentUniqueLabelKey: "new"},
		Annotations:     map[string]string{"deployment.kubernetes.io/revision": "2"},
		OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "d", UID: "uid-d", Controller: ptr.To(true)}}}}
	pod := func(name, hash, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns",
			Labels: map[string]string{"app": "d", appsv1.DefaultDeploymentUniqueLabelKey: hash}}, Spec: corev1.PodSpec{NodeName: node}}
	}
	second := pod("d-new-b", "new", "")
	if scheduled {
		second.Spec.NodeName = "n"
	}
	return []runtime.Object{d, rs, pod("d-new-a", "new", "n"), second, pod("d-old-a", "old", "n")}
}

// logs serves planted logs; reads counts the reads of each pod.
type logs struct {
	mu    sync.Mutex
	text  map[string]string
	reads map[string]int
}

func (l *logs) read(_ context.Context, pod, container string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads[pod]++
	if container != "delegate" {
		return "", errors.New("wrong container " + container)
	}
	text, ok := l.text[pod]
	if !ok {
		return "", errors.New("container not started")
	}
	return text, nil
}

func TestWaitForRegistration(t *testing.T) {
	const registered = "2026-11-30T16:00:05Z Delegate registered with id abc\n"
	tests := []struct {
		name      string
		scheduled bool
		text      map[string]string
		// want is "" for success, else a piece of the error.
		want     string
		failure  bool
		maxReads int // reads of one pod at most
	}{
		{name: "every new pod registers", scheduled: true,
			text: map[string]string{"d-new-a": registered, "d-new-b": "Starting\n" + registered}, maxReads: 1},
		{name: "an invalid token stops the wait at once", scheduled: true,
			text: map[string]string{"d-new-a": registered, "d-new-b": "Delegate used invalid token. Self destruct procedure will be initiated.\n"},
			want: "pod d-new-b of deployment ns/d will not register with the manager: the delegate's token is wrong or was deleted", failure: true, maxReads: 1},
		{name: "a pod that never registers times out", scheduled: true,
			text: map[string]string{"d-new-a": registered, "d-new-b": "Starting\n"},
			want: "1 of 2 pods registered\n  pod d-new-b: no registration line in its log yet"},
		{name: "an unscheduled pod counts as not registered", scheduled: false,
			text: map[string]string{"d-new-a": registered, "d-new-b": registered},
			want: "1 of 2 pods registered"},
		{name: "a log that cannot be read says why", scheduled: true,
			text: map[string]string{"d-new-a": registered},
			want: "pod d-new-b: its log could not be read: container not started"},
		{name: "the token in a failure line is redacted", scheduled: true,
			text: map[string]string{"d-new-a": registered, "d-new-b": "Account ID: SECRET-TOKEN not found. Stop launching delegate.\n"},
			want: `"Account ID: *** not found`, failure: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(rolledOut(tt.scheduled)...)
			l := &logs{text: tt.text, reads: map[string]int{}}
			var seen []RegistrationStatus
			opts := RegistrationOptions{Timeout: 50 * time.Millisecond, Interval: 5 * time.Millisecond,
				Redact:   func(s string) string { return strings.ReplaceAll(s, "SECRET-TOKEN", "***") },
				Progress: func(s RegistrationStatus) { seen = append(seen, s) }}
			err := waitForRegistration(context.Background(), client, "ns", "d", opts, l.read)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if last := seen[len(seen)-1]; last != (RegistrationStatus{Registered: 2, Pods: 2}) {
					t.Errorf("last progress %+v", last)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to say %q", err, tt.want)
			}
			var failure *RegistrationError
			if errors.As(err, &failure) != tt.failure {
				t.Errorf("error %T, want a *RegistrationError: %v", err, tt.failure)
			}
			if failure != nil && failure.Fix == "" {
				t.Errorf("a failure without doctor's fix: %+v", failure)
			}
			if l.reads["d-old-a"] > 0 {
				t.Error("read the log of a pod of the old revision")
			}
			for pod, n := range l.reads {
				if tt.maxReads > 0 && n > tt.maxReads {
					t.Errorf("pod %s: %d log reads, want at most %d: a registered pod is not read again", pod, n, tt.maxReads)
				}
			}
		})
	}
}

func TestRegistrationStatus(t *testing.T) {
	tests := []struct {
		pods       []string
		registered map[string]bool
		desired    int32
		want       RegistrationStatus
		done       bool
	}{
		{nil, nil, 0, RegistrationStatus{}, true},
		{nil, nil, 2, RegistrationStatus{Pods: 2}, false},
		{[]string{"a"}, map[string]bool{"a": true}, 2, RegistrationStatus{Registered: 1, Pods: 2}, false},
		{[]string{"a", "b"}, map[string]bool{"a": true, "b": true}, 2, RegistrationStatus{Registered: 2, Pods: 2}, true},
		{[]string{"a", "b", "c"}, map[string]bool{"a": true, "b": true}, 2, RegistrationStatus{Registered: 2, Pods: 3}, false},
	}
	for _, tt := range tests {
		got := registrationStatus(tt.pods, tt.registered, tt.desired)
		if got != tt.want || got.Done() != tt.done {
			t.Errorf("registrationStatus(%v, %v, %d) = %+v (done %v), want %+v (done %v)", tt.pods, tt.registered, tt.desired, got, got.Done(), tt.want, tt.done)
		}
	}
}

// Install waits for the registration after the rollout, only when asked, in the same timeout.
func TestInstallWaitsForRegistration(t *testing.T) {
	for _, tc := range []struct {
		waitFor WaitCondition
		phases  []EventKind
	}{
		{UntilRollout, []EventKind{Rollout}},
		{UntilRegistered, []EventKind{Rollout, Registration}},
	} {
		t.Run(string(tc.waitFor), func(t *testing.T) {
			c := newFakeCluster(t, nil)
			_, _, err := c.installer(Config{SkipPreflight: true, Wait: true, WaitFor: tc.waitFor, Timeout: 50 * time.Millisecond}).Install(context.Background(), base())
			var timeout *RegistrationTimeoutError
			if registered := tc.waitFor == UntilRegistered; errors.As(err, &timeout) != registered || (!registered && err != nil) {
				t.Fatalf("got %v: the fake's pods never register", err)
			}
			var phases []EventKind
			for _, e := range c.events {
				if (e.Kind == Rollout || e.Kind == Registration) && !slices.Contains(phases, e.Kind) {
					phases = append(phases, e.Kind)
				}
			}
			if !slices.Equal(phases, tc.phases) {
				t.Errorf("phases %v, want %v", phases, tc.phases)
			}
		})
	}
}
