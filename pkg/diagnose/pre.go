package diagnose

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// PreInstall is what the pre-install checks read besides the planned delegate itself.
type PreInstall struct {
	Namespace string `json:"namespace"`
	// NamespaceExists is nil when the namespace could not be read.
	NamespaceExists *bool  `json:"namespaceExists,omitempty"`
	NamespaceError  string `json:"namespaceError,omitempty"`
	// Access are the answers to "may I create and patch each kind install writes?".
	Access []PreAccess `json:"access"`
	// Existing are the objects install would write that exist already, with their owners.
	Existing []ExistingObject `json:"existing"`
	// ExistingError says why the objects could not be read.
	ExistingError string `json:"existingError,omitempty"`
	// ForceConflicts is true when the user asked to take conflicting objects over.
	ForceConflicts bool `json:"forceConflicts,omitempty"`
}

// PlannedObject is one object install would write.
type PlannedObject struct {
	Group     string `json:"group"`
	Resource  string `json:"resource"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// ExistingObject is a planned object that exists, and who owns it.
type ExistingObject struct {
	Ref   string         `json:"object"`
	Owner delegate.Owner `json:"owner"`
}

// PreAccess is one SelfSubjectAccessReview of the user running install.
type PreAccess struct {
	Verb      string `json:"verb"`
	Group     string `json:"group,omitempty"`
	Resource  string `json:"resource"`
	Namespace string `json:"namespace,omitempty"`
	// Name is the role a bind question is about.
	Name string `json:"name,omitempty"`
	// Bind marks "may I bind this role?": without it the API server still allows a binding
	// when the user holds every permission the role grants, so a no is a warning.
	Bind    bool   `json:"bind,omitempty"`
	Allowed *bool  `json:"allowed,omitempty"`
	Error   string `json:"error,omitempty"`
}

func (a PreAccess) String() string {
	r := a.Resource
	if a.Group != "" {
		r += "." + a.Group
	}
	if a.Name != "" {
		r += "/" + a.Name
	}
	if a.Namespace != "" {
		return fmt.Sprintf("%s %s in %s", a.Verb, r, a.Namespace)
	}
	return a.Verb + " " + r
}

// PrePlan is the install doctor --pre looks at: the delegate as it would be, and its objects.
type PrePlan struct {
	Delegate delegate.Delegate
	Objects  []PlannedObject
	Existing []ExistingObject
	// Grants are the roles the install binds to the delegate (Role or ClusterRole, name).
	Grants         []PlannedObject
	ExistingError  string
	ForceConflicts bool
	SupportMatrix  SupportMatrix
	Now            func() time.Time
}

// GatherPre reads what the pre-install checks need: the server version, the namespace, one
// SelfSubjectAccessReview per kind and verb install uses, and the nodes' free room.
func GatherPre(ctx context.Context, client kubernetes.Interface, plan PrePlan) (*Snapshot, error) {
	if plan.Now == nil {
		plan.Now = time.Now
	}
	d := plan.Delegate
	s := &Snapshot{SupportMatrix: plan.SupportMatrix, CollectedAt: plan.Now(), Delegates: []delegate.Delegate{d}}
	if v, err := ServerVersion(ctx, client); err == nil {
		s.ServerVersion = v.GitVersion
	}
	pre := &PreInstall{Namespace: d.Namespace, Existing: plan.Existing, ExistingError: plan.ExistingError, ForceConflicts: plan.ForceConflicts}
	_, err := client.CoreV1().Namespaces().Get(ctx, d.Namespace, metav1.GetOptions{})
	switch {
	case err == nil:
		pre.NamespaceExists = ptrTo(true)
	case apierrors.IsNotFound(err):
		pre.NamespaceExists = ptrTo(false)
	default:
		pre.NamespaceError = err.Error()
	}
	pre.Access = reviewOwnAccess(ctx, client, plan.Objects, plan.Grants, pre.NamespaceExists != nil && !*pre.NamespaceExists)
	s.Pre = pre
	// On a reinstall the delegate's running replicas hold the room its planned ones take:
	// they are the same pods, or a rolling update replaces them one by one. Counted as used,
	// they made a reinstall on full nodes fail for want of room it already has.
	own := func(p *corev1.Pod) bool { return p.Namespace == d.Namespace && p.Labels[delegate.LabelName] == d.Name }
	if s.Nodes, err = gatherNodeCapacity(ctx, client, own); err != nil {
		s.Nodes, s.NodesError = nil, "node capacity could not be read: "+err.Error()
	}
	return s, ctx.Err()
}

// reviewOwnAccess asks, for each kind install writes, whether the user may create and patch
// it (server-side apply needs both), and may create the namespace when it is missing.
func reviewOwnAccess(ctx context.Context, client kubernetes.Interface, objs, grants []PlannedObject, createNamespace bool) []PreAccess {
	seen := map[string]bool{}
	var questions []PreAccess
	ask := func(a PreAccess) {
		if key := a.String(); !seen[key] {
			seen[key] = true
			questions = append(questions, a)
		}
	}
	if createNamespace {
		ask(PreAccess{Verb: "create", Resource: "namespaces"})
	}
	for _, o := range objs {
		for _, verb := range []string{"create", "patch"} {
			ask(PreAccess{Verb: verb, Group: o.Group, Resource: o.Resource, Namespace: o.Namespace})
		}
	}
	for _, g := range grants {
		ask(PreAccess{Verb: "bind", Group: g.Group, Resource: g.Resource, Namespace: g.Namespace, Name: g.Name, Bind: true})
	}
	for i := range questions {
		q := &questions[i]
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: q.Verb, Group: q.Group, Resource: q.Resource, Namespace: q.Namespace, Name: q.Name},
		}}
		got, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			q.Error = err.Error()
			continue
		}
		q.Allowed = ptrTo(got.Status.Allowed)
	}
	return questions
}

func ptrTo[T any](v T) *T { return &v }

func checkPreNamespace(s *Snapshot) []Finding {
	p := s.Pre
	if p == nil {
		return nil
	}
	switch {
	case p.NamespaceExists == nil:
		return []Finding{{Verdict: Skip, Subject: p.Namespace, Finding: "the namespace could not be read: " + p.NamespaceError}}
	case *p.NamespaceExists:
		return []Finding{{Verdict: Pass, Subject: p.Namespace, Finding: "namespace " + p.Namespace + " exists"}}
	}
	for _, a := range p.Access {
		if a.Resource == "namespaces" && a.Allowed != nil && !*a.Allowed {
			return []Finding{{Verdict: Fail, Subject: p.Namespace,
				Finding: "namespace " + p.Namespace + " does not exist and you may not create it",
				Hint:    "ask a cluster admin to run: kubectl create namespace " + p.Namespace + ", or install into a namespace you may use with -n"}}
		}
	}
	return []Finding{{Verdict: Pass, Subject: p.Namespace, Finding: "namespace " + p.Namespace + " does not exist yet; install creates it"}}
}

func checkPreAccess(s *Snapshot) []Finding {
	p := s.Pre
	if p == nil {
		return nil
	}
	var denied, unknown, mayNotBind []string
	for _, a := range p.Access {
		switch {
		case a.Allowed == nil:
			unknown = append(unknown, a.String())
		case !*a.Allowed && a.Bind:
			mayNotBind = append(mayNotBind, a.String())
		case !*a.Allowed:
			denied = append(denied, a.String())
		}
	}
	subject := p.Namespace
	switch {
	case len(denied) > 0:
		return []Finding{{Verdict: Fail, Subject: subject,
			Finding: fmt.Sprintf("you may not: %s", strings.Join(denied, "; ")),
			Hint: "install applies these objects as you; ask for these permissions (kubectl auth can-i " +
				firstQuestion(p.Access) + " shows one), or pick a role that needs fewer with --role namespace-admin"}}
	case len(unknown) == len(p.Access) && len(unknown) > 0:
		return []Finding{{Verdict: Skip, Subject: subject, Finding: "your permissions could not be reviewed: " + p.Access[0].Error}}
	case len(unknown) > 0:
		return []Finding{{Verdict: Warn, Subject: subject, Finding: "some permissions could not be reviewed: " + strings.Join(unknown, "; ")}}
	case len(mayNotBind) > 0:
		return []Finding{{Verdict: Warn, Subject: subject,
			Finding: "you may create the objects, but not: " + strings.Join(mayNotBind, "; "),
			Hint: "the API server lets you bind a role only with the bind verb on it or when you hold every permission it grants; " +
				"if the install is refused, ask a cluster admin to install it or to grant bind, or pick a smaller --role"}}
	}
	return []Finding{{Verdict: Pass, Subject: subject, Finding: fmt.Sprintf("you may create and patch all %d kind(s) of object install writes", kindsOf(p.Access))}}
}

func firstQuestion(access []PreAccess) string {
	for _, a := range access {
		if a.Allowed != nil && !*a.Allowed {
			r := a.Resource
			if a.Group != "" {
				r += "." + a.Group
			}
			if a.Namespace != "" {
				return a.Verb + " " + r + " -n " + a.Namespace
			}
			return a.Verb + " " + r
		}
	}
	return ""
}

func kindsOf(access []PreAccess) int {
	kinds := map[string]bool{}
	for _, a := range access {
		if a.Resource != "namespaces" && !a.Bind {
			kinds[a.Group+"/"+a.Resource] = true
		}
	}
	return len(kinds)
}

func checkPreConflicts(s *Snapshot) []Finding {
	p := s.Pre
	if p == nil {
		return nil
	}
	if p.ExistingError != "" {
		return []Finding{{Verdict: Skip, Subject: p.Namespace, Finding: "existing objects could not be read: " + p.ExistingError}}
	}
	var d delegate.Delegate
	if len(s.Delegates) > 0 {
		d = s.Delegates[0]
	}
	var foreign, ours []string
	for _, e := range p.Existing {
		if e.Owner.Plugin && e.Owner.Delegate == d.Name {
			ours = append(ours, e.Ref)
			continue
		}
		foreign = append(foreign, e.Ref+" (owned by "+e.Owner.Description+")")
	}
	sort.Strings(foreign)
	switch {
	case len(foreign) > 0 && p.ForceConflicts:
		return []Finding{{Verdict: Warn, Subject: subject(d),
			Finding: fmt.Sprintf("%d object(s) belong to another installation and will be taken over (--force-conflicts): %s", len(foreign), strings.Join(foreign, "; ")),
			Hint:    "the other installation (Helm, a manifest) will fight over them on its next upgrade; uninstall it afterwards"}}
	case len(foreign) > 0:
		return []Finding{{Verdict: Fail, Subject: subject(d),
			Finding: fmt.Sprintf("%d object(s) already exist and belong to another installation: %s", len(foreign), strings.Join(foreign, "; ")),
			Hint: "this is Helm's \"rendered manifests contain a resource that already exists\"; uninstall the other installation " +
				"(helm uninstall RELEASE -n NAMESPACE, or kubectl delete -f harness-delegate.yaml), pick another delegate name, or pass --force-conflicts to take them over"}}
	case len(ours) > 0:
		return []Finding{{Verdict: Pass, Subject: subject(d), Finding: fmt.Sprintf("%d object(s) exist from an earlier install by this plugin; install updates them", len(ours))}}
	}
	return []Finding{{Verdict: Pass, Subject: subject(d), Finding: "none of the objects install writes exists yet"}}
}

// PlannedDelegate is the delegate an install would make, for the capacity checks: no pods
// yet, so every desired replica is unplaced and node fit weighs them all. The replicas are
// a count, not a pod each: doctor --pre --replicas 1000000 must not allocate a million pods.
func PlannedDelegate(namespace, name string, replicas int32, requests, limits corev1.ResourceList) delegate.Delegate {
	d := delegate.Delegate{Name: name, Namespace: namespace, Replicas: delegate.Replicas{Desired: replicas}}
	d.Resources.Requests = requests
	d.Resources.Limits = limits
	return d
}
