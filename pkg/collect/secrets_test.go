package collect

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// secretRequests counts collect's own Secret requests in the delegate's namespace: GETs by
// name, and LISTs without a label selector (gather's are labelled).
func secretRequests(cs *fake.Clientset) (gets, lists int) {
	for _, a := range cs.Actions() {
		if a.GetResource().Resource != "secrets" || a.GetNamespace() != ns {
			continue
		}
		switch a := a.(type) {
		case k8stesting.GetAction:
			gets++
		case k8stesting.ListAction:
			if a.GetListRestrictions().Labels.Empty() {
				lists++
			}
		}
	}
	return gets, lists
}

// One LIST of the namespace's Secrets finds the delegate's, the optional names included,
// where there were a GET per name (most answering 404) and a labelled LIST per delegate.
func TestSecretsAreReadWithOneListPerNamespace(t *testing.T) {
	cs := fake.NewClientset(cluster()...)
	_, files, idx := run(t, context.Background(), cs, fakeDescribers(nil), Options{})
	gets, lists := secretRequests(cs)
	// The one GET is gather's, of the Secret the pods reference (the fixture's is not
	// labelled); collect made four more, for the chart's and the manifest's names.
	if gets != 1 || lists != 1 {
		t.Errorf("%d Secret GETs and %d LISTs of the namespace, want 1 (gather's) and 1", gets, lists)
	}
	if objects := files["delegates/"+ns+"/prod/objects.yaml"]; !strings.Contains(objects, "DELEGATE_TOKEN") {
		t.Errorf("the token Secret is missing from objects.yaml:\n%s", objects)
	}
	if len(idx.Errors) != 0 {
		t.Errorf("errors: %+v", idx.Errors)
	}
}

// Where the LIST is refused (a Role granting its Secrets by name), the Secrets are read by
// name, their values still hidden, and the refusal is not a failure of the bundle.
func TestSecretsAreReadByNameWhereTheListIsRefused(t *testing.T) {
	cs := fake.NewClientset(cluster()...)
	cs.PrependReactor("list", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() == ns && a.(k8stesting.ListAction).GetListRestrictions().Labels.Empty() {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("by name only"))
		}
		return false, nil, nil
	})
	_, files, idx := run(t, context.Background(), cs, fakeDescribers(nil), Options{})
	if gets, _ := secretRequests(cs); gets == 0 {
		t.Error("no Secret read by name after the refused LIST")
	}
	if objects := files["delegates/"+ns+"/prod/objects.yaml"]; !strings.Contains(objects, "DELEGATE_TOKEN") {
		t.Errorf("the token Secret is missing from objects.yaml:\n%s", objects)
	}
	for name, body := range files {
		if strings.Contains(body, "s3cr3t-t0ken") {
			t.Errorf("%s holds the token's value", name)
		}
	}
	if len(idx.Errors) != 0 {
		t.Errorf("errors: %+v", idx.Errors)
	}
}

// When gather read the nodes (a replica was not placed), the nodes files come from what it
// read: the nodes and every pod are not listed a second time.
func TestNodesAreListedOnce(t *testing.T) {
	objs := cluster()
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && p.Name == "prod-5f6d7-bbbbb" {
			p.Status.Phase = corev1.PodPending // no node: gather reads the nodes' room
		}
	}
	objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}})
	cs := fake.NewClientset(objs...)
	_, files, _ := run(t, context.Background(), cs, fakeDescribers(nil), Options{})
	lists := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "nodes" {
			lists++
		}
	}
	if lists != 1 {
		t.Errorf("%d LISTs of the nodes, want 1", lists)
	}
	if !strings.Contains(files["cluster/nodes.txt"], "node-1") {
		t.Errorf("nodes.txt:\n%s", files["cluster/nodes.txt"])
	}
}
