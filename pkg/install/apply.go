package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// Existing is what the cluster holds under a rendered object's name.
type Existing struct {
	Object Object
	// ResourceVersion is "" when the object does not exist.
	ResourceVersion string
	// Content is a digest of the object without its status and what the server and its
	// controllers keep changing with it (resourceVersion, managedFields, the Deployment's
	// revision annotation): a controller's status update leaves it, another install's write
	// does not.
	Content string
	Owner   delegate.Owner
}

// Exists says whether the cluster has the object.
func (e Existing) Exists() bool { return e.ResourceVersion != "" }

// Conflict is an object install would write that belongs to someone else.
type Conflict struct {
	Ref   string `json:"object"`
	Owner string `json:"owner"`
}

func (c Conflict) String() string { return c.Ref + " belongs to " + c.Owner }

// ConflictError lists every object that would be taken over.
type ConflictError struct{ Conflicts []Conflict }

func (e *ConflictError) Error() string {
	lines := make([]string, len(e.Conflicts))
	for i, c := range e.Conflicts {
		lines[i] = "  " + c.String()
	}
	// The caller adds how to take the objects over, in its own words (a flag, a field).
	return fmt.Sprintf("%d object(s) already exist and belong to someone else; nothing was changed:\n%s\n"+
		"Uninstall the other installation first (helm uninstall, or kubectl delete -f the manifest)", len(e.Conflicts), strings.Join(lines, "\n"))
}

// FieldConflictError is an apply refused because other field managers own fields it would
// change; Config.ForceConflicts takes them over.
type FieldConflictError struct {
	Ref string
	Err error
}

func (e *FieldConflictError) Error() string {
	return fmt.Sprintf("%s: other field managers own fields install would change: %v", e.Ref, e.Err)
}
func (e *FieldConflictError) Unwrap() error { return e.Err }

// Lookup reads each rendered object from the cluster: one GET per object, a fixed number
// that does not grow with the cluster.
func Lookup(ctx context.Context, dyn dynamic.Interface, objs []Object) ([]Existing, error) {
	out := make([]Existing, len(objs))
	for i, o := range objs {
		out[i].Object = o
		got, err := resourceFor(dyn, o).Get(ctx, o.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", o.Ref(), err)
		}
		out[i].ResourceVersion = got.GetResourceVersion()
		out[i].Content = contentDigest(got)
		out[i].Owner = clusterScopedOwner(o, got, delegate.OwnerOf(metaOf(got), FieldManager))
	}
	return out, nil
}

// clusterScopedOwner tells the plugin's binding for this delegate from the plugin's binding
// for a delegate of the same name in another namespace: a ClusterRoleBinding's name is shared
// by every namespace, and applying over it would take the role from the other delegate.
func clusterScopedOwner(o Object, got *unstructured.Unstructured, owner delegate.Owner) delegate.Owner {
	if o.Namespace != "" || !owner.Plugin {
		return owner
	}
	rendered, err := ToUnstructured(o)
	if err != nil {
		return owner
	}
	for _, ns := range subjectNamespaces(rendered.Object) {
		if bindsNamespace(got.Object, ns) {
			return owner
		}
	}
	if theirs := subjectNamespaces(got.Object); len(theirs) > 0 {
		return delegate.Owner{Delegate: owner.Delegate, Description: fmt.Sprintf("kubectl-delegate (delegate %q in namespace %s)", owner.Delegate, strings.Join(theirs, ", "))}
	}
	return owner
}

func subjectNamespaces(binding map[string]any) []string {
	var out []string
	subjects, _ := binding["subjects"].([]any)
	for _, s := range subjects {
		m, _ := s.(map[string]any)
		if ns, _ := m["namespace"].(string); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}

// Conflicts are the existing objects not made by the plugin for this delegate.
func Conflicts(existing []Existing, delegateName string) []Conflict {
	var out []Conflict
	for _, e := range existing {
		if !e.Exists() || (e.Owner.Plugin && e.Owner.Delegate == delegateName) {
			continue
		}
		out = append(out, Conflict{Ref: e.Object.Ref(), Owner: e.Owner.Description})
	}
	return out
}

// ApplyOptions say how Apply writes.
type ApplyOptions struct {
	// DryRun asks the API server to validate and default without persisting.
	DryRun bool
	// Force takes fields over from other field managers.
	Force bool
}

// Result is what one apply did.
type Result struct {
	Ref    string
	Action string // created, configured or unchanged
	// Applied is the object as the server returned it.
	Applied *unstructured.Unstructured
}

// Apply server-side-applies the objects in order under FieldManager. before, from Lookup,
// tells created from configured from unchanged. A field another manager owns with a
// different value stops the apply with the managers named, unless opts.Force.
func Apply(ctx context.Context, dyn dynamic.Interface, objs []Object, before []Existing, opts ApplyOptions) ([]Result, error) {
	rv := map[string]string{}
	for _, e := range before {
		rv[e.Object.Ref()] = e.ResourceVersion
	}
	var results []Result
	for _, o := range objs {
		u, err := ToUnstructured(o)
		if err != nil {
			return results, err
		}
		applyOpts := metav1.ApplyOptions{FieldManager: FieldManager, Force: opts.Force}
		if opts.DryRun {
			applyOpts.DryRun = []string{metav1.DryRunAll}
		}
		got, err := resourceFor(dyn, o).Apply(ctx, o.Name, u, applyOpts)
		if err != nil {
			if apierrors.IsConflict(err) {
				return results, &FieldConflictError{Ref: o.Ref(), Err: err}
			}
			return results, fmt.Errorf("applying %s: %w", o.Ref(), err)
		}
		action := "configured"
		switch old := rv[o.Ref()]; {
		case old == "":
			action = "created"
		case old == got.GetResourceVersion():
			action = "unchanged"
		}
		results = append(results, Result{Ref: o.Ref(), Action: action, Applied: got})
	}
	return results, nil
}

// ToUnstructured turns a typed apply configuration into the object the API server gets.
func ToUnstructured(o Object) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(o.Config)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", o.Ref(), err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", o.Ref(), err)
	}
	return u, nil
}

func resourceFor(dyn dynamic.Interface, o Object) dynamic.ResourceInterface {
	if o.Namespace == "" {
		return dyn.Resource(o.Resource)
	}
	return dyn.Resource(o.Resource).Namespace(o.Namespace)
}

func metaOf(u *unstructured.Unstructured) metav1.ObjectMeta {
	var m metav1.ObjectMeta
	if raw, ok := u.Object["metadata"].(map[string]any); ok {
		_ = runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &m)
	}
	return m
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

// contentDigest is Existing.Content of an object as the server returned it.
func contentDigest(u *unstructured.Unstructured) string {
	c := u.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "status")
	unstructured.RemoveNestedField(c.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(c.Object, "metadata", "managedFields")
	// The Deployment controller numbers revisions in an annotation as it rolls them out.
	unstructured.RemoveNestedField(c.Object, "metadata", "annotations", "deployment.kubernetes.io/revision")
	data, err := json.Marshal(c.Object)
	if err != nil {
		return "" // an object read from JSON marshals again
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
