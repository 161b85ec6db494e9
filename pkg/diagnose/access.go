package diagnose

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// AccessReview is the API server's answer to "may the delegate's ServiceAccount do what its
// role promises?".
type AccessReview struct {
	Question string `json:"question"`
	// Allowed is nil when the question could not be asked.
	Allowed *bool  `json:"allowed,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
}

// promise is what each RBAC mode must allow: one representative request.
func promise(d delegate.Delegate) (*authorizationv1.ResourceAttributes, string) {
	switch d.RBAC.Mode {
	case delegate.ClusterAdmin:
		return &authorizationv1.ResourceAttributes{Verb: "*", Group: "*", Resource: "*"}, "every verb on every resource in every namespace"
	case delegate.ClusterViewer:
		return &authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods"}, "list pods in every namespace"
	case delegate.NamespaceAdmin:
		return &authorizationv1.ResourceAttributes{Verb: "create", Group: "apps", Resource: "deployments", Namespace: d.Namespace},
			"create deployments in " + d.Namespace
	}
	return nil, ""
}

// gatherAccess asks the API server one SubjectAccessReview per delegate, a few at a time.
func gatherAccess(ctx context.Context, client kubernetes.Interface, ds []delegate.Delegate) map[string]AccessReview {
	out := map[string]AccessReview{}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(8)
	for _, d := range ds {
		attrs, question := promise(d)
		if attrs == nil {
			continue
		}
		// A failed review is its delegate's answer; the others' stand.
		g.Go(func() error {
			sa := d.Workload.ServiceAccount
			review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               "system:serviceaccount:" + d.Namespace + ":" + sa,
				Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + d.Namespace, "system:authenticated"},
				ResourceAttributes: attrs,
			}}
			ar := AccessReview{Question: fmt.Sprintf("may ServiceAccount %s/%s %s?", d.Namespace, sa, question)}
			res, err := client.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err != nil {
				ar.Error = err.Error()
				if apierrors.IsForbidden(err) {
					ar.Error = "this kubeconfig's user may not create SubjectAccessReviews"
				}
			} else {
				allowed := res.Status.Allowed
				ar.Allowed, ar.Reason = &allowed, res.Status.Reason
			}
			mu.Lock()
			out[subject(d)] = ar
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	return out
}

func checkAccess(s *Snapshot) []Finding {
	return perDelegate(s, func(d delegate.Delegate) Finding {
		var f Finding
		ar, asked := s.Access[subject(d)]
		switch {
		case d.RBAC.Mode == delegate.RBACUnknown:
			f.Verdict, f.Finding = Skip, "the bindings could not be read with this kubeconfig's permissions"
		case d.RBAC.Mode == delegate.NoRBAC:
			f.Verdict, f.Finding = Warn, fmt.Sprintf("no RoleBinding or ClusterRoleBinding names ServiceAccount %s", d.Workload.ServiceAccount)
			f.Hint = "the delegate cannot deploy anything to this cluster; bind a role to it (the chart's k8sPermissionsType), e.g. kubectl create clusterrolebinding " +
				d.Name + "-cluster-admin --clusterrole=cluster-admin --serviceaccount=" + d.Namespace + ":" + d.Workload.ServiceAccount
		case d.RBAC.Mode == delegate.CustomRole:
			f.Verdict, f.Finding = Skip, "custom role: what it must allow is for you to say ("+fmt.Sprint(d.RBAC.Bindings)+")"
		case !asked:
			f.Verdict, f.Finding = Skip, "access was not reviewed"
		case ar.Allowed == nil:
			f.Verdict, f.Finding = Skip, "access could not be reviewed: "+ar.Error
		case *ar.Allowed:
			f.Verdict, f.Finding = Pass, fmt.Sprintf("%s: %s yes", d.RBAC.Mode, ar.Question)
		default:
			f.Verdict, f.Finding = Fail, fmt.Sprintf("%s promised, but %s no", d.RBAC.Mode, ar.Question)
			f.Hint = "a binding names a role that does not grant it (or does not exist): kubectl auth can-i --list --as=system:serviceaccount:" +
				d.Namespace + ":" + d.Workload.ServiceAccount + " shows what it may do"
		}
		return f
	})
}
