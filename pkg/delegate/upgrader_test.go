package delegate

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The upgrader's last run is its newest Job by owner reference, with that Job's newest pod:
// a Job of another CronJob, and an older failed pod of the Job, do not count.
func TestLastUpgraderJob(t *testing.T) {
	objs := prodAndCanary()
	cj := &objs.CronJobs[0] // prod's
	at := func(m int) metav1.Time { return metav1.NewTime(time.Date(2026, 11, 30, 10, m, 0, 0, time.UTC)) }
	owned := func(kind, name string, uid types.UID) []metav1.OwnerReference {
		return []metav1.OwnerReference{{Kind: kind, Name: name, UID: uid, Controller: boolp(true)}}
	}
	failed := batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: cj.Name + "-29000060", Namespace: cj.Namespace, UID: "job-new", CreationTimestamp: at(30),
		OwnerReferences: owned("CronJob", cj.Name, cj.UID)},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}}}
	objs.Jobs = append(objs.Jobs, failed)
	jobPod := func(name string, m int, code int32) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cj.Namespace, CreationTimestamp: at(m), OwnerReferences: owned("Job", failed.Name, failed.UID)},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "upgrader",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error"}}}}}}
	}
	objs.JobPods = []corev1.Pod{jobPod("old", 30, 2), jobPod("new", 31, 1)}

	got := lastUpgraderJob(objs, cj)
	if got == nil || got.Name != failed.Name || !got.Failed || got.Reason != "BackoffLimitExceeded" || got.Pod != "new" || got.ExitCode == nil || *got.ExitCode != 1 {
		t.Fatalf("got %+v", got)
	}
	// The canary's CronJob has only its own, older Job, which has no pods.
	if got := lastUpgraderJob(objs, &objs.CronJobs[1]); got == nil || got.Name != "prod-canary-upgrader-job-29000000" || got.Failed || got.Pod != "" {
		t.Errorf("canary: %+v", got)
	}
	if got := lastUpgraderJob(&Objects{}, cj); got != nil {
		t.Errorf("no Jobs: %+v", got)
	}
}
