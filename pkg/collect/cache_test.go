package collect

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/kubectl/pkg/describe"
	"k8s.io/utils/ptr"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// refusingTransport is the API server behind the cache: it records what reaches it and
// answers nothing.
type refusingTransport struct {
	mu   sync.Mutex
	seen []string
}

func (r *refusingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, req.Method+" "+req.URL.RequestURI())
	return nil, errors.New("the API server was asked")
}

func cachedFixture() (*delegate.Objects, map[string][]corev1.Event) {
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "prod-0", Namespace: ns, UID: "pod-uid", Labels: map[string]string{"a": "b"}},
		Spec:   corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "delegate", Image: "harness/delegate:26.09.90000"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	dep := appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "prod", Namespace: ns, UID: "dep-uid"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}}}
	at := metav1.NewTime(now)
	event := func(name, kind, obj string, uid string, msg string) corev1.Event {
		return corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: obj, UID: k8stypes.UID(uid)},
			Reason:         "Test", Message: msg, Type: "Normal", FirstTimestamp: at, LastTimestamp: at, Count: 1}
	}
	events := []corev1.Event{
		event("e1", "Pod", "prod-0", "pod-uid", "this pod's event"),
		event("e2", "Pod", "prod-1", "other-uid", "another pod's event"),
		event("e3", "Deployment", "prod", "dep-uid", "the deployment's event"),
		event("e4", "Pod", "prod-0", "old-uid", "an event of an earlier pod of the same name"),
	}
	return &delegate.Objects{Pods: []corev1.Pod{pod}, Deployments: []appsv1.Deployment{dep}}, map[string][]corev1.Event{ns: events}
}

// kubectl's own describers, on a client whose transport is the cache in front of a server
// that answers nothing: what they print comes from the cache, with the events the API
// server's field selector would have chosen.
func TestReadCacheAnswersTheDescribersGETAndEventLIST(t *testing.T) {
	objs, events := cachedFixture()
	server := &refusingTransport{}
	cache := newReadCache(objs, events)
	cfg := &rest.Config{Host: "https://127.0.0.1:1", Timeout: time.Minute}
	cfg.Wrap(func(http.RoundTripper) http.RoundTripper { return server })
	cfg.Wrap(cache.wrap)

	pods, ok := describe.DescriberFor(kindPod, cfg)
	if !ok {
		t.Fatal("no pod describer")
	}
	text, err := pods.Describe(ns, "prod-0", describe.DescriberSettings{ShowEvents: true, ChunkSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"prod-0", "node-1/", "this pod's event"} {
		if !strings.Contains(text, want) {
			t.Errorf("the description lacks %q:\n%s", want, text)
		}
	}
	for _, not := range []string{"another pod's event", "the deployment's event", "an earlier pod"} {
		if strings.Contains(text, not) {
			t.Errorf("the description holds %q, which the server's field selector leaves out:\n%s", not, text)
		}
	}
	if len(server.seen) != 0 {
		t.Errorf("describe pod reached the API server: %q", server.seen)
	}

	deployments, _ := describe.DescriberFor(kindDeployment, cfg)
	text, err = deployments.Describe(ns, "prod", describe.DescriberSettings{ShowEvents: true, ChunkSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "the deployment's event") || strings.Contains(text, "this pod's event") {
		t.Errorf("the deployment's events:\n%s", text)
	}
	// Its ReplicaSets are not in the cache: that LIST, and only it, goes to the server.
	if len(server.seen) != 1 || !strings.Contains(server.seen[0], "/replicasets") {
		t.Errorf("describe deployment asked the server for %q, want its ReplicaSets only", server.seen)
	}
}

// What the cache cannot answer exactly goes to the API server.
func TestReadCachePassesOnWhatItCannotAnswer(t *testing.T) {
	objs, events := cachedFixture()
	server := &refusingTransport{}
	cache := newReadCache(objs, events)
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	cfg.Wrap(func(http.RoundTripper) http.RoundTripper { return server })
	cfg.Wrap(cache.wrap)
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if p, err := client.CoreV1().Pods(ns).Get(ctx, "prod-0", metav1.GetOptions{}); err != nil || p.UID != "pod-uid" || p.Spec.NodeName != "node-1" {
		t.Errorf("a cached pod: %v, %v", p, err)
	}
	if l, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=prod-0"}); err != nil || len(l.Items) != 2 {
		t.Errorf("events of prod-0 by name: %v, %v", l, err)
	}
	asks := []func() error{
		func() error { _, err := client.CoreV1().Pods(ns).Get(ctx, "prod-9", metav1.GetOptions{}); return err },
		func() error {
			_, err := client.CoreV1().Pods(ns).Get(ctx, "prod-0", metav1.GetOptions{ResourceVersion: "0"})
			return err
		},
		func() error {
			_, err := client.CoreV1().Pods("elsewhere").Get(ctx, "prod-0", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "source=kubelet"})
			return err
		},
		func() error {
			_, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{LabelSelector: "a=b"})
			return err
		},
		func() error { _, err := client.CoreV1().Events("unread").List(ctx, metav1.ListOptions{}); return err },
		func() error { _, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); return err },
		func() error { return client.CoreV1().Pods(ns).Delete(ctx, "prod-0", metav1.DeleteOptions{}) },
	}
	for i, ask := range asks {
		before := len(server.seen)
		if err := ask(); err == nil || len(server.seen) != before+1 {
			t.Errorf("request %d: answered by the cache (err %v, server saw %q)", i, err, server.seen[before:])
		}
	}
}
