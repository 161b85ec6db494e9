package diagnose

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// checkWorkload is the layer above the pods: whether the workload's controller creates the
// pods it should, and whether they become available in the time a rollout takes. When the
// API server refuses the pods there are none for the pod checks to read, so this is the
// cause and the report's first word on the delegate.
func checkWorkload(s *Snapshot) []Finding {
	return perDelegate(s, func(d delegate.Delegate) Finding {
		desired, available := d.Replicas.Desired, d.Replicas.Available
		// The pods the current revision lacks: a new install has none at all; an upgrade whose
		// new ReplicaSet is refused keeps the previous revision's pods, so only the updated
		// count shows them missing.
		missing := max(desired-int32(len(d.Pods)), desired-d.Replicas.Updated)
		if msg, from := refusal(s, d); missing > 0 && msg != "" {
			f := classifyRefusal(d, msg, missing)
			if int32(len(d.Pods)) < desired {
				f.Finding = fmt.Sprintf("%d of %d pod(s) not created: %s (%s)", missing, desired, f.Finding, from)
				return f
			}
			f.Finding = fmt.Sprintf("%d of %d pod(s) of the current revision not created: %s (%s); the delegate runs on the previous revision's pods until they are",
				missing, desired, f.Finding, from)
			if available >= desired {
				f.Verdict = Warn // it works; only the upgrade waits on the fix
			}
			return f
		}
		scale := fmt.Sprintf("kubectl scale %s/%s -n %s --replicas=1", strings.ToLower(d.Workload.Kind), d.Workload.Name, d.Namespace)
		if desired == 0 {
			return Finding{Verdict: Warn, Finding: fmt.Sprintf("%s %s is scaled to 0 replicas", d.Workload.Kind, d.Workload.Name),
				Hint: "Harness shows the delegate disconnected and runs no task on it; scale it up: " + scale}
		}
		if c, ok := progressDeadline(d); ok && available < desired {
			// A symptom: the pod checks name why the pods are not available, when they can.
			f := Finding{Verdict: Warn, symptom: workloadSymptom, Finding: fmt.Sprintf("%d of %d replica(s) available; %s: %s", available, desired, c.Reason, strings.TrimSpace(c.Message)),
				Hint: fmt.Sprintf("the rollout stopped at its deadline; the pod checks say why its pods are not available: kubectl rollout status %s/%s -n %s", strings.ToLower(d.Workload.Kind), d.Workload.Name, d.Namespace)}
			if len(d.Pods) == 0 {
				f.Verdict = Fail
			}
			return f
		}
		if since := lastChange(d); available < desired && !since.IsZero() {
			waited := s.CollectedAt.Sub(since)
			budget, why := rolloutBudget(d)
			if waited > budget {
				return Finding{Verdict: Warn, symptom: workloadSymptom,
					Finding: fmt.Sprintf("%d of %d replica(s) available for %s; a rollout should take at most %s (%s)",
						available, desired, waited.Round(time.Second), budget, why),
					Hint: fmt.Sprintf("the delegate runs short of replicas; the pod checks name the cause when one is known, else: kubectl describe %s/%s -n %s and its pods' events",
						strings.ToLower(d.Workload.Kind), d.Workload.Name, d.Namespace)}
			}
			return Finding{Verdict: Pass, Finding: fmt.Sprintf("%d of %d replica(s) available, %s into a rollout that may take %s; the controller reports no refusal",
				available, desired, waited.Round(time.Second), budget)}
		}
		return Finding{Verdict: Pass, Finding: fmt.Sprintf("%d of %d replica(s) available; the controller reports no refusal", available, desired)}
	})
}

// startAllowance is what a new pod is given to be scheduled, pull the delegate's image
// (several hundred MB, more through a slow registry or a mirror) and start the JVM before
// its probes' budget begins. Kubernetes bounds none of it, so the number is a judgement:
// long enough that an ordinary rollout is never called late.
const startAllowance = 5 * time.Minute

// rolloutBudget is how long a replica may take to become available before doctor calls it
// late, and why: the pod's own way there (start, probes, minReadySeconds), or, for a
// Deployment whose deadline is longer, the deadline its controller gives the rollout before
// it calls it failed itself (kubectl rollout status waits as long): doctor does not call
// late what Kubernetes still calls in progress.
func rolloutBudget(d delegate.Delegate) (time.Duration, string) {
	r := d.Rollout
	budget := r.Budget() + startAllowance
	why := fmt.Sprintf("minReadySeconds %d + probes %ds + %s to schedule, pull the image and start", r.MinReadySeconds, r.StartupSeconds, startAllowance)
	if deadline := time.Duration(r.ProgressDeadlineSeconds) * time.Second; deadline > budget {
		return deadline, fmt.Sprintf("the %s's progressDeadlineSeconds %d", d.Workload.Kind, r.ProgressDeadlineSeconds)
	}
	return budget, why
}

// lastChange is when the replicas last moved: the controller's last progress, its newest
// pod, or a pod becoming (not) ready; a shortfall is dated from there, so it is never said to
// last longer than it can have.
func lastChange(d delegate.Delegate) time.Time {
	since := d.Rollout.LastProgress
	for _, p := range d.Pods {
		for _, t := range []time.Time{p.CreatedAt, p.ReadyChanged} {
			if t.After(since) {
				since = t
			}
		}
	}
	return since
}

// refusal is the API server's newest word on why the workload's controller could not create a
// pod: a FailedCreate warning event of the current ReplicaSet or the StatefulSet, else a
// ReplicaFailure condition. from names where it was read.
func refusal(s *Snapshot, d delegate.Delegate) (msg, from string) {
	kind, name := "ReplicaSet", d.Rollout.ReplicaSet
	if d.Workload.Kind == "StatefulSet" {
		kind, name = "StatefulSet", d.Workload.Name
	}
	var newest time.Time
	for _, e := range s.Events {
		o := e.InvolvedObject
		if e.Reason != "FailedCreate" || o.Kind != kind || o.Namespace != d.Namespace || o.Name != name || name == "" {
			continue
		}
		if t := delegate.EventTime(e); msg == "" || t.After(newest) {
			msg, newest = strings.TrimSpace(e.Message), t
			from = fmt.Sprintf("FailedCreate event of %s/%s, x%d", kind, name, max(e.Count, 1))
		}
	}
	if msg != "" {
		return msg, from
	}
	for _, c := range d.Rollout.Conditions {
		if c.Type == "ReplicaFailure" && c.Message != "" {
			return strings.TrimSpace(c.Message), fmt.Sprintf("condition ReplicaFailure of %s", c.Object)
		}
	}
	return "", ""
}

// progressDeadline is the workload's Progressing=False ProgressDeadlineExceeded condition.
func progressDeadline(d delegate.Delegate) (delegate.Condition, bool) {
	for _, c := range d.Rollout.Conditions {
		if c.Type == "Progressing" && c.Status == string(corev1.ConditionFalse) && c.Reason == "ProgressDeadlineExceeded" {
			return c, true
		}
	}
	return delegate.Condition{}, false
}

var (
	quotaExceeded   = regexp.MustCompile(`exceeded quota: ([^,]+), requested: (\S+), used: (\S+), limited: (\S+)`)
	quotaUnset      = regexp.MustCompile(`failed quota: ([^:]+): must specify (\S+)`)
	podSecurity     = regexp.MustCompile(`violates PodSecurity "([^"]+)": (.+)$`)
	webhookDenied   = regexp.MustCompile(`admission webhook "([^"]+)" denied the request:\s*(.*)$`)
	policyDenied    = regexp.MustCompile(`ValidatingAdmissionPolicy '([^']+)' with binding '([^']+)' denied request:\s*(.*)$`)
	limitRange      = regexp.MustCompile(`(maximum|minimum) (\S+) usage per (Container|Pod) is (\S+), but (?:limit|request) is (\S+)`)
	belowLimit      = regexp.MustCompile(`Invalid value: "([^"]+)": must be less than or equal to (cpu|memory) limit(?: of (\S+))?`)
	missingAccount  = regexp.MustCompile(`serviceaccount "([^"]+)" not found`)
	missingPriority = regexp.MustCompile(`no PriorityClass with name (\S+) was found`)
	notFound        = regexp.MustCompile(`(\w+) "([^"]+)" not found`)
)

// classifyRefusal turns the API server's refusal of a pod into a failure with the fix: the
// known forms get their numbers and commands, any other is quoted verbatim.
func classifyRefusal(d delegate.Delegate, msg string, missing int32) Finding {
	kind := strings.ToLower(d.Workload.Kind) + "/" + d.Workload.Name
	if m := quotaExceeded.FindStringSubmatch(msg); m != nil {
		return quotaFinding(d, m[1], m[2], m[3], m[4], missing)
	}
	if m := quotaUnset.FindStringSubmatch(msg); m != nil {
		return Finding{Verdict: Fail, Finding: fmt.Sprintf("ResourceQuota %s requires %s on every pod and the delegate sets none", m[1], m[2]),
			Hint: fmt.Sprintf("set them on the delegate container, e.g. %s, or set defaults for the namespace with a LimitRange", setResourcesCommand(d, "limits"))}
	}
	if m := podSecurity.FindStringSubmatch(msg); m != nil {
		return podSecurityFinding(d, m[1], m[2])
	}
	if m := webhookDenied.FindStringSubmatch(msg); m != nil {
		return Finding{Verdict: Fail, Finding: fmt.Sprintf("admission webhook %s refused the pod: %s", m[1], m[2]),
			Hint: fmt.Sprintf("change the delegate to meet the webhook's policy, or ask its owners for an exception for namespace %s; kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations shows which configuration holds %s", d.Namespace, m[1])}
	}
	if m := policyDenied.FindStringSubmatch(msg); m != nil {
		return Finding{Verdict: Fail, Finding: fmt.Sprintf("ValidatingAdmissionPolicy %s (binding %s) refused the pod: %s", m[1], m[2], m[3]),
			Hint: fmt.Sprintf("change the delegate to meet the policy, or exclude namespace %s from the binding: kubectl get validatingadmissionpolicybinding %s -o yaml", d.Namespace, m[2])}
	}
	if m := limitRange.FindStringSubmatch(msg); m != nil {
		return Finding{Verdict: Fail, Finding: fmt.Sprintf("a LimitRange refused the pod: %s %s per %s is %s, the delegate asks %s", m[1], m[2], m[3], m[4], m[5]),
			Hint: fmt.Sprintf("change the LimitRange (kubectl get limitrange -n %s -o yaml) or the delegate's %s to fit it; the delegate needs at least 2Gi of memory per replica", d.Namespace, m[2])}
	}
	if m := belowLimit.FindStringSubmatch(msg); m != nil {
		limit := cmp.Or(m[3], "the default")
		return Finding{Verdict: Fail, Finding: fmt.Sprintf("the pod's %s request %s is above its %s limit %s: a LimitRange's default limit applies to the delegate, which sets none", m[2], m[1], m[2], limit),
			Hint: fmt.Sprintf("set a %s limit on the delegate at least its request (kubectl set resources %s -n %s -c %s --limits=%s=%s), or raise the LimitRange's default (kubectl get limitrange -n %s -o yaml)",
				m[2], kind, d.Namespace, cmp.Or(d.Workload.Container, "delegate"), m[2], m[1], d.Namespace)}
	}
	if m := missingAccount.FindStringSubmatch(msg); m != nil {
		return Finding{Verdict: Fail, Finding: fmt.Sprintf("ServiceAccount %s does not exist", m[1]),
			Hint: fmt.Sprintf("create it, and bind it the role the delegate needs: kubectl create serviceaccount %s -n %s; or point %s at an existing one", m[1], d.Namespace, kind)}
	}
	if m := missingPriority.FindStringSubmatch(msg); m != nil {
		return Finding{Verdict: Fail, Finding: fmt.Sprintf("PriorityClass %s does not exist", m[1]),
			Hint: fmt.Sprintf("create it (kubectl create priorityclass %s --value=1000) or remove priorityClassName from %s", m[1], kind)}
	}
	if m := notFound.FindStringSubmatch(msg); m != nil {
		return Finding{Verdict: Fail, Finding: fmt.Sprintf("%s %s, which the pod references, does not exist: %s", m[1], m[2], msg),
			Hint: fmt.Sprintf("create %s %s in namespace %s, or remove the reference from %s", m[1], m[2], d.Namespace, kind)}
	}
	return Finding{Verdict: Fail, Finding: "the API server refused the pod: " + msg,
		Hint: fmt.Sprintf("the refusal above is the API server's own words; kubectl describe %s -n %s shows it in the events", kind, d.Namespace)}
}

// quotaFinding names the quota and, per resource it is short of, what one pod requests, what
// is used and the limit; the fix raises the quota to fit every missing replica, or lowers the
// delegate's requests to fit the room left.
func quotaFinding(d delegate.Delegate, quota, requested, used, limited string, missing int32) Finding {
	req, use, lim := quotaList(requested), quotaList(used), quotaList(limited)
	var short, raise, lower []string
	for _, name := range orderedKeys(requested) {
		r, u, l := req[name], use[name], lim[name]
		short = append(short, fmt.Sprintf("%s requested %s, used %s, limited %s", name, r.String(), u.String(), l.String()))
		need := u.DeepCopy()
		for range missing {
			need.Add(r)
		}
		raise = append(raise, fmt.Sprintf("%q:%q", name, need.String()))
		resourceName, which, ok := containerResource(name)
		if !ok {
			continue
		}
		room := l.DeepCopy()
		room.Sub(u)
		if per := divide(room, int64(missing)); per.Sign() > 0 {
			lower = append(lower, lowerFlag(d, which, resourceName, per))
		}
	}
	hint := fmt.Sprintf("raise the quota to fit %d more replica(s): kubectl patch resourcequota %s -n %s --type merge -p '{\"spec\":{\"hard\":{%s}}}'",
		missing, quota, d.Namespace, strings.Join(raise, ","))
	if len(lower) > 0 {
		command := fmt.Sprintf("kubectl set resources %s/%s -n %s -c %s", strings.ToLower(d.Workload.Kind), d.Workload.Name, d.Namespace, cmp.Or(d.Workload.Container, "delegate"))
		if isHelm(d) {
			command = fmt.Sprintf("helm upgrade %s harness-delegate/harness-delegate-ng -n %s --reuse-values", d.Helm.Release, d.Namespace)
		}
		hint += fmt.Sprintf("; or lower the delegate's requests to the room left: %s %s (below 1 CPU and 2Gi per replica the delegate runs short: DLG-201)", command, strings.Join(lower, " "))
	}
	return Finding{Verdict: Fail, Finding: fmt.Sprintf("ResourceQuota %s exceeded: %s", quota, strings.Join(short, "; ")), Hint: hint}
}

func isHelm(d delegate.Delegate) bool { return d.InstallMethod == delegate.Helm && d.Helm != nil }

// lowerFlag sets one resource to q: a kubectl set resources flag, or for a Helm release the
// chart's value (cpu as a quantity; memory in Mi, request and limit alike).
func lowerFlag(d delegate.Delegate, which, name string, q resource.Quantity) string {
	switch {
	case !isHelm(d):
		return fmt.Sprintf("--%s=%s=%s", which, name, q.String())
	case name == "memory":
		return fmt.Sprintf("--set memory=%d", q.Value()/(1<<20))
	}
	return "--set cpu=" + q.String()
}

// quotaList reads the quota admission's lists, e.g. requests.memory=2Gi,limits.memory=2Gi.
func quotaList(s string) map[string]resource.Quantity {
	out := map[string]resource.Quantity{}
	for _, part := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(part, "=")
		if q, err := resource.ParseQuantity(value); ok && err == nil {
			out[name] = q
		}
	}
	return out
}

func orderedKeys(list string) []string {
	var out []string
	for _, part := range strings.Split(list, ",") {
		if name, _, ok := strings.Cut(part, "="); ok {
			out = append(out, name)
		}
	}
	return out
}

// containerResource maps a quota's resource name to the container's resource and which of
// requests or limits sets it: requests.memory and memory are requests, limits.memory a limit.
func containerResource(quotaName string) (string, string, bool) {
	which, name, ok := strings.Cut(quotaName, ".")
	if !ok {
		which, name = "requests", quotaName
	}
	if (which != "requests" && which != "limits") || (name != "cpu" && name != "memory") {
		return "", "", false
	}
	return name, which, true
}

// divide is q/n, in q's format, rounded down to a milli-unit for CPU and a byte for the rest.
func divide(q resource.Quantity, n int64) resource.Quantity {
	if n <= 1 {
		return q
	}
	if q.Format == resource.DecimalSI && q.MilliValue() < 1e6 {
		return *resource.NewMilliQuantity(q.MilliValue()/n, q.Format)
	}
	return *resource.NewQuantity(q.Value()/n, q.Format)
}

// restrictedPatch is the securityContext that meets the restricted Pod Security level: as a
// non-root user (the delegate image's 1001), no privilege escalation, no capabilities, the
// runtime's seccomp profile.
const restrictedPatch = `{"spec":{"template":{"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":1001,"fsGroup":1001,"seccompProfile":{"type":"RuntimeDefault"}},` +
	`"containers":[{"name":"%s","securityContext":{"runAsNonRoot":true,"runAsUser":1001,"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}}}`

// podSecurityFinding names the enforced level and the fields that break it, and both fixes:
// a securityContext that meets the level, or a lower level for the namespace.
func podSecurityFinding(d delegate.Delegate, level, violations string) Finding {
	var fields []string
	for _, v := range strings.Split(violations, "), ") {
		field, _, _ := strings.Cut(v, " (")
		fields = append(fields, strings.TrimSpace(field))
	}
	f := Finding{Verdict: Fail,
		Finding: fmt.Sprintf("Pod Security admission enforces %q in namespace %s; the pod breaks it: %s", level, d.Namespace, strings.Join(fields, ", "))}
	container := cmp.Or(d.Workload.Container, "delegate")
	kind := strings.ToLower(d.Workload.Kind) + "/" + d.Workload.Name
	if strings.HasPrefix(level, "restricted") {
		f.Hint = fmt.Sprintf("either run the delegate as restricted allows: kubectl patch %s -n %s --type strategic -p '%s' "+
			"(trade-off: the delegate runs as user 1001, not root, so an INIT_SCRIPT that installs packages fails); "+
			"or lower the namespace's level: kubectl label namespace %s pod-security.kubernetes.io/enforce=baseline --overwrite "+
			"(trade-off: every pod in %s is then held to baseline only)", kind, d.Namespace, fmt.Sprintf(restrictedPatch, container), d.Namespace, d.Namespace)
		return f
	}
	f.Hint = fmt.Sprintf("remove what breaks the level from %s's pod template (%s); or lower the namespace's level: kubectl label namespace %s pod-security.kubernetes.io/enforce=privileged --overwrite "+
		"(trade-off: every pod in %s may then run privileged)", kind, violations, d.Namespace, d.Namespace)
	return f
}
