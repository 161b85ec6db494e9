package collect

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// readCache answers the requests kubectl's describers make with what collect has already
// read: the GET of the object described (gather listed it) and the LIST of its events (the
// namespace's events, listed once for events.txt). kubectl describe makes both requests for
// every object, 160 of collect's 300 requests for 10 delegates of 5 pods; the describers
// have no seam for the objects they print, only their client, so the cache sits in that
// client's transport, answering as the API server would. What it cannot answer exactly (an
// object it does not hold, a field selector it does not know, a namespace whose events could
// not be listed) goes to the API server.
type readCache struct {
	next http.RoundTripper
	// objects are by API path: /api/v1/namespaces/NS/pods/NAME and the like.
	objects map[string]cachedObject
	// events are each namespace's, in the API server's order; a namespace is absent when its
	// LIST failed.
	events map[string][]corev1.Event
}

// cachedObject is an object as a GET returns it: its own kind and API version, for the
// decoder.
type cachedObject struct {
	apiVersion, kind string
	obj              any
}

// newReadCache indexes gather's objects of the kinds collect describes.
func newReadCache(objs *delegate.Objects, events map[string][]corev1.Event) *readCache {
	c := &readCache{objects: map[string]cachedObject{}, events: events}
	if objs == nil {
		return c
	}
	add := func(prefix, resource, kind string, m metav1.Object, obj any) {
		path := prefix + "/namespaces/" + m.GetNamespace() + "/" + resource + "/" + m.GetName()
		c.objects[path] = cachedObject{apiVersion: strings.TrimPrefix(strings.TrimPrefix(prefix, "/apis/"), "/api/"), kind: kind, obj: obj}
	}
	for i := range objs.Pods {
		add("/api/v1", "pods", "Pod", &objs.Pods[i], &objs.Pods[i])
	}
	for i := range objs.Deployments {
		add("/apis/apps/v1", "deployments", "Deployment", &objs.Deployments[i], &objs.Deployments[i])
	}
	for i := range objs.StatefulSets {
		add("/apis/apps/v1", "statefulsets", "StatefulSet", &objs.StatefulSets[i], &objs.StatefulSets[i])
	}
	for i := range objs.CronJobs {
		add("/apis/batch/v1", "cronjobs", "CronJob", &objs.CronJobs[i], &objs.CronJobs[i])
	}
	for i := range objs.Jobs {
		add("/apis/batch/v1", "jobs", "Job", &objs.Jobs[i], &objs.Jobs[i])
	}
	return c
}

// wrap puts the cache in front of a client's transport (rest.Config.Wrap).
func (c *readCache) wrap(next http.RoundTripper) http.RoundTripper {
	return &readCache{next: next, objects: c.objects, events: c.events}
}

// CachedStatus is the status line of an answer from the cache. client-go's request log
// (-v=6) sits outside any transport a rest.Config can wrap, so it logs these answers as
// requests; their status says they never reached the API server (the benchmark's request
// count leaves them out).
const CachedStatus = "200 OK (answered by collect from what it already read)"

// RoundTrip answers a GET of a cached object or a LIST of cached events, and passes every
// other request on.
func (c *readCache) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet {
		if body, ok := c.answer(req); ok {
			return &http.Response{
				StatusCode: http.StatusOK, Status: CachedStatus, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header:        http.Header{"Content-Type": []string{"application/json"}},
				Body:          io.NopCloser(bytes.NewReader(body)),
				ContentLength: int64(len(body)),
				Request:       req,
			}, nil
		}
	}
	return c.next.RoundTrip(req)
}

// answer is the body the API server would send, and whether the cache can give it.
func (c *readCache) answer(req *http.Request) ([]byte, bool) {
	path, query := req.URL.Path, req.URL.Query()
	// timeout is the client's own bound (rest.Config.Timeout); any other option
	// (resourceVersion, a watch, ...) asks for more than the cache knows.
	delete(query, "timeout")
	if o, ok := c.objects[path]; ok {
		if len(query) > 0 {
			return nil, false
		}
		return marshalAs(o.apiVersion, o.kind, o.obj)
	}
	ns, ok := eventsPath(path)
	if !ok {
		return nil, false
	}
	events, ok := c.events[ns]
	if !ok {
		return nil, false
	}
	match, ok := eventSelector(query)
	if !ok {
		return nil, false
	}
	list := corev1.EventList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "EventList"}}
	for i := range events {
		if match(&events[i]) {
			list.Items = append(list.Items, events[i])
		}
	}
	// All of them in one page, without a continue token: kubectl follows pages and
	// concatenates them, so the result is the same as the server's pages of Limit each.
	data, err := json.Marshal(&list)
	return data, err == nil
}

func marshalAs(apiVersion, kind string, obj any) ([]byte, bool) {
	// The object's own TypeMeta is empty (a LIST's items carry none); the decoder needs it.
	data, err := json.Marshal(obj)
	if err != nil || len(data) < 2 || data[0] != '{' {
		return nil, false
	}
	head := `{"apiVersion":` + strconv.Quote(apiVersion) + `,"kind":` + strconv.Quote(kind)
	if len(data) > 2 {
		head += ","
	}
	return append([]byte(head), data[1:]...), true
}

// eventsPath is the namespace of a namespaced LIST of core events.
func eventsPath(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/api/v1/namespaces/")
	if !ok {
		return "", false
	}
	ns, resource, ok := strings.Cut(rest, "/")
	return ns, ok && resource == "events" && ns != ""
}

// eventFields are the fields of an event a field selector may name, as the API server
// defines them (pkg/registry/core/event: ToSelectableFields), for the selectors kubectl
// describe sends; a selector on any other field goes to the server.
func eventFields(e *corev1.Event) fields.Set {
	return fields.Set{
		"metadata.name":            e.Name,
		"metadata.namespace":       e.Namespace,
		"involvedObject.kind":      e.InvolvedObject.Kind,
		"involvedObject.namespace": e.InvolvedObject.Namespace,
		"involvedObject.name":      e.InvolvedObject.Name,
		"involvedObject.uid":       string(e.InvolvedObject.UID),
		"type":                     e.Type,
		"reason":                   e.Reason,
	}
}

// eventSelector is the filter of an events LIST's query, when the cache can apply it the
// way the server does: a field selector on known fields, and no label selector, watch or
// resource version.
func eventSelector(query map[string][]string) (func(*corev1.Event) bool, bool) {
	for key := range query {
		switch key {
		case "fieldSelector", "limit", "continue":
		default:
			return nil, false
		}
	}
	if query["continue"] != nil && query["continue"][0] != "" {
		return nil, false
	}
	var sel fields.Selector = fields.Everything()
	if fs := query["fieldSelector"]; len(fs) > 0 {
		var err error
		if sel, err = fields.ParseSelector(fs[0]); err != nil {
			return nil, false
		}
	}
	known := eventFields(&corev1.Event{})
	for _, r := range sel.Requirements() {
		if _, ok := known[r.Field]; !ok {
			return nil, false
		}
	}
	return func(e *corev1.Event) bool { return sel.Matches(eventFields(e)) }, true
}

var _ http.RoundTripper = (*readCache)(nil)
