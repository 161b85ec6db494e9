package diagnose

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// Issue 11: a delegate with no pod at all, or whose pods other checks explain, passed
// "0 pod(s): ready" and "0 pod(s): none crash-looping".
func TestPassFindingsClaimOnlyWhatWasChecked(t *testing.T) {
	none := healthy()
	none.Pods, none.Replicas = nil, delegate.Replicas{Desired: 1}
	for _, f := range Run(snapshot(none)) {
		if f.Verdict == Pass && strings.Contains(f.Finding, "pod(s):") {
			t.Errorf("%s passes about pods that do not exist: %+v", f.ID, f)
		}
	}
	crashing := withPod(healthy(), delegate.Pod{Name: "prod-1", Node: "n1", Phase: "Running", Restarts: 7, Waiting: "CrashLoopBackOff"})
	for _, f := range checkReadiness(snapshot(crashing)) {
		if f.Verdict == Pass {
			t.Errorf("a crash-looping pod is called ready: %+v", f)
		}
	}
	mixed := healthy()
	mixed.Pods = append(mixed.Pods, delegate.Pod{Name: "prod-2", Phase: "Pending"})
	if f := only(t, checkReadiness, snapshot(mixed)); f.Verdict != Pass || f.Finding != "1 of 2 pod(s) ready; the other 1 is for the checks above" {
		t.Errorf("one ready, one pending: %+v", f)
	}

	// A pod that stopped at one layer is judged by no check after it: a pod without a node
	// pulled no image and created no container; one whose image does not pull created no
	// container and ran no probe.
	for _, tc := range []struct {
		pod      delegate.Pod
		stopped  string
		notAfter []string
	}{
		{delegate.Pod{Name: "prod-1", Phase: "Pending"}, "DLG-304", []string{"DLG-302", "DLG-303", "DLG-301", "DLG-305", "DLG-306"}},
		{delegate.Pod{Name: "prod-1", Node: "n1", Phase: "Pending", Waiting: "ImagePullBackOff"}, "DLG-302", []string{"DLG-303", "DLG-301", "DLG-305", "DLG-306"}},
		{delegate.Pod{Name: "prod-1", Node: "n1", Phase: "Pending", Waiting: "CreateContainerConfigError"}, "DLG-303", []string{"DLG-301", "DLG-305", "DLG-306"}},
		// Not yet started, and nothing wrong: no check claims it got further than it did.
		{delegate.Pod{Name: "prod-1", Node: "n1", Phase: "Pending", Waiting: "ContainerCreating"}, "", []string{"DLG-302", "DLG-303", "DLG-301", "DLG-305", "DLG-306"}},
	} {
		d := withPod(healthy(), tc.pod)
		d.Replicas = delegate.Replicas{Desired: 1}
		for _, f := range Run(snapshot(d)) {
			if f.ID == tc.stopped && f.Verdict != Fail {
				t.Errorf("%s: %s does not fail: %+v", tc.pod.Waiting, f.ID, f)
			}
			if slices.Contains(tc.notAfter, f.ID) && f.Verdict == Pass {
				t.Errorf("%s %s: %s passes a pod it did not judge: %+v", tc.pod.Phase, tc.pod.Waiting, f.ID, f)
			}
		}
	}
	// A pod that ran and ended (evicted: phase Failed) is not ready, whatever its restarts.
	evicted := healthy()
	evicted.Pods = append(evicted.Pods, delegate.Pod{Name: "prod-2", Node: "n1", Phase: "Failed"})
	if f := only(t, checkReadiness, snapshot(evicted)); f.Verdict != Warn || f.Subject != "harness-delegate-ng/prod-2" ||
		f.Finding != "the pod ended (phase Failed) and runs no more" || !strings.Contains(f.Hint, "kubectl describe pod -n harness-delegate-ng prod-2") {
		t.Errorf("an evicted pod: %+v", f)
	}
	// Beside a running pod, one stopped earlier is left out of the count.
	pulling := healthy()
	pulling.Pods = append(pulling.Pods, delegate.Pod{Name: "prod-2", Node: "n1", Phase: "Pending", Waiting: "ErrImagePull"})
	if f := only(t, checkContainerConfig, snapshot(pulling)); f.Verdict != Pass || f.Finding != "1 of 2 pod(s) containers created; the other 1 is for the checks above" {
		t.Errorf("containers created beside a pull failure: %+v", f)
	}
}

// notCreated is a Deployment of desired replicas whose current ReplicaSet created none.
func notCreated(desired int32) delegate.Delegate {
	d := healthy()
	d.Pods, d.Replicas = nil, delegate.Replicas{Desired: desired}
	d.Workload.Container = "delegate"
	d.Rollout = delegate.Rollout{ReplicaSet: "prod-7d9c5", StartupSeconds: 400, LastProgress: now.Add(-time.Minute)}
	return d
}

func failedCreate(d delegate.Delegate, kind, name, msg string) corev1.Event {
	return corev1.Event{
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: d.Namespace, Name: name},
		Reason:         "FailedCreate", Type: corev1.EventTypeWarning, Count: 5, Message: msg,
		LastTimestamp: metav1.NewTime(now.Add(-10 * time.Second)),
	}
}

func TestWorkloadRefusalsNameTheCauseAndTheFix(t *testing.T) {
	const pod = `Error creating: pods "prod-7d9c5-x2x9q" is forbidden: `
	for _, tc := range []struct {
		name, msg string
		finding   []string
		hint      []string
	}{
		{"quota", pod + "exceeded quota: delegate-quota, requested: requests.memory=2Gi, used: requests.memory=1Gi, limited: requests.memory=2Gi",
			[]string{"2 of 2 pod(s) not created: ResourceQuota delegate-quota exceeded: requests.memory requested 2Gi, used 1Gi, limited 2Gi", "FailedCreate event of ReplicaSet/prod-7d9c5, x5"},
			[]string{`kubectl patch resourcequota delegate-quota -n harness-delegate-ng --type merge -p '{"spec":{"hard":{"requests.memory":"5Gi"}}}'`,
				"helm upgrade prod harness-delegate/harness-delegate-ng -n harness-delegate-ng --reuse-values --set memory=512 (below 1 CPU and 2Gi"}},
		{"quota of cpu and pods", pod + "exceeded quota: q, requested: pods=1,requests.cpu=1, used: pods=3,requests.cpu=1500m, limited: pods=3,requests.cpu=2",
			[]string{"pods requested 1, used 3, limited 3; requests.cpu requested 1, used 1500m, limited 2"},
			[]string{`{"pods":"5","requests.cpu":"3500m"}`, "--reuse-values --set cpu=250m"}},
		{"quota needing limits", pod + "failed quota: compute: must specify limits.memory",
			[]string{"ResourceQuota compute requires limits.memory on every pod"}, []string{"LimitRange"}},
		{"pod security", pod + `violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "delegate" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "delegate" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "delegate" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "delegate" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`,
			[]string{`Pod Security admission enforces "restricted:latest" in namespace harness-delegate-ng; the pod breaks it: allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile`},
			[]string{`kubectl patch deployment/prod -n harness-delegate-ng --type strategic -p '{"spec":{"template":{"spec":{"securityContext":{"runAsNonRoot":true`, `"capabilities":{"drop":["ALL"]}`,
				"kubectl label namespace harness-delegate-ng pod-security.kubernetes.io/enforce=baseline --overwrite", "trade-off"}},
		{"pod security baseline", pod + `violates PodSecurity "baseline:latest": privileged (container "delegate" must not set securityContext.privileged=true)`,
			[]string{`enforces "baseline:latest"`, "privileged"}, []string{"pod-security.kubernetes.io/enforce=privileged", "trade-off"}},
		{"webhook", `Error creating: admission webhook "validate.kyverno.svc-fail" denied the request: policy require-labels: label team is required`,
			[]string{"admission webhook validate.kyverno.svc-fail refused the pod: policy require-labels: label team is required"}, []string{"validatingwebhookconfigurations"}},
		{"admission policy", pod + `ValidatingAdmissionPolicy 'no-root' with binding 'no-root-binding' denied request: containers must not run as root`,
			[]string{"ValidatingAdmissionPolicy no-root (binding no-root-binding) refused the pod: containers must not run as root"}, []string{"kubectl get validatingadmissionpolicybinding no-root-binding"}},
		{"limit range", pod + "maximum memory usage per Container is 1Gi, but limit is 2Gi",
			[]string{"a LimitRange refused the pod: maximum memory per Container is 1Gi, the delegate asks 2Gi"}, []string{"kubectl get limitrange -n harness-delegate-ng"}},
		{"default limit below the request", `Pod "prod-7d9c5-x2x9q" is invalid: spec.containers[0].resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m`,
			[]string{"the pod's cpu request 1 is above its cpu limit 500m: a LimitRange's default limit applies"},
			[]string{"kubectl set resources deployment/prod -n harness-delegate-ng -c delegate --limits=cpu=1"}},
		{"service account", pod + `error looking up service account harness-delegate-ng/prod: serviceaccount "prod" not found`,
			[]string{"ServiceAccount prod does not exist"}, []string{"kubectl create serviceaccount prod -n harness-delegate-ng"}},
		{"priority class", pod + "no PriorityClass with name critical-delegates was found",
			[]string{"PriorityClass critical-delegates does not exist"}, []string{"kubectl create priorityclass critical-delegates"}},
		{"unknown", pod + "the moon is in the wrong phase",
			[]string{"the API server refused the pod: " + pod + "the moon is in the wrong phase"}, []string{"kubectl describe deployment/prod"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := notCreated(2)
			s := snapshot(d)
			s.Events = []corev1.Event{failedCreate(d, "ReplicaSet", "prod-7d9c5", tc.msg)}
			f := only(t, checkWorkload, s)
			if f.Verdict != Fail || f.Subject != "harness-delegate-ng/prod" {
				t.Errorf("%+v", f)
			}
			for _, want := range tc.finding {
				if !strings.Contains(f.Finding, want) {
					t.Errorf("finding lacks %q:\n%s", want, f.Finding)
				}
			}
			for _, want := range tc.hint {
				if !strings.Contains(f.Hint, want) {
					t.Errorf("hint lacks %q:\n%s", want, f.Hint)
				}
			}
		})
	}
}

func TestWorkloadReadsWhereTheRefusalIs(t *testing.T) {
	quota := `pods "x" is forbidden: exceeded quota: q, requested: requests.memory=2Gi, used: requests.memory=0, limited: requests.memory=1Gi`
	// A Deployment's ReplicaFailure condition, without events (they expire after an hour).
	d := notCreated(1)
	d.Rollout.Conditions = []delegate.Condition{{Object: "ReplicaSet/prod-7d9c5", Type: "ReplicaFailure", Status: "True", Reason: "FailedCreate", Message: quota}}
	if f := only(t, checkWorkload, snapshot(d)); f.Verdict != Fail || !strings.Contains(f.Finding, "ResourceQuota q exceeded") || !strings.Contains(f.Finding, "condition ReplicaFailure of ReplicaSet/prod-7d9c5") {
		t.Errorf("condition: %+v", f)
	}
	// A StatefulSet's own FailedCreate event.
	legacy := notCreated(1)
	legacy.Workload.Kind, legacy.Workload.Name, legacy.Rollout.ReplicaSet = "StatefulSet", "prod", ""
	legacy.InstallMethod, legacy.Helm = delegate.Legacy, nil
	s := snapshot(legacy)
	s.Events = []corev1.Event{failedCreate(legacy, "StatefulSet", "prod", "create Pod prod-0 in StatefulSet prod failed error: "+quota)}
	if f := only(t, checkWorkload, s); f.Verdict != Fail || !strings.Contains(f.Finding, "FailedCreate event of StatefulSet/prod") ||
		!strings.Contains(f.Hint, "kubectl set resources statefulset/prod -n harness-delegate-ng -c delegate --requests=memory=1Gi") {
		t.Errorf("statefulset: %+v", f)
	}
	// An old ReplicaSet's refusal is not the current one's; and once every pod exists an old
	// event of the current one is history.
	s = snapshot(notCreated(1))
	s.Events = []corev1.Event{failedCreate(d, "ReplicaSet", "prod-old", quota)}
	if f := only(t, checkWorkload, s); f.Verdict != Pass {
		t.Errorf("another ReplicaSet's event: %+v", f)
	}
	// An upgrade whose new ReplicaSet the quota refuses: the previous revision's pod still
	// runs, so the pod count is full, but the current revision has none. The delegate works
	// (a warning), and its upgrade cannot go on until the quota fits.
	stuck := healthy()
	stuck.Replicas.Updated = 0
	stuck.Rollout.ReplicaSet = "prod-7d9c5"
	s = snapshot(stuck)
	s.Events = []corev1.Event{failedCreate(d, "ReplicaSet", "prod-7d9c5", quota)}
	if f := only(t, checkWorkload, s); f.Verdict != Warn || !strings.HasPrefix(f.Finding, "1 of 1 pod(s) of the current revision not created: ResourceQuota q exceeded") ||
		!strings.Contains(f.Finding, "the delegate runs on the previous revision's pods") || !strings.Contains(f.Hint, "kubectl patch resourcequota q") {
		t.Errorf("a rollout the quota refuses: %+v", f)
	}
	s = snapshot(healthy())
	s.Delegates[0].Rollout.ReplicaSet = "prod-7d9c5"
	s.Events = []corev1.Event{failedCreate(d, "ReplicaSet", "prod-7d9c5", quota)}
	if f := only(t, checkWorkload, s); f.Verdict != Pass || f.Finding != "1 of 1 replica(s) available; the controller reports no refusal" {
		t.Errorf("recovered: %+v", f)
	}
}

func TestWorkloadDesiredVersusRunning(t *testing.T) {
	scaled := healthy()
	scaled.Pods, scaled.Replicas = nil, delegate.Replicas{}
	f := only(t, checkWorkload, snapshot(scaled))
	if f.Verdict != Warn || f.Finding != "Deployment prod is scaled to 0 replicas" || !strings.Contains(f.Hint, "disconnected") ||
		!strings.Contains(f.Hint, "kubectl scale deployment/prod -n harness-delegate-ng --replicas=1") {
		t.Errorf("scaled to 0: %+v", f)
	}

	// One of two available for 20 minutes, with 30s minReady and a 430s startup budget, and
	// 5 minutes to schedule, pull and start: 12m40s.
	short := healthy()
	short.Workload.Kind = "StatefulSet"
	short.Replicas = delegate.Replicas{Desired: 2, Available: 1, Ready: 1}
	short.Rollout = delegate.Rollout{MinReadySeconds: 30, StartupSeconds: 430, LastProgress: now.Add(-20 * time.Minute)}
	short.Pods[0].CreatedAt = now.Add(-25 * time.Minute)
	f = only(t, checkWorkload, snapshot(short))
	if f.Verdict != Warn || f.Finding != "1 of 2 replica(s) available for 20m0s; a rollout should take at most 12m40s (minReadySeconds 30 + probes 430s + 5m0s to schedule, pull the image and start)" {
		t.Errorf("short too long: %+v", f)
	}
	// Within the budget: still rolling out.
	short.Rollout.LastProgress = now.Add(-10 * time.Minute)
	if f := only(t, checkWorkload, snapshot(short)); f.Verdict != Pass || f.Finding != "1 of 2 replica(s) available, 10m0s into a rollout that may take 12m40s; the controller reports no refusal" {
		t.Errorf("within the budget: %+v", f)
	}
	// A pod newer than the last progress restarts the clock.
	short.Rollout.LastProgress = now.Add(-20 * time.Minute)
	short.Pods[0].CreatedAt = now.Add(-time.Minute)
	if f := only(t, checkWorkload, snapshot(short)); f.Verdict != Pass {
		t.Errorf("a new pod: %+v", f)
	}
	// So does a pod that stopped being ready: the rollout finished long ago, the replica has
	// been missing only since then.
	short.Pods[0].CreatedAt = now.Add(-48 * time.Hour)
	short.Pods = append(short.Pods, delegate.Pod{Name: "prod-abc-2", Node: "n1", Phase: "Running", CreatedAt: now.Add(-48 * time.Hour), ReadyChanged: now.Add(-time.Minute)})
	if f := only(t, checkWorkload, snapshot(short)); f.Verdict != Pass || !strings.Contains(f.Finding, "1m0s into") {
		t.Errorf("a pod not ready for a minute: %+v", f)
	}

	// A fresh Deployment without probes or minReadySeconds is not late a second after it
	// was created: nothing bounds scheduling and pulling, and its controller gives the
	// rollout its progressDeadlineSeconds before it calls it failed.
	fresh := healthy()
	fresh.Replicas = delegate.Replicas{Desired: 1}
	fresh.Pods = []delegate.Pod{{Name: "prod-abc-1", Node: "n1", Phase: "Pending", CreatedAt: now.Add(-time.Second)}}
	fresh.Rollout = delegate.Rollout{ProgressDeadlineSeconds: 600, LastProgress: now.Add(-time.Second)}
	if f := only(t, checkWorkload, snapshot(fresh)); f.Verdict != Pass || f.Finding != "0 of 1 replica(s) available, 1s into a rollout that may take 10m0s; the controller reports no refusal" {
		t.Errorf("a fresh rollout: %+v", f)
	}
	// Past the deadline without the controller's ProgressDeadlineExceeded (it never times out
	// a rollout that had completed): the deadline is the measure.
	fresh.Rollout.LastProgress = now.Add(-3 * time.Hour)
	fresh.Pods[0].CreatedAt = now.Add(-11 * time.Minute)
	if f := only(t, checkWorkload, snapshot(fresh)); f.Verdict != Warn ||
		f.Finding != "0 of 1 replica(s) available for 11m0s; a rollout should take at most 10m0s (the Deployment's progressDeadlineSeconds 600)" {
		t.Errorf("past the deadline: %+v", f)
	}
	// The chart's delegate: minReadySeconds 120 and a startup probe of 10s + 10s x 40 take
	// longer than the default deadline; the longer of the two is the measure.
	fresh.Rollout.MinReadySeconds, fresh.Rollout.StartupSeconds = 120, 410
	if f := only(t, checkWorkload, snapshot(fresh)); f.Verdict != Pass || !strings.Contains(f.Finding, "may take 13m50s") {
		t.Errorf("the chart's budget: %+v", f)
	}

	// Nothing dates the rollout (an old bundle): no claim about its time.
	undated := healthy()
	undated.Replicas = delegate.Replicas{Desired: 2, Available: 1}
	if f := only(t, checkWorkload, snapshot(undated)); f.Verdict != Pass || f.Finding != "1 of 2 replica(s) available; the controller reports no refusal" {
		t.Errorf("undated: %+v", f)
	}

	deadline := healthy()
	deadline.Replicas = delegate.Replicas{Desired: 1}
	deadline.Rollout.Conditions = []delegate.Condition{{Object: "Deployment/prod", Type: "Progressing", Status: "False", Reason: "ProgressDeadlineExceeded",
		Message: `ReplicaSet "prod-7d9c5" has timed out progressing.`}}
	f = only(t, checkWorkload, snapshot(deadline))
	if f.Verdict != Warn || f.Finding != `0 of 1 replica(s) available; ProgressDeadlineExceeded: ReplicaSet "prod-7d9c5" has timed out progressing.` {
		t.Errorf("deadline with a pod: %+v", f)
	}
	deadline.Pods = nil
	if f := only(t, checkWorkload, snapshot(deadline)); f.Verdict != Fail {
		t.Errorf("deadline without pods: %+v", f)
	}
}

// The refusal is the report's first word about the delegate: its row comes before every
// other per-delegate pod check, and it fails.
func TestWorkloadIsTheFirstPodCheck(t *testing.T) {
	d := notCreated(1)
	s := snapshot(d)
	s.Events = []corev1.Event{failedCreate(d, "ReplicaSet", "prod-7d9c5", `pods "x" is forbidden: serviceaccount "prod" not found`)}
	for _, f := range Run(s) {
		if f.Category == CategoryPods {
			if f.ID != "DLG-300" || f.Verdict != Fail {
				t.Errorf("first pod finding: %+v", f)
			}
			break
		}
	}
}

// doctor -n cannot always search the other namespaces: the name check then skips with the
// reason instead of passing; a duplicate's hint says what cannot be seen from here.
func TestDuplicateNameWhateverTheScope(t *testing.T) {
	d := healthy()
	d.NameUnchecked = `listing Deployments labelled harness.io/name in all namespaces: deployments.apps is forbidden`
	if f := only(t, checkDuplicateName, snapshot(d)); f.Verdict != Skip || !strings.Contains(f.Finding, "other namespaces were not searched: listing Deployments") {
		t.Errorf("unchecked: %+v", f)
	}
	d.Duplicate = &delegate.Duplicate{OtherNamespaces: []string{"team-b"}}
	f := only(t, checkDuplicateName, snapshot(d))
	if f.Verdict != Fail || !strings.Contains(f.Finding, `"prod" is also used in namespace(s) team-b`) || !strings.Contains(f.Hint, "another cluster") {
		t.Errorf("duplicate: %+v", f)
	}
}

// Event messages come from the cluster: whatever they say, the refusal is a failure with the
// message in it, never a panic.
func FuzzClassifyRefusal(f *testing.F) {
	f.Add(`pods "x" is forbidden: exceeded quota: q, requested: requests.memory=2Gi,pods=1, used: requests.memory=0, limited: requests.memory=1Gi`, int32(2))
	f.Add(`pods "x" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true (pod must set securityContext.runAsNonRoot=true)`, int32(1))
	f.Add(`exceeded quota: q, requested: cpu=1e400, used: cpu=-1, limited: cpu=x`, int32(3))
	f.Add(`Invalid value: "1": must be less than or equal to cpu limit`, int32(1))
	f.Fuzz(func(t *testing.T, msg string, missing int32) {
		if missing <= 0 || missing > 1000 {
			return
		}
		got := classifyRefusal(notCreated(missing), msg, missing)
		if got.Verdict != Fail || got.Finding == "" || got.Hint == "" {
			t.Errorf("%q: %+v", msg, got)
		}
	})
}

// Replicas the API server refuses to create are DLG-300's: DLG-203 does not pass them as
// "not placed, but the nodes have room".
func TestNodeFitLeavesPodsNeverCreatedToTheWorkloadCheck(t *testing.T) {
	d := notCreated(2)
	s := snapshot(d)
	s.Events = append(s.Events, failedCreate(d, "ReplicaSet", "prod-7d9c5", `pods "x" is forbidden: exceeded quota: q, requested: requests.cpu=1, used: requests.cpu=0, limited: requests.cpu=500m`))
	s.Nodes = []NodeCapacity{node("n1", "16", "64Gi", "0", "0")}
	f := only(t, checkNodeFit, s)
	if f.Verdict != Skip || !strings.Contains(f.Finding, "DLG-300") {
		t.Errorf("DLG-203 on pods never created: %+v", f)
	}
}
