package delegate

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// A chart delegate whose second revision's ReplicaSet the quota refuses: the rollout carries
// the current ReplicaSet (by revision, not the newest or the first), the stuck conditions of
// both, and the budget from minReadySeconds and the startup probe.
func TestBuildReadsTheRollout(t *testing.T) {
	objs := chartObjects()
	dep := &objs.Deployments[0]
	dep.UID, dep.Annotations[revisionAnnotation] = "dep-uid", "2"
	dep.Spec.MinReadySeconds = 30
	dep.Spec.Template.Spec.Containers[0].StartupProbe = &corev1.Probe{InitialDelaySeconds: 30, PeriodSeconds: 10, FailureThreshold: 40}
	// The readiness probe starts once the startup probe passed: its budget comes on top.
	dep.Spec.Template.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 5, FailureThreshold: 2}
	dep.Spec.ProgressDeadlineSeconds = ptr.To[int32](900)
	progressed := fixtureTime.Add(-3 * time.Hour)
	dep.Status.Conditions = []appsv1.DeploymentCondition{
		{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue},
		{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated", LastUpdateTime: metav1.NewTime(progressed)},
		{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "exceeded quota: q"},
	}
	owned := func(name, revision string, created time.Time, conds ...appsv1.ReplicaSetCondition) appsv1.ReplicaSet {
		return appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: dep.Namespace, UID: types.UID(name),
			Annotations: map[string]string{revisionAnnotation: revision}, CreationTimestamp: metav1.NewTime(created),
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: boolp(true)}}},
			Status: appsv1.ReplicaSetStatus{Conditions: conds}}
	}
	objs.ReplicaSets = []appsv1.ReplicaSet{
		owned("prod-delegate-old", "1", fixtureTime.Add(-time.Hour)), // newer, but not the current revision
		owned("prod-delegate-new", "2", fixtureTime.Add(-2*time.Hour), appsv1.ReplicaSetCondition{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "exceeded quota: q"}),
	}
	r := Build(objs, fixtureTime)[0].Rollout
	if r.ReplicaSet != "prod-delegate-new" || r.MinReadySeconds != 30 || r.StartupSeconds != 440 || r.ProgressDeadlineSeconds != 900 ||
		!r.LastProgress.Equal(progressed) || r.Budget() != 470*time.Second {
		t.Errorf("rollout %+v", r)
	}
	// MaxInt32 turns the deadline off, as the Deployment controller reads it.
	dep.Spec.ProgressDeadlineSeconds = ptr.To[int32](math.MaxInt32)
	if r := Build(objs, fixtureTime)[0].Rollout; r.ProgressDeadlineSeconds != 0 {
		t.Errorf("no deadline: %+v", r)
	}
	var objects []string
	for _, c := range r.Conditions {
		objects = append(objects, c.Object+" "+c.Type+"="+c.Status)
	}
	if want := []string{"Deployment/prod-delegate ReplicaFailure=True", "ReplicaSet/prod-delegate-new ReplicaFailure=True"}; !slices.Equal(objects, want) {
		t.Errorf("conditions %v, want %v", objects, want)
	}
}

func TestProbeBudgetUsesTheAPIServersDefaults(t *testing.T) {
	for _, tc := range []struct {
		probe *corev1.Probe
		want  int32
	}{{nil, 0}, {&corev1.Probe{}, 30}, {&corev1.Probe{InitialDelaySeconds: 5, PeriodSeconds: 20, FailureThreshold: 2}, 45}} {
		if got := probeBudget(tc.probe); got != tc.want {
			t.Errorf("%+v: %d, want %d", tc.probe, got, tc.want)
		}
	}
}

func deployment(ns, name string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{LabelName: name}}}
}

// doctor NAME -n NS sees the same name in other namespaces with one LIST, selected by name;
// a forbidden LIST leaves the reason, not a false "used once".
func TestFindNamesElsewhere(t *testing.T) {
	cs := fake.NewClientset(deployment("team-a", "prod"), deployment("team-b", "prod"), deployment("team-c", "other"))
	var selectors []string
	cs.PrependReactor("list", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		selectors = append(selectors, a.(k8stesting.ListAction).GetListRestrictions().Labels.String()+" in "+a.GetNamespace())
		return false, nil, nil
	})
	ds := []Delegate{{Name: "prod", Namespace: "team-a"}, {Name: "Not a label value!", Namespace: "team-a"}}
	FindNamesElsewhere(context.Background(), cs, ds, 500)
	if want := []string{"harness.io/name in (prod) in "}; !slices.Equal(selectors, want) {
		t.Errorf("requests %q, want %q", selectors, want)
	}
	if ds[0].Duplicate == nil || !slices.Equal(ds[0].Duplicate.OtherNamespaces, []string{"team-b"}) || ds[1].Duplicate != nil {
		t.Errorf("duplicates %+v %+v", ds[0].Duplicate, ds[1].Duplicate)
	}

	forbidden := fake.NewClientset()
	forbidden.PrependReactor("list", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "", nil)
	})
	ds = []Delegate{{Name: "prod", Namespace: "team-a"}}
	FindNamesElsewhere(context.Background(), forbidden, ds, 500)
	if ds[0].Duplicate != nil || !strings.Contains(ds[0].NameUnchecked, "forbidden") {
		t.Errorf("forbidden: %+v", ds[0])
	}
	// No name a selector can hold: no request at all.
	none := fake.NewClientset()
	FindNamesElsewhere(context.Background(), none, []Delegate{{Name: "Not a label value!"}}, 500)
	if n := len(none.Actions()); n != 0 {
		t.Errorf("%d requests for no selectable name", n)
	}
}
