package delegate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Two Deployments whose names share a prefix: prod and prod-canary. The ReplicaSet of
// prod-canary is named prod-canary-7c9d8, which starts with "prod-": only its owner
// reference says it belongs to prod-canary.
func TestConcernsGoesByOwnerNotNamePrefix(t *testing.T) {
	objs := prodAndCanary()
	d := findDelegate(t, Build(objs, fixtureTime), "prod")
	canaryRS := corev1.ObjectReference{Kind: "ReplicaSet", Namespace: "apps", Name: "prod-canary-7c9d8", UID: "rs-prod-canary"}
	if Concerns(d, canaryRS) {
		t.Errorf("Concerns(prod, ReplicaSet prod-canary-7c9d8) = true: prod-canary's events would show as prod's")
	}
	for _, ref := range []corev1.ObjectReference{
		{Kind: "Deployment", Namespace: "apps", Name: "prod", UID: "dep-prod"},
		{Kind: "ReplicaSet", Namespace: "apps", Name: "prod-5f6d7", UID: "rs-prod"},
		{Kind: "Pod", Namespace: "apps", Name: "prod-5f6d7-abcde", UID: "pod-prod"},
		{Kind: "CronJob", Namespace: "apps", Name: "prod-upgrader-job", UID: "cj-prod"},
		{Kind: "Job", Namespace: "apps", Name: "prod-upgrader-job-29000000", UID: "job-prod"},
	} {
		if !Concerns(d, ref) {
			t.Errorf("Concerns(prod, %s %s) = false, want true", ref.Kind, ref.Name)
		}
	}
	// A name alone is not enough: an event about a deleted and re-created object of the
	// same name carries the old UID.
	if Concerns(d, corev1.ObjectReference{Kind: "Pod", Namespace: "apps", Name: "prod-5f6d7-abcde", UID: "old-pod"}) {
		t.Errorf("Concerns matched a pod by name with another UID")
	}
	// The upgrader of prod-canary (prod-canary-upgrader-job) is not prod's either.
	if Concerns(d, corev1.ObjectReference{Kind: "Job", Namespace: "apps", Name: "prod-canary-upgrader-job-29000000", UID: "job-canary"}) {
		t.Errorf("Concerns(prod, Job of prod-canary's upgrader) = true")
	}
	events := []corev1.Event{
		{InvolvedObject: canaryRS, Type: corev1.EventTypeWarning, Reason: "FailedCreate"},
		{InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", Namespace: "apps", Name: "prod-5f6d7", UID: "rs-prod"}, Type: corev1.EventTypeWarning, Reason: "FailedCreate"},
	}
	got := delegateEvents(events, d, 0)
	if len(got) != 1 || got[0].Object != "ReplicaSet/prod-5f6d7" {
		t.Errorf("prod's events = %+v, want only ReplicaSet/prod-5f6d7's", got)
	}
}

func TestPodsBelongByOwnerReferences(t *testing.T) {
	objs := prodAndCanary()
	ds := Build(objs, fixtureTime)
	for name, want := range map[string]string{"prod": "prod-5f6d7-abcde", "prod-canary": "prod-canary-7c9d8-fghij"} {
		d := findDelegate(t, ds, name)
		if len(d.Pods) != 1 || d.Pods[0].Name != want {
			t.Errorf("pods of %s = %+v, want only %s", name, d.Pods, want)
		}
	}
	// Without the ReplicaSets (their LIST was forbidden), the Deployment controller's own
	// naming, <deployment>-<pod-template-hash>, still tells the pods apart.
	objs.ReplicaSets = nil
	objs.Unreadable["replicasets"] = errForbidden
	ds = Build(objs, fixtureTime)
	for name, want := range map[string]string{"prod": "prod-5f6d7-abcde", "prod-canary": "prod-canary-7c9d8-fghij"} {
		d := findDelegate(t, ds, name)
		if len(d.Pods) != 1 || d.Pods[0].Name != want {
			t.Errorf("without ReplicaSets, pods of %s = %+v, want only %s", name, d.Pods, want)
		}
	}
}
