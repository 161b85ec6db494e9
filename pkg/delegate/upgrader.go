package delegate

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

// jobPodSelector is on every pod the Job controller makes: job-name on every Kubernetes
// version (batch.kubernetes.io/job-name only from 1.27).
const jobPodSelector = "job-name"

// listJobPods lists the pods of every Job in scope: one more paginated LIST, whatever the
// number of delegates or pods, to read how the upgrader's last run ended. Owner references
// tie them to the upgrader's Jobs (lastUpgraderJob).
func listJobPods(ctx context.Context, client kubernetes.Interface, ns string, pageSize int64) ([]corev1.Pod, error) {
	return ListAll[corev1.Pod](ctx, metav1.ListOptions{LabelSelector: jobPodSelector, Limit: pageSize},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().Pods(ns).List(ctx, o)
		})
}

// lastUpgraderJob summarises the newest of the CronJob's Jobs and that Job's newest pod;
// nil when no Job is left (none ran yet, or history limits removed them).
func lastUpgraderJob(objs *Objects, cj *batchv1.CronJob) *UpgraderJob {
	var last *batchv1.Job
	for i := range objs.Jobs {
		j := &objs.Jobs[i]
		if j.Namespace == cj.Namespace && ControlledBy(j, cj.UID) && (last == nil || newer(j.ObjectMeta, last.ObjectMeta)) {
			last = j
		}
	}
	if last == nil {
		return nil
	}
	out := &UpgraderJob{Name: last.Name, CreatedAt: last.CreationTimestamp.Time}
	for _, c := range last.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			out.Failed, out.Reason, out.Message = true, c.Reason, c.Message
		}
	}
	var pod *corev1.Pod
	for i := range objs.JobPods {
		p := &objs.JobPods[i]
		if p.Namespace == last.Namespace && ControlledBy(p, last.UID) && (pod == nil || newer(p.ObjectMeta, pod.ObjectMeta)) {
			pod = p
		}
	}
	if pod == nil {
		return out
	}
	out.Pod = pod.Name
	for _, st := range pod.Status.ContainerStatuses {
		t := st.State.Terminated
		if t == nil {
			t = st.LastTerminationState.Terminated
		}
		if t != nil {
			code := t.ExitCode
			out.ExitCode = &code
			if code != 0 {
				break // the failing container's code is the one that says why
			}
		}
	}
	return out
}

// newer orders by creation, then by name: Jobs made in one second keep a stable order.
func newer(a, b metav1.ObjectMeta) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	}
	return a.Name > b.Name
}
