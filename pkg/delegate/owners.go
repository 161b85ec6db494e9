package delegate

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// What belongs to a delegate is decided here, once, by owner references: ReplicaSet ->
// Deployment, Pod -> ReplicaSet or StatefulSet, Job -> CronJob, Pod -> Job. Names are no
// guide: prod-canary's ReplicaSet prod-canary-7c9d8 starts with "prod-". Build records the
// UIDs it finds in Delegate.Members; events, which name their object by UID, match those.

// ControlledBy says whether the object with the given UID is obj's controller.
func ControlledBy(obj metav1.Object, owner types.UID) bool {
	ref := metav1.GetControllerOfNoCopy(obj)
	return owner != "" && ref != nil && ref.UID == owner
}

// Concerns says whether an event's object is one of the delegate's: its workload,
// ReplicaSets, pods, upgrader CronJob and the upgrader's Jobs and their pods.
func Concerns(d Delegate, ref corev1.ObjectReference) bool {
	_, found := slices.BinarySearch(d.Members, ref.UID)
	return ref.UID != "" && found
}

// podOwnedBy says whether a pod belongs to the workload: the StatefulSet is its controller,
// or the Deployment controls the ReplicaSet that is. rs are the namespace's ReplicaSets by
// UID; when the pod's ReplicaSet is not among them (their LIST was forbidden), the
// Deployment controller's own naming, <deployment>-<pod-template-hash>, decides.
func podOwnedBy(p *corev1.Pod, w workload, rs map[types.UID]*appsv1.ReplicaSet) bool {
	ref := metav1.GetControllerOfNoCopy(p)
	switch {
	case ref == nil:
		// No controller: the selector is all there is to go by.
		return true
	case w.kind == "StatefulSet":
		return ref.Kind == "StatefulSet" && ref.UID == w.meta.UID && ref.Name == w.meta.Name
	case ref.Kind != "ReplicaSet":
		return false
	}
	if r, ok := rs[ref.UID]; ok && ref.UID != "" {
		return ControlledBy(r, w.meta.UID)
	}
	hash := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	return hash != "" && ref.Name == w.meta.Name+"-"+hash
}

// members are the UIDs of the objects that make up a delegate, sorted.
func members(objs *Objects, w workload, pods []corev1.Pod, upgrader *batchv1.CronJob) []types.UID {
	uids := []types.UID{w.meta.UID}
	for i := range objs.ReplicaSets {
		if rs := &objs.ReplicaSets[i]; rs.Namespace == w.meta.Namespace && ControlledBy(rs, w.meta.UID) {
			uids = append(uids, rs.UID)
		}
	}
	for _, p := range pods {
		uids = append(uids, p.UID)
	}
	if upgrader != nil {
		uids = append(uids, upgrader.UID)
		jobs := map[types.UID]bool{}
		for i := range objs.Jobs {
			if j := &objs.Jobs[i]; j.Namespace == w.meta.Namespace && ControlledBy(j, upgrader.UID) {
				uids = append(uids, j.UID)
				jobs[j.UID] = true
			}
		}
		for _, list := range [][]corev1.Pod{objs.Pods, objs.JobPods} {
			for i := range list {
				if p := &list[i]; p.Namespace == w.meta.Namespace {
					if ref := metav1.GetControllerOfNoCopy(p); ref != nil && ref.Kind == "Job" && jobs[ref.UID] {
						uids = append(uids, p.UID)
					}
				}
			}
		}
	}
	uids = slices.DeleteFunc(uids, func(u types.UID) bool { return u == "" })
	slices.Sort(uids)
	return slices.Compact(uids)
}

// replicaSetsByUID indexes ReplicaSets for podOwnedBy.
func replicaSetsByUID(rss []appsv1.ReplicaSet) map[types.UID]*appsv1.ReplicaSet {
	out := make(map[types.UID]*appsv1.ReplicaSet, len(rss))
	for i := range rss {
		out[rss[i].UID] = &rss[i]
	}
	return out
}
