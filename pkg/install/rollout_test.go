package install

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func TestDeploymentRolloutStatus(t *testing.T) {
	deploy := func(replicas *int32, generation, observed int64, st appsv1.DeploymentStatus) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "prod", Generation: generation}, Spec: appsv1.DeploymentSpec{Replicas: replicas}, Status: st}
		d.Status.ObservedGeneration = observed
		return d
	}
	three := ptr.To(int32(3))
	cases := []struct {
		name      string
		d         *appsv1.Deployment
		done      bool
		message   string
		err       string
		available int32
	}{
		{"generation not observed", deploy(three, 2, 1, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}),
			false, "waiting for the deployment spec update to be observed", "", 3},
		{"progress deadline exceeded", deploy(three, 2, 2, appsv1.DeploymentStatus{UpdatedReplicas: 1, AvailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}}}),
			false, "", `deployment "prod" exceeded its progress deadline`, 2},
		{"updated < desired", deploy(three, 2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 3}),
			false, "1 out of 3 new replicas have been updated", "", 3},
		{"old replicas pending termination", deploy(three, 2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 3, AvailableReplicas: 3}),
			false, "1 old replicas are pending termination", "", 3},
		{"available < updated", deploy(three, 2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}),
			false, "2 of 3 updated replicas are available", "", 2},
		{"done", deploy(three, 2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}),
			true, "3 of 3 replicas available", "", 3},
		// Replicas unset means 1, as the API server defaults it.
		{"done, replicas unset", deploy(nil, 1, 1, appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}),
			true, "1 of 1 replicas available", "", 1},
		// A progressing condition with another reason is not a failure.
		{"progressing", deploy(three, 2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}}),
			true, "3 of 3 replicas available", "", 3},
	}
	for _, c := range cases {
		s, err := DeploymentRolloutStatus(c.d)
		switch {
		case c.err != "" && (err == nil || err.Error() != c.err):
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		}
		if s.Done != c.done || s.Message != c.message || s.Available != c.available {
			t.Errorf("%s: %+v, want done=%v %q available %d", c.name, s, c.done, c.message, c.available)
		}
		if want := int32(1); c.d.Spec.Replicas != nil {
			want = *c.d.Spec.Replicas
			if s.Desired != want {
				t.Errorf("%s: desired %d", c.name, s.Desired)
			}
		} else if s.Desired != want {
			t.Errorf("%s: desired %d, want 1", c.name, s.Desired)
		}
	}
}

func pod(name string, statuses ...corev1.ContainerStatus) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{ContainerStatuses: statuses}}
}

func waiting(reason, message string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: "delegate", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}}
}

func TestPodProblems(t *testing.T) {
	crash := waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container")
	crash.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}
	running := corev1.ContainerStatus{Name: "delegate", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	pods := []corev1.Pod{
		pod("prod-c", waiting("ImagePullBackOff", `Back-off pulling image "harness/delegate:nope"`)),
		pod("prod-a", crash),
		pod("prod-b", waiting("CreateContainerConfigError", `secret "prod" not found`)),
		pod("prod-healthy", running),
		// Still starting: waiting cures it.
		pod("prod-starting", waiting("ContainerCreating", "")),
		pod("prod-pending"),
		// One stuck container is enough; the pod is listed once.
		pod("prod-d", waiting("ErrImagePull", "a"), waiting("CrashLoopBackOff", "b")),
	}
	got := PodProblems(pods)
	var lines []string
	for _, p := range got {
		lines = append(lines, p.String())
	}
	want := []string{
		"prod-a: CrashLoopBackOff (last exit: OOMKilled, code 137)",
		`prod-b: CreateContainerConfigError (secret "prod" not found)`,
		`prod-c: ImagePullBackOff (Back-off pulling image "harness/delegate:nope")`,
		"prod-d: ErrImagePull (a)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if PodProblems([]corev1.Pod{pod("ok", running)}) != nil {
		t.Errorf("a healthy pod is a problem")
	}
	if s := (PodProblem{Pod: "p", Reason: "CrashLoopBackOff"}).String(); s != "p: CrashLoopBackOff" {
		t.Errorf("String without detail: %q", s)
	}
}

func TestRolloutErrorMessage(t *testing.T) {
	err := &RolloutError{Deployment: "ns/prod", Cause: "timed out after 5m0s (1 of 2 updated replicas are available)",
		Problems: []PodProblem{{Pod: "prod-a", Reason: "CrashLoopBackOff", Detail: "last exit: Error, code 1"}},
		Events:   []string{"prod-a BackOff: Back-off restarting failed container"}}
	want := "deployment ns/prod did not become available: timed out after 5m0s (1 of 2 updated replicas are available)\n" +
		"  pod prod-a: CrashLoopBackOff (last exit: Error, code 1)\n" +
		"  event prod-a BackOff: Back-off restarting failed container"
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err.Error(), want)
	}
}

// After a rollback the Deployment's template is the old revision's again, but until the
// deployment controller has observed it, its revision annotation still names the failed
// revision, whose pods crash-loop. The wait judged those pods and reported the rolled-back
// revision as failing too (seen in the e2e suite under load); it must wait for the
// controller, then judge the revision it made current.
func TestWaitForRolloutJudgesPodsOnlyOnceTheControllerObserved(t *testing.T) {
	const ns = "ns"
	selector := map[string]string{"app": "prod"}
	uid := types.UID("deploy-uid")
	rs := func(name, revision, hash string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels:          map[string]string{"app": "prod", appsv1.DefaultDeploymentUniqueLabelKey: hash},
			Annotations:     map[string]string{"deployment.kubernetes.io/revision": revision},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "prod", UID: uid, Controller: ptr.To(true)}}}}
	}
	crashing := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "prod-crash-1", Namespace: ns,
		Labels: map[string]string{"app": "prod", appsv1.DefaultDeploymentUniqueLabelKey: "crash"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "delegate",
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}}}}}
	deploy := func(revision string, generation, observed int64, st appsv1.DeploymentStatus) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "prod", Namespace: ns, UID: uid, Generation: generation,
			Annotations: map[string]string{"deployment.kubernetes.io/revision": revision}},
			Spec:   appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: selector}},
			Status: st}
		d.Status.ObservedGeneration = observed
		return d
	}
	// The rollback was applied (generation 4); the controller has not looked yet, then has.
	reads := []*appsv1.Deployment{
		deploy("2", 4, 3, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 1}),
		deploy("3", 4, 4, appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}),
	}
	client := fake.NewClientset(rs("prod-good", "3", "good"), rs("prod-crash", "2", "crash"), crashing)
	n := 0
	client.PrependReactor("get", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
		d := reads[min(n, len(reads)-1)]
		n++
		return true, d.DeepCopy(), nil
	})
	err := WaitForRollout(context.Background(), client, ns, "prod", WaitOptions{Timeout: time.Minute, Interval: time.Millisecond})
	if err != nil {
		t.Errorf("the rolled-back revision, available once observed: %v", err)
	}
	if n < len(reads) {
		t.Errorf("the wait ended after %d reads of the Deployment, before the controller had observed it", n)
	}
}
