package delegate

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-delegate/kubectl-delegate/internal/pagedfake"
)

// Past one page, every list goes on to the next: 1,200 pods and ReplicaSets at 500 a page
// take three requests each and all arrive.
func TestGatherReadsEveryPage(t *testing.T) {
	const n = 1200
	var objects []runtime.Object
	for i := range n {
		l := map[string]string{LabelName: "bulk"}
		objects = append(objects,
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%04d", i), Namespace: "ns", Labels: l}},
			&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rs-%04d", i), Namespace: "ns", Labels: l}})
	}
	cs := fake.NewClientset(objects...)
	pods, replicaSets := pagedfake.Page(cs, "pods"), pagedfake.Page(cs, "replicasets")
	objs, err := Gather(context.Background(), cs, GatherOptions{Namespace: "ns", PageSize: 500, UpgraderRuns: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Pods) != n || len(objs.ReplicaSets) != n {
		t.Errorf("gathered %d pods and %d ReplicaSets, want %d of each", len(objs.Pods), len(objs.ReplicaSets), n)
	}
	// One more LIST of pods with UpgraderRuns: the Jobs' pods, none here.
	if pods.N() != 3+1 || replicaSets.N() != 3 {
		t.Errorf("LISTs of pods: %d, of ReplicaSets: %d; want 3 pages each, and one of Job pods", pods.N(), replicaSets.N())
	}
}

// configMapPages serves n ConfigMaps Limit at a time; the token expireAt expires once.
func configMapPages(n int, expireAt string) (func(context.Context, metav1.ListOptions) (runtime.Object, error), *[]metav1.ListOptions) {
	var calls []metav1.ListOptions
	return func(_ context.Context, o metav1.ListOptions) (runtime.Object, error) {
		calls = append(calls, o)
		if o.Continue != "" && o.Continue == expireAt {
			expireAt = ""
			return nil, apierrors.NewResourceExpired("continue token expired")
		}
		start := 0
		if o.Continue != "" {
			fmt.Sscanf(o.Continue, "%d", &start)
		}
		end := n
		if o.Limit > 0 && start+int(o.Limit) < end {
			end = start + int(o.Limit)
		}
		l := &corev1.ConfigMapList{}
		for i := start; i < end; i++ {
			l.Items = append(l.Items, corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint(i)}})
		}
		if end < n {
			l.Continue = fmt.Sprint(end)
		}
		return l, nil
	}, &calls
}

func TestListAllStartsOverWhenTheTokenExpires(t *testing.T) {
	list, calls := configMapPages(5, "2")
	got, err := ListAll[corev1.ConfigMap](context.Background(), metav1.ListOptions{Limit: 2}, list)
	if err != nil || len(got) != 5 || got[4].Name != "4" {
		t.Fatalf("got %v, %v", got, err)
	}
	last := (*calls)[len(*calls)-1]
	if last.Limit != 0 || last.Continue != "" {
		t.Errorf("after an expired token the list must start over unpaged, got %+v", last)
	}
}

func TestListAllReturnsErrors(t *testing.T) {
	_, err := ListAll[corev1.Pod](context.Background(), metav1.ListOptions{}, func(context.Context, metav1.ListOptions) (runtime.Object, error) {
		return nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", fmt.Errorf("no"))
	})
	if !apierrors.IsForbidden(err) {
		t.Errorf("got %v", err)
	}
}

// The chart's ConfigMaps and Secrets carry harness.io/name: ten delegates' configuration is
// read with two labelled LISTs, not a GET each; an unlabelled one (a manifest install) is
// still read by name.
func TestGatherReadsLabelledConfigWithTwoLists(t *testing.T) {
	var objects []runtime.Object
	for i := range 10 {
		name := fmt.Sprintf("d%d", i)
		l := map[string]string{LabelName: name}
		if i == 9 {
			l = nil // made by hand
		}
		objects = append(objects,
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{LabelName: name}},
				Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelName: name}},
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "delegate", Image: "harness/delegate:26.09.90000",
						EnvFrom: []corev1.EnvFromSource{
							{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}},
							{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}},
						}}}}}}},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: l}, Data: map[string]string{"ACCOUNT_ID": "acc"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: l}, Data: map[string][]byte{"DELEGATE_TOKEN": []byte("t")}})
	}
	cs := fake.NewClientset(objects...)
	objs, err := Gather(context.Background(), cs, GatherOptions{Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.ConfigMaps) != 10 || len(objs.Secrets) != 10 {
		t.Errorf("%d ConfigMaps and %d Secrets read, want 10 of each", len(objs.ConfigMaps), len(objs.Secrets))
	}
	gets := map[string]int{}
	for _, a := range cs.Actions() {
		if r := a.GetResource().Resource; (r == "configmaps" || r == "secrets") && a.GetVerb() == "get" {
			gets[r]++
		}
	}
	if gets["configmaps"] != 1 || gets["secrets"] != 1 {
		t.Errorf("GETs %v: want one of each, for the unlabelled delegate only", gets)
	}
	if !objs.Secrets["ns/d0"]["DELEGATE_TOKEN"] || objs.ConfigMaps["ns/d3"].Data["ACCOUNT_ID"] != "acc" {
		t.Errorf("labelled configuration not read: %v %v", objs.Secrets["ns/d0"], objs.ConfigMaps["ns/d3"])
	}
}
