package delegate

import (
	"math"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// revisionAnnotation is the Deployment controller's revision number, on the Deployment and on
// each of its ReplicaSets: the ReplicaSet with the Deployment's revision is the current one.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// stuck says whether a condition says the controller cannot go on: pods it cannot create, or
// a rollout past its deadline.
func stuck(condType, status string) bool {
	return (condType == string(appsv1.DeploymentReplicaFailure) && status == string(corev1.ConditionTrue)) ||
		(condType == string(appsv1.DeploymentProgressing) && status == string(corev1.ConditionFalse))
}

// deploymentRollout is a Deployment's own part of its rollout.
func deploymentRollout(d *appsv1.Deployment) Rollout {
	r := Rollout{MinReadySeconds: d.Spec.MinReadySeconds, LastProgress: d.CreationTimestamp.Time}
	// MaxInt32 is how a Deployment says it has no deadline (the controller's
	// HasProgressDeadline); unset, the API server defaults it to 600.
	if p := d.Spec.ProgressDeadlineSeconds; p != nil && *p != math.MaxInt32 {
		r.ProgressDeadlineSeconds = *p
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.LastUpdateTime.After(r.LastProgress) {
			r.LastProgress = c.LastUpdateTime.Time
		}
		if stuck(string(c.Type), string(c.Status)) {
			r.Conditions = append(r.Conditions, condition("Deployment/"+d.Name, string(c.Type), string(c.Status), c.Reason, c.Message, c.LastTransitionTime))
		}
	}
	return r
}

// statefulSetRollout is a StatefulSet's own part of its rollout: it has no Progressing
// condition, so progress is dated from its creation and its pods'.
func statefulSetRollout(s *appsv1.StatefulSet) Rollout {
	r := Rollout{MinReadySeconds: s.Spec.MinReadySeconds, LastProgress: s.CreationTimestamp.Time}
	for _, c := range s.Status.Conditions {
		if stuck(string(c.Type), string(c.Status)) {
			r.Conditions = append(r.Conditions, condition("StatefulSet/"+s.Name, string(c.Type), string(c.Status), c.Reason, c.Message, c.LastTransitionTime))
		}
	}
	return r
}

// rolloutOf completes the workload's rollout with its current ReplicaSet's conditions and
// the budget the pod template gives a new container.
func rolloutOf(objs *Objects, w workload) Rollout {
	r := w.rollout
	r.Conditions = slices.Clone(r.Conditions)
	if w.kind == "Deployment" {
		if rs := currentReplicaSet(objs, w); rs != nil {
			r.ReplicaSet = rs.Name
			for _, c := range rs.Status.Conditions {
				if stuck(string(c.Type), string(c.Status)) {
					r.Conditions = append(r.Conditions, condition("ReplicaSet/"+rs.Name, string(c.Type), string(c.Status), c.Reason, c.Message, c.LastTransitionTime))
				}
			}
		}
	}
	if c := mainContainer(w.template.Spec); c != nil {
		r.StartupSeconds = probeBudget(c.StartupProbe) + probeBudget(c.ReadinessProbe)
	}
	return r
}

func condition(object, condType, status, reason, message string, t metav1.Time) Condition {
	return Condition{Object: object, Type: condType, Status: status, Reason: reason, Message: message, LastTransition: t.Time}
}

// probeBudget is the longest a probe lets a container go before it gives up on it, with the
// API server's defaults (periodSeconds 10, failureThreshold 3).
func probeBudget(p *corev1.Probe) int32 {
	if p == nil {
		return 0
	}
	period, failures := p.PeriodSeconds, p.FailureThreshold
	if period <= 0 {
		period = 10
	}
	if failures <= 0 {
		failures = 3
	}
	return p.InitialDelaySeconds + period*failures
}

// currentReplicaSet is the Deployment's ReplicaSet of its current revision (owner reference
// and revision annotation, as the Deployment controller decides it), else its newest.
func currentReplicaSet(objs *Objects, w workload) *appsv1.ReplicaSet {
	var newest *appsv1.ReplicaSet
	revision := w.meta.Annotations[revisionAnnotation]
	for i := range objs.ReplicaSets {
		rs := &objs.ReplicaSets[i]
		if rs.Namespace != w.meta.Namespace || !ControlledBy(rs, w.meta.UID) {
			continue
		}
		if revision != "" && rs.Annotations[revisionAnnotation] == revision {
			return rs
		}
		if newest == nil || rs.CreationTimestamp.After(newest.CreationTimestamp.Time) {
			newest = rs
		}
	}
	return newest
}

// Budget is the part of a pod's way to available that the workload bounds: its probes'
// budget and minReadySeconds. Scheduling, pulling the image and starting the container come
// before it and nothing bounds them.
func (r Rollout) Budget() time.Duration {
	return time.Duration(r.MinReadySeconds+r.StartupSeconds) * time.Second
}
