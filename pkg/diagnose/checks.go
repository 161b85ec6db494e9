package diagnose

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// Documented minimums per replica (Harness delegate requirements: one replica 0.5 CPU and
// 2 GB runs 10 parallel tasks). The chart requests 1 CPU and 2048Mi.
var (
	minCPU    = resource.MustParse("500m")
	minMemory = resource.MustParse("2Gi")
)

func checkKubernetesVersion(s *Snapshot) []Finding {
	if s.ServerVersion == "" {
		return []Finding{{Verdict: Skip, Subject: "cluster", Finding: "the server version is unknown"}}
	}
	server, err := version.ParseGeneric(s.ServerVersion)
	if err != nil {
		return []Finding{{Verdict: Warn, Subject: "cluster", Finding: fmt.Sprintf("server version %q cannot be read", s.ServerVersion)}}
	}
	supported := s.SupportMatrix.parsed()
	list := strings.Join(s.SupportMatrix.Versions, ", ")
	for _, v := range supported {
		if server.Major() == v.Major() && server.Minor() == v.Minor() && server.Patch() == v.Patch() {
			return []Finding{{Verdict: Pass, Subject: "cluster", Finding: fmt.Sprintf("Kubernetes %s is on the support list (%s)", s.ServerVersion, list)}}
		}
	}
	hint := fmt.Sprintf("Harness documents delegate support for Kubernetes %s only (%s); upgrade the cluster to a listed version, or pass --support-matrix FILE if your list is newer", list, s.SupportMatrix.Source)
	if len(supported) > 0 {
		oldest := supported[0]
		if server.Major() < oldest.Major() || (server.Major() == oldest.Major() && server.Minor() < oldest.Minor()) {
			return []Finding{{Verdict: Fail, Subject: "cluster", Hint: hint,
				Finding: fmt.Sprintf("Kubernetes %s is older than the oldest supported minor %d.%d", s.ServerVersion, oldest.Major(), oldest.Minor())}}
		}
	}
	return []Finding{{Verdict: Warn, Subject: "cluster", Hint: hint,
		Finding: fmt.Sprintf("Kubernetes %s is not on the support list (%s)", s.ServerVersion, list)}}
}

func checkRequests(s *Snapshot) []Finding {
	return perDelegate(s, func(d delegate.Delegate) Finding {
		cpu, mem := d.Resources.Requests.Cpu(), d.Resources.Requests.Memory()
		var short []string
		if cpu.Cmp(minCPU) < 0 {
			short = append(short, fmt.Sprintf("cpu %s < %s", quantity(cpu), minCPU.String()))
		}
		if mem.Cmp(minMemory) < 0 {
			short = append(short, fmt.Sprintf("memory %s < %s", quantity(mem), minMemory.String()))
		}
		if len(short) == 0 {
			return Finding{Verdict: Pass,
				Finding: fmt.Sprintf("each replica requests cpu %s, memory %s (minimum %s, %s)", quantity(cpu), quantity(mem), minCPU.String(), minMemory.String())}
		}
		return Finding{Verdict: Fail,
			Finding: "each replica requests less than the documented minimum: " + strings.Join(short, ", "),
			Hint: "a delegate short of CPU or memory crash-loops or is OOMKilled; raise the requests, e.g. " +
				setResourcesCommand(d, "requests")}
	})
}

func checkMemoryLimit(s *Snapshot) []Finding {
	return perDelegate(s, func(d delegate.Delegate) Finding {
		limit, ok := d.Resources.Limits[corev1.ResourceMemory]
		if !ok {
			return Finding{Verdict: Pass, Finding: "no memory limit"}
		}
		request := d.Resources.Requests.Memory()
		switch {
		case limit.Cmp(minMemory) < 0:
			return Finding{Verdict: Fail,
				Finding: fmt.Sprintf("memory limit %s is below the documented minimum %s", limit.String(), minMemory.String()),
				Hint:    "the JVM is OOMKilled at the limit; raise it, e.g. " + setResourcesCommand(d, "limits")}
		case !request.IsZero() && limit.Cmp(*request) < 0:
			return Finding{Verdict: Fail,
				Finding: fmt.Sprintf("memory limit %s is below the request %s", limit.String(), request.String()),
				Hint:    "the API server rejects new pods whose limit is below the request; set them equal, as the chart does: " + setResourcesCommand(d, "limits")}
		}
		return Finding{Verdict: Pass, Finding: "memory limit " + limit.String()}
	})
}

func setResourcesCommand(d delegate.Delegate, which string) string {
	if d.InstallMethod == delegate.Helm && d.Helm != nil {
		return fmt.Sprintf("helm upgrade %s harness-delegate/harness-delegate-ng -n %s --reuse-values --set cpu=1 --set memory=2048", d.Helm.Release, d.Namespace)
	}
	// The chart's shape: requests of 1 CPU and 2Gi, a memory limit equal to the request, no
	// CPU limit.
	values := "cpu=1,memory=2Gi"
	if which == "limits" {
		values = "memory=2Gi"
	}
	return fmt.Sprintf("kubectl set resources %s/%s -n %s -c %s --%s=%s",
		strings.ToLower(d.Workload.Kind), d.Workload.Name, d.Namespace, cmp.Or(d.Workload.Container, "delegate"), which, values)
}

func quantity(q *resource.Quantity) string {
	if q.IsZero() {
		return "none"
	}
	return q.String()
}

// perDelegate runs judge on every delegate: one finding each, about the delegate.
func perDelegate(s *Snapshot, judge func(d delegate.Delegate) Finding) []Finding {
	var out []Finding
	for _, d := range s.Delegates {
		f := judge(d)
		f.Subject, f.Delegate = subject(d), subject(d)
		out = append(out, f)
	}
	return out
}

// podFindings runs judge on every pod of every delegate; a delegate whose pods all pass
// gets one pass finding. A delegate without pods gets none: DLG-300 says why there are none.
func podFindings(s *Snapshot, pass string, judge func(d delegate.Delegate, p delegate.Pod) *Finding) []Finding {
	return judgedPodFindings(s, pass, func(d delegate.Delegate, p delegate.Pod) (*Finding, bool) { return judge(d, p), true })
}

// podStage is how far a pod got on its way to running. A pod check judges the pods that
// reached its stage: a pod stopped before it (no node, an image that does not pull) is an
// earlier check's, and passing it would claim what was never checked.
type podStage int

const (
	stageCreated   podStage = iota // on no node yet
	stageScheduled                 // on a node; its image not known to be pulled
	stagePulled                    // the image pulled; the container not created
	stageStarted                   // the container ran at least once
)

func stageOf(p delegate.Pod) podStage {
	switch p.Waiting {
	case "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ContainerCreating", "PodInitializing":
		if p.Node != "" {
			return stageScheduled
		}
	case "CreateContainerConfigError":
		// The kubelet pulls the image before it builds the container's configuration.
		return stagePulled
	}
	switch {
	case p.Node == "":
		return stageCreated
	case p.Phase == string(corev1.PodRunning) || p.Phase == string(corev1.PodSucceeded) || p.Phase == string(corev1.PodFailed) ||
		p.Waiting == "CrashLoopBackOff" || p.Restarts > 0 || p.LastTermination != nil:
		return stageStarted
	}
	return stageScheduled
}

// stagedPodFindings is podFindings for a check of the pods that reached stage: it judges
// those, and any pod it finds at fault.
func stagedPodFindings(s *Snapshot, pass string, stage podStage, judge func(d delegate.Delegate, p delegate.Pod) *Finding) []Finding {
	return judgedPodFindings(s, pass, func(d delegate.Delegate, p delegate.Pod) (*Finding, bool) {
		f := judge(d, p)
		return f, f != nil || stageOf(p) >= stage
	})
}

// judgedPodFindings is podFindings for a check that judges only some pods (judged false: the
// pod is another check's): its pass finding counts the pods it judged, never the others.
func judgedPodFindings(s *Snapshot, pass string, judge func(d delegate.Delegate, p delegate.Pod) (*Finding, bool)) []Finding {
	var out []Finding
	for _, d := range s.Delegates {
		bad, judged := 0, 0
		for _, p := range d.Pods {
			f, ok := judge(d, p)
			if ok {
				judged++
			}
			if f != nil {
				f.Subject, f.Delegate = d.Namespace+"/"+p.Name, subject(d)
				out = append(out, *f)
				bad++
			}
		}
		switch others := len(d.Pods) - judged; {
		case bad > 0 || len(d.Pods) == 0:
		case judged == 0:
			out = append(out, Finding{Verdict: Skip, Subject: subject(d), Delegate: subject(d), Finding: fmt.Sprintf("%d pod(s), each for the checks above", len(d.Pods))})
		case others > 0:
			verb := "is"
			if others > 1 {
				verb = "are"
			}
			out = append(out, Finding{Verdict: Pass, Subject: subject(d), Delegate: subject(d), Finding: fmt.Sprintf("%d of %d pod(s) %s; the other %d %s for the checks above", judged, len(d.Pods), pass, others, verb)})
		default:
			out = append(out, Finding{Verdict: Pass, Subject: subject(d), Delegate: subject(d), Finding: fmt.Sprintf("%d pod(s): %s", len(d.Pods), pass)})
		}
	}
	return out
}

func checkCrashLoop(s *Snapshot) []Finding {
	return stagedPodFindings(s, "none crash-looping", stageStarted, func(d delegate.Delegate, p delegate.Pod) *Finding {
		if p.Waiting != "CrashLoopBackOff" {
			return nil
		}
		f := &Finding{Verdict: Fail, Finding: fmt.Sprintf("CrashLoopBackOff after %d restarts", p.Restarts)}
		t := p.LastTermination
		exit := ""
		if t != nil {
			exit = fmt.Sprintf(" (%s, exit %d)", t.Reason, t.ExitCode)
		}
		// The log that names why the last instance exited makes this one finding that says
		// both the symptom and its cause (DLG-501 then leaves the pod to this check).
		var cause *logPattern
		var line string
		if quotesLogCause(p) {
			cause, line = crashLogCause(s.Logs[d.Namespace+"/"+p.Name])
		}
		switch {
		case t != nil && t.Reason == "OOMKilled":
			limit := d.Resources.Limits.Memory()
			f.Finding += fmt.Sprintf("; last exit OOMKilled (exit %d) at memory limit %s", t.ExitCode, quantity(limit))
			f.Hint = "the delegate ran out of memory: raise memory (at least 2Gi per replica, limit = request) or lower the heap in JAVA_OPTS: " + setResourcesCommand(d, "limits")
		case cause != nil:
			f.Finding += fmt.Sprintf(": the previous instance exited%s because %s: %q", exit, cause.cause, line)
			f.Hint = cause.fix
		case t != nil:
			f.Finding += fmt.Sprintf("; last exit %s (exit %d)", t.Reason, t.ExitCode)
			f.Hint = fmt.Sprintf("the delegate exits at start-up; its previous log says why: kubectl logs -n %s %s --previous", d.Namespace, p.Name)
		default:
			f.Hint = fmt.Sprintf("kubectl logs -n %s %s --previous shows why it exits", d.Namespace, p.Name)
		}
		return f
	})
}

func checkImagePull(s *Snapshot) []Finding {
	return stagedPodFindings(s, "images pulled", stagePulled, func(d delegate.Delegate, p delegate.Pod) *Finding {
		if p.Waiting != "ImagePullBackOff" && p.Waiting != "ErrImagePull" && p.Waiting != "InvalidImageName" {
			return nil
		}
		image := d.Image.Repository
		if d.Image.Tag != "" {
			image += ":" + d.Image.Tag
		}
		return &Finding{Verdict: Fail, Finding: fmt.Sprintf("%s for image %s", p.Waiting, image),
			Hint: fmt.Sprintf("check the image name and tag, and that the nodes reach its registry (air-gapped: mirror it and set the image); kubectl describe pod -n %s %s shows the pull error", d.Namespace, p.Name)}
	})
}

func checkContainerConfig(s *Snapshot) []Finding {
	return stagedPodFindings(s, "containers created", stageStarted, func(d delegate.Delegate, p delegate.Pod) *Finding {
		if p.Waiting != "CreateContainerConfigError" {
			return nil
		}
		missing := "a Secret or ConfigMap the pod references"
		if d.Token.Source == delegate.TokenFromSecret && d.Token.Present != nil && !*d.Token.Present {
			missing = fmt.Sprintf("Secret %s (key %s)", d.Token.SecretName, d.Token.SecretKey)
		}
		return &Finding{Verdict: Fail, Finding: "CreateContainerConfigError: " + missing + " is missing",
			Hint: fmt.Sprintf("create it, e.g. kubectl create secret generic %s -n %s --from-literal=DELEGATE_TOKEN=<token>; kubectl describe pod -n %s %s names what is missing",
				cmp.Or(d.Token.SecretName, d.Name), d.Namespace, d.Namespace, p.Name)}
	})
}

func checkPending(s *Snapshot) []Finding {
	// The scheduler's last word on each pod, indexed once rather than searched per pod.
	reasons := map[string]string{}
	for _, e := range s.Events {
		if e.Reason == "FailedScheduling" && e.InvolvedObject.Kind == "Pod" {
			reasons[e.InvolvedObject.Namespace+"/"+e.InvolvedObject.Name] = strings.TrimSpace(e.Message)
		}
	}
	return podFindings(s, "scheduled", func(d delegate.Delegate, p delegate.Pod) *Finding {
		if p.Phase != string(corev1.PodPending) || p.Node != "" {
			return nil
		}
		f := &Finding{Verdict: Fail, Finding: "Pending: not scheduled on any node",
			Hint: fmt.Sprintf("kubectl describe pod -n %s %s shows the scheduler's reason", d.Namespace, p.Name)}
		if msg, ok := reasons[d.Namespace+"/"+p.Name]; ok {
			f.Finding = "Pending: " + msg
			switch {
			case strings.Contains(msg, "Insufficient"):
				f.Hint = "no node has enough free CPU or memory for a replica's requests: add nodes or capacity, lower the requests, or lower the replicas"
			case strings.Contains(msg, "taint"):
				f.Hint = "the nodes carry taints the delegate does not tolerate: add tolerations to the delegate, or schedule it on untainted nodes"
			}
		}
		return f
	})
}

func checkToken(s *Snapshot) []Finding {
	return perDelegate(s, func(d delegate.Delegate) Finding {
		t := d.Token
		switch {
		case t.Source == delegate.TokenMissing:
			return Finding{Verdict: Fail, Finding: "no DELEGATE_TOKEN in the delegate's environment",
				Hint: "the delegate cannot register without its token; put it in a Secret and reference it: kubectl create secret generic " + d.Name + "-token -n " + d.Namespace + " --from-literal=DELEGATE_TOKEN=<token>"}
		case t.Present == nil:
			// Unknown is not missing: a read-only user is never told to create a token.
			return Finding{Verdict: Skip, Finding: fmt.Sprintf("token in Secret %s, key %s: unknown (Secrets not readable): the Secret could not be read with this kubeconfig's permissions", t.SecretName, t.SecretKey)}
		case !*t.Present && t.Source == delegate.TokenFromSecret:
			return Finding{Verdict: Fail, Finding: fmt.Sprintf("Secret %s has no non-empty key %s", t.SecretName, t.SecretKey),
				Hint: fmt.Sprintf("create or fix it: kubectl create secret generic %s -n %s --from-literal=%s=<token> (delete the empty one first)", t.SecretName, d.Namespace, t.SecretKey)}
		case !*t.Present:
			return Finding{Verdict: Fail, Finding: t.Variable + " is set inline but empty",
				Hint: "set the token from a Secret instead of inline"}
		case t.Source == delegate.TokenInline:
			return Finding{Verdict: Warn, Finding: "the token is inline in the pod spec as " + t.Variable,
				Hint: "anyone who can read the workload can read the token; move it to a Secret referenced with secretKeyRef"}
		}
		return Finding{Verdict: Pass, Finding: fmt.Sprintf("token in Secret %s, key %s", t.SecretName, t.SecretKey)}
	})
}

func checkManagerEndpoint(s *Snapshot) []Finding {
	return perDelegate(s, func(d delegate.Delegate) Finding {
		u, err := url.Parse(d.ManagerEndpoint)
		switch {
		case d.ManagerEndpoint == "":
			return Finding{Verdict: Fail, Finding: "MANAGER_HOST_AND_PORT is not set",
				Hint: "set it to your Harness URL, e.g. https://app.harness.io (the chart's managerEndpoint)"}
		case err != nil || u.Scheme != "https" || u.Host == "":
			return Finding{Verdict: Fail, Finding: fmt.Sprintf("manager endpoint %q is not an https URL", d.ManagerEndpoint),
				Hint: "the delegate connects to the manager over HTTPS; use the URL of your Harness account, e.g. https://app.harness.io"}
		}
		return Finding{Verdict: Pass, Finding: "manager endpoint " + d.ManagerEndpoint}
	})
}

func checkAccountID(s *Snapshot) []Finding {
	return perDelegate(s, func(d delegate.Delegate) Finding {
		if d.AccountID == "" {
			return Finding{Verdict: Fail, Finding: "ACCOUNT_ID is not set",
				Hint: "set ACCOUNT_ID to your Harness account id: it is in every Harness URL (the chart's accountId)"}
		}
		return Finding{Verdict: Pass, Finding: "account id set"}
	})
}

func checkDelegateVersion(s *Snapshot) []Finding {
	return perDelegate(s, func(d delegate.Delegate) Finding {
		sp := d.Support
		switch {
		case d.InstallMethod == delegate.Legacy:
			return Finding{Verdict: Fail, Finding: "a legacy StatefulSet delegate: out of support since 2024-01-31",
				Hint: "install a current delegate (Helm chart harness-delegate-ng or kubectl delegate install) and remove the StatefulSet"}
		case d.Image.Tag == "latest":
			return Finding{Verdict: Warn, Finding: "image tag latest: the deprecated legacy image, version unknown",
				Hint: "pin a release tag (yy.mm.verno) so upgrades are deliberate; the upgrader keeps it current"}
		case sp.Status == delegate.UnknownSupport:
			return Finding{Verdict: Warn, Finding: fmt.Sprintf("image tag %q names no delegate release", d.Image.Tag),
				Hint: "use a harness/delegate release tag (yy.mm.verno) so support can be judged"}
		case sp.Status == delegate.EndOfLife:
			// Harness documents that an expired delegate keeps working: a warning, as Harness
			// shows it, not a failure.
			return Finding{Verdict: Warn, Finding: fmt.Sprintf("delegate %s reached end of life on %s; it keeps working, unsupported", d.Version, sp.EndOfLife.Format("2006-01-02")),
				Hint: upgradeHint(d, s.CollectedAt)}
		case sp.Status == delegate.EndOfSupport:
			return Finding{Verdict: Warn, Finding: fmt.Sprintf("delegate %s is out of support since %s (end of life %s)", d.Version, sp.EndOfSupport.Format("2006-01-02"), sp.EndOfLife.Format("2006-01-02")),
				Hint: upgradeHint(d, s.CollectedAt)}
		}
		return Finding{Verdict: Pass, Finding: fmt.Sprintf("delegate %s supported until %s", d.Version, sp.EndOfSupport.Format("2006-01-02"))}
	})
}

// upgradeHint says how to move an old delegate on: the upgrader, when it is there, does it
// at its next run, so that run is what to wait for or look into.
func upgradeHint(d delegate.Delegate, now time.Time) string {
	set := fmt.Sprintf("kubectl set image deployment/%s -n %s %s=IMAGE", d.Workload.Name, d.Namespace, cmp.Or(d.Workload.Container, "delegate"))
	if d.InstallMethod == delegate.Plugin {
		set = fmt.Sprintf("kubectl delegate upgrade %s -n %s --image IMAGE", d.Name, d.Namespace)
	}
	u := d.Upgrader
	switch {
	case u == nil || u.Suspended:
		return "upgrade the image to a current release (" + set + "), or enable the upgrader (upgrader.enabled=true)"
	case u.LastSchedule == nil:
		if next, ok := nextRun(u.Schedule, now); ok {
			return fmt.Sprintf("the upgrader %s has not run yet: its first run, at %s (schedule %q), will move the image to the published release; or upgrade now: %s", u.CronJob, next.UTC().Format(time.RFC3339), u.Schedule, set)
		}
	}
	return fmt.Sprintf("the upgrader %s should move it to the published release within the hour: see DLG-406 and its Jobs (kubectl get jobs -n %s); or upgrade now: %s", u.CronJob, d.Namespace, set)
}

// nextRun is the schedule's first run after t, read as the CronJob controller reads it.
func nextRun(schedule string, t time.Time) (time.Time, bool) {
	sched, err := cron.ParseStandard(schedule)
	if err != nil {
		return time.Time{}, false
	}
	next := sched.Next(t)
	return next, !next.IsZero()
}

func checkDuplicateName(s *Snapshot) []Finding {
	return perDelegate(s, func(d delegate.Delegate) Finding {
		switch {
		case d.Duplicate != nil:
			return Finding{Verdict: Fail,
				Finding: fmt.Sprintf("the name %q is also used in namespace(s) %s", d.Name, strings.Join(d.Duplicate.OtherNamespaces, ", ")),
				Hint: "Harness tells delegates apart by name: two with one name self-destruct; give each a unique delegateName " +
					"(the same name in another cluster, on the same account, self-destructs too and cannot be seen from here)"}
		case d.NameUnchecked != "":
			return Finding{Verdict: Skip, Finding: "other namespaces were not searched: " + d.NameUnchecked}
		}
		return Finding{Verdict: Pass, Finding: "name used once in the cluster"}
	})
}

// upgraderLogLines are how many of a failed run's last log lines the finding quotes.
const upgraderLogLines = 5

func checkUpgrader(s *Snapshot) []Finding {
	return perDelegate(s, func(d delegate.Delegate) Finding {
		u := d.Upgrader
		switch {
		case u == nil:
			return Finding{Verdict: Skip, Finding: "no upgrader CronJob"}
		case u.Suspended:
			return Finding{Verdict: Warn, Finding: "upgrader CronJob " + u.CronJob + " is suspended",
				Hint: fmt.Sprintf("the delegate will fall out of support; resume it: kubectl patch cronjob %s -n %s -p '{\"spec\":{\"suspend\":false}}'", u.CronJob, d.Namespace)}
		case u.LastJob != nil && u.LastJob.Failed:
			return upgraderRunFailed(s, d, u.LastJob)
		case u.LastResult == "Failed":
			return Finding{Verdict: Warn, Finding: "the upgrader's last run failed",
				Hint: fmt.Sprintf("kubectl logs -n %s job/<latest %s job> shows why", d.Namespace, u.CronJob)}
		}
		if f, ok := upgraderOverdue(d, u, s.CollectedAt); ok {
			return f
		}
		if u.LastSchedule == nil {
			if next, ok := nextRun(u.Schedule, s.CollectedAt); ok {
				return Finding{Verdict: Pass, Finding: fmt.Sprintf("upgrader %s runs %s; it has not run yet: its first run, at %s, will move the image to the published release", u.CronJob, u.Schedule, next.UTC().Format(time.RFC3339))}
			}
		}
		return Finding{Verdict: Pass, Finding: "upgrader " + u.CronJob + " runs " + u.Schedule}
	})
}

// upgraderRunFailed says how the last run ended: the Job's reason, the pod's exit code and
// the last lines of its log (redacted at gather, cut here).
func upgraderRunFailed(s *Snapshot, d delegate.Delegate, j *delegate.UpgraderJob) Finding {
	f := Finding{Verdict: Warn, Finding: fmt.Sprintf("the upgrader's last run, Job %s, failed", j.Name),
		Hint: fmt.Sprintf("the delegate stays on its image until a run succeeds; the whole log: kubectl logs -n %s job/%s (the upgrader needs its token Secret and egress to the manager, as the delegate does)", d.Namespace, j.Name)}
	if j.Reason != "" {
		f.Finding += ": " + j.Reason
	}
	if j.Pod != "" && j.ExitCode != nil {
		f.Finding += fmt.Sprintf("; pod %s exited with code %d", j.Pod, *j.ExitCode)
	}
	if tail := lastLines(s.Logs[d.Namespace+"/"+j.Pod].Current, upgraderLogLines); j.Pod != "" && len(tail) > 0 {
		f.Finding += "; its log ends: " + strings.Join(tail, " | ")
	}
	return f
}

// upgraderOverdue warns when no run has succeeded within two schedule periods of the
// CronJob's creation: the first run may fail once, the second should not.
func upgraderOverdue(d delegate.Delegate, u *delegate.Upgrader, now time.Time) (Finding, bool) {
	if u.LastSuccessful != nil || u.CreatedAt.IsZero() {
		return Finding{}, false
	}
	first, ok := nextRun(u.Schedule, u.CreatedAt)
	if !ok {
		return Finding{}, false
	}
	second, ok := nextRun(u.Schedule, first)
	if !ok || !now.After(second) {
		return Finding{}, false
	}
	return Finding{Verdict: Warn,
		Finding: fmt.Sprintf("the upgrader %s has had no successful run since it was created %s (schedule %q: due by %s)", u.CronJob, u.CreatedAt.UTC().Format(time.RFC3339), u.Schedule, second.UTC().Format(time.RFC3339)),
		Hint:    fmt.Sprintf("its Jobs say why: kubectl get jobs -n %s; kubectl describe cronjob %s -n %s", d.Namespace, u.CronJob, d.Namespace)}, true
}

// lastLines are the last n non-empty lines of text, each cut to an excerpt.
func lastLines(text string, n int) []string {
	var out []string
	lines := strings.Split(text, "\n")
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			out = append(out, excerpt(l))
		}
	}
	slices.Reverse(out)
	return out
}

func checkProxy(s *Snapshot) []Finding {
	return perDelegate(s, func(d delegate.Delegate) Finding {
		switch {
		case !d.Proxy.Configured:
			return Finding{Verdict: Skip, Finding: "no proxy configured"}
		case !strings.Contains(d.Proxy.NoProxy, "kubernetes.default") && !strings.Contains(d.Proxy.NoProxy, ".svc") && !strings.Contains(d.Proxy.NoProxy, "10.") && !strings.Contains(d.Proxy.NoProxy, "*"):
			return Finding{Verdict: Warn, Finding: fmt.Sprintf("proxy %s set, NO_PROXY %q does not exempt the API server", d.Proxy.Host, d.Proxy.NoProxy),
				Hint: "calls to the Kubernetes API would go through the proxy; add kubernetes.default.svc and the service CIDR to NO_PROXY (the chart's noProxy)"}
		}
		return Finding{Verdict: Pass, Finding: "proxy " + d.Proxy.Host + " with NO_PROXY " + d.Proxy.NoProxy}
	})
}

// checkProbes reads the kubelet's Unhealthy events for the delegate's pods: the startup and
// liveness probes call /api/health on port 3460.
func checkProbes(s *Snapshot) []Finding {
	unhealthy := map[string]corev1.Event{}
	for _, e := range s.Events {
		if e.Reason == "Unhealthy" && e.InvolvedObject.Kind == "Pod" {
			key := e.InvolvedObject.Namespace + "/" + e.InvolvedObject.Name
			if prev, ok := unhealthy[key]; !ok || e.LastTimestamp.After(prev.LastTimestamp.Time) {
				unhealthy[key] = e
			}
		}
	}
	return stagedPodFindings(s, "no failed health probes", stageStarted, func(d delegate.Delegate, p delegate.Pod) *Finding {
		e, ok := unhealthy[d.Namespace+"/"+p.Name]
		if !ok {
			return nil
		}
		f := &Finding{Verdict: Fail, Finding: fmt.Sprintf("health probe failing (x%d): %s", max(e.Count, 1), strings.TrimSpace(e.Message)),
			Hint:    fmt.Sprintf("the delegate does not answer /api/health on port 3460; its log says why: kubectl logs -n %s %s", d.Namespace, p.Name),
			symptom: podSymptom}
		if strings.Contains(e.Message, "Socket is not open") {
			f.Hint = "the delegate's WebSocket to the manager is blocked (proxy or firewall): set POLL_FOR_TASKS=true (the chart's pollForTasks), or allow WebSocket traffic"
		}
		return f
	})
}

// checkReadiness flags pods that run but are not ready, or restart often, without being in
// one of the states the checks above explain.
func checkReadiness(s *Snapshot) []Finding {
	return judgedPodFindings(s, "ready", func(d delegate.Delegate, p delegate.Pod) (*Finding, bool) {
		switch {
		case p.Waiting != "" || p.Node == "":
			return nil, false // crash loops, pulls, config errors and Pending have their own checks
		case p.Phase == string(corev1.PodFailed) || p.Phase == string(corev1.PodSucceeded):
			// Evicted, or its node gone: the controller has replaced it, but why it ended
			// (memory pressure on the node, often) is worth a look.
			return &Finding{Verdict: Warn, Finding: fmt.Sprintf("the pod ended (phase %s) and runs no more", p.Phase),
				Hint: fmt.Sprintf("kubectl describe pod -n %s %s says why (evicted: the node ran short of memory or disk, say); delete it once read: kubectl delete pod -n %s %s",
					d.Namespace, p.Name, d.Namespace, p.Name)}, true
		case p.Phase != string(corev1.PodRunning):
			return nil, false // still starting: neither ready nor failing yet
		case !p.Ready:
			return &Finding{Verdict: Warn, Finding: "Running but not ready", symptom: podSymptom,
				Hint: fmt.Sprintf("kubectl describe pod -n %s %s shows the failing condition", d.Namespace, p.Name)}, true
		case p.Restarts >= 5:
			return &Finding{Verdict: Warn, Finding: fmt.Sprintf("%d restarts", p.Restarts), symptom: podSymptom,
				Hint: fmt.Sprintf("it keeps dying and coming back: kubectl logs -n %s %s --previous", d.Namespace, p.Name)}, true
		}
		return nil, true
	})
}
