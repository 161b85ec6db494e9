package collect

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/kubectl/pkg/describe"

	"github.com/kubectl-delegate/kubectl-delegate/internal/pagedfake"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/bundle"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

const ns = "harness"

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// cluster is a chart-installed delegate "prod" with two pods, its ReplicaSet, token Secret
// and upgrader CronJob with one Job.
func cluster() []runtime.Object {
	yes := true
	labels := map[string]string{delegate.LabelName: "prod"}
	podLabels := map[string]string{delegate.LabelName: "prod", appsv1.DefaultDeploymentUniqueLabelKey: "5f6d7"}
	spec := corev1.PodSpec{ServiceAccountName: "prod", Containers: []corev1.Container{{Name: "delegate", Image: "harness/delegate:26.09.90000",
		EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "prod"}}}}}}}
	objs := []runtime.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "prod", Namespace: ns, UID: "dep", Labels: labels},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "prod-5f6d7", Namespace: ns, UID: "rs", Labels: podLabels,
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "prod", UID: "dep", Controller: &yes}}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "prod", Namespace: ns}, Data: map[string][]byte{"DELEGATE_TOKEN": []byte("s3cr3t-t0ken")}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prod", Namespace: ns}},
		&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "prod-upgrader-job", Namespace: ns, UID: "cj"}, Spec: batchv1.CronJobSpec{Schedule: "0 * * * *"}},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "prod-upgrader-job-1", Namespace: ns, UID: "job-1",
			OwnerReferences: []metav1.OwnerReference{{Kind: "CronJob", Name: "prod-upgrader-job", UID: "cj", Controller: &yes}}}},
	}
	for _, name := range []string{"prod-5f6d7-aaaaa", "prod-5f6d7-bbbbb"} {
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(name), Labels: podLabels,
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "prod-5f6d7", UID: "rs", Controller: &yes}}},
			Spec: spec, Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	}
	return objs
}

// fakeDescriber stands in for kubectl's describers, which need a REST config.
type fakeDescriber struct {
	kind string
	// fail, when set, decides a name's error.
	fail func(name string) error
}

func (f fakeDescriber) Describe(namespace, name string, _ describe.DescriberSettings) (string, error) {
	if f.fail != nil {
		if err := f.fail(name); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("Name: %s\nNamespace: %s\nKind: %s\n", name, namespace, f.kind), nil
}

func fakeDescribers(fail func(name string) error) describers {
	out := describers{}
	for _, gk := range []schema.GroupKind{kindPod, kindDeployment, kindStatefulSet, kindCronJob, kindJob} {
		out[gk] = fakeDescriber{kind: gk.Kind, fail: fail}
	}
	return out
}

// given is a newDescribersFunc that ignores the cache and returns d.
func given(d describers) newDescribersFunc {
	return func(*readCache) (describers, error) { return d, nil }
}

// run collects from cs and reads the archive back: its files by name under the root, and
// its index.
func run(t *testing.T, ctx context.Context, cs *fake.Clientset, d describers, opts Options) (Result, map[string]string, bundle.Index) {
	t.Helper()
	opts.Redact, opts.Now = true, func() time.Time { return now }
	opts.defaults()
	var out bytes.Buffer
	res, err := collect(ctx, clients{cs, cs}, given(d), &out, opts)
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	// Whatever happened, the bundle reads back.
	if _, err := bundle.Read(bytes.NewReader(out.Bytes()), bundle.Limits{}); err != nil {
		t.Fatalf("the bundle does not read back: %v", err)
	}
	files := untar(t, out.Bytes(), opts.Root+"/")
	var idx bundle.Index
	if err := json.Unmarshal([]byte(files["index.json"]), &idx); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	return res, files, idx
}

func untar(t *testing.T, data []byte, root string) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimPrefix(hdr.Name, root)] = string(body)
	}
}

func TestTasksArePlannedPerClusterNamespaceDelegateAndPod(t *testing.T) {
	c := &collector{snapshot: &diagnose.Snapshot{Delegates: []delegate.Delegate{
		{Name: "b", Namespace: "ns2", Workload: delegate.WorkloadRef{Kind: "Deployment", Name: "b"}},
		{Name: "a", Namespace: "ns1", Workload: delegate.WorkloadRef{Kind: "StatefulSet", Name: "a-sts"},
			Upgrader: &delegate.Upgrader{CronJob: "a-upgrader-job"}, Pods: []delegate.Pod{{Name: "a-0"}, {Name: "a-1"}}},
	}}}
	var got []string
	for _, tk := range c.tasks() {
		got = append(got, tk.name)
	}
	want := []string{"cluster version", "nodes",
		"events of namespace ns1", "describe StatefulSet ns1/a-sts", "objects of ns1/a", "upgrader of ns1/a", "pod ns1/a-0", "pod ns1/a-1",
		"events of namespace ns2", "describe Deployment ns2/b", "objects of ns2/b"}
	if !slices.Equal(got, want) {
		t.Errorf("tasks:\n got %q\nwant %q", got, want)
	}
	// Without a snapshot there are no delegates: the cluster's tasks only.
	if got := (&collector{}).tasks(); len(got) != 2 {
		t.Errorf("without a snapshot: %d tasks, want 2", len(got))
	}
}

func TestCollectWritesEveryPlannedFile(t *testing.T) {
	res, files, idx := run(t, context.Background(), fake.NewClientset(cluster()...), fakeDescribers(nil), Options{})
	dir := "delegates/" + ns + "/prod/"
	for _, name := range []string{"index.json", "snapshot.json", "doctor.json", "doctor.txt", "cluster/version.json", "cluster/nodes.json",
		"cluster/nodes.txt", "namespaces/" + ns + "/events.txt", dir + "deployment.txt", dir + "objects.yaml", dir + "events.txt",
		dir + "upgrader/objects.yaml", dir + "upgrader/cronjob.txt", dir + "upgrader/job-prod-upgrader-job-1.txt",
		dir + "pods/prod-5f6d7-aaaaa/pod.yaml", dir + "pods/prod-5f6d7-aaaaa/describe.txt", dir + "pods/prod-5f6d7-aaaaa/delegate.log",
		dir + "pods/prod-5f6d7-bbbbb/delegate.log"} {
		if _, ok := files[name]; !ok {
			t.Errorf("no %s in the bundle", name)
		}
	}
	if res.Interrupted != "" || res.Report == nil {
		t.Errorf("interrupted %q, report %v", res.Interrupted, res.Report)
	}
	for name, body := range files {
		if strings.Contains(body, "s3cr3t-t0ken") {
			t.Errorf("%s holds the token's value", name)
		}
	}
	if !strings.Contains(files[dir+"objects.yaml"], "DELEGATE_TOKEN") {
		t.Errorf("objects.yaml lacks the token Secret's key name:\n%s", files[dir+"objects.yaml"])
	}
	t.Logf("%d files, %d errors", len(idx.Files), len(idx.Errors))
}

func TestAFailedTaskLeavesANoteAndTheRestOfTheBundle(t *testing.T) {
	fail := func(name string) error {
		if name == "prod-5f6d7-aaaaa" {
			return apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, name, errors.New("no describe for you"))
		}
		return nil
	}
	res, files, idx := run(t, context.Background(), fake.NewClientset(cluster()...), fakeDescribers(fail), Options{})
	dir := "delegates/" + ns + "/prod/pods/"
	if _, ok := files[dir+"prod-5f6d7-aaaaa/describe.txt"]; ok {
		t.Errorf("the failed description was written")
	}
	// The failed task's other files and every other task's are there.
	for _, name := range []string{dir + "prod-5f6d7-aaaaa/pod.yaml", dir + "prod-5f6d7-aaaaa/delegate.log", dir + "prod-5f6d7-bbbbb/describe.txt"} {
		if _, ok := files[name]; !ok {
			t.Errorf("no %s in the bundle", name)
		}
	}
	var notes []string
	for _, e := range idx.Errors {
		notes = append(notes, e.Task+" ["+e.Kind+"]")
	}
	want := "pod " + ns + "/prod-5f6d7-aaaaa: " + dir + "prod-5f6d7-aaaaa/describe.txt [forbidden]"
	if !slices.Contains(notes, want) {
		t.Errorf("index.json errors %q lack %q", notes, want)
	}
	if !idx.Partial || !res.Partial || res.Interrupted != "" {
		t.Errorf("partial %v/%v, interrupted %q: want a partial, uninterrupted bundle", idx.Partial, res.Partial, res.Interrupted)
	}
}

func TestACancelledCollectionEndsWithAReadablePartialBundle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	// The first pod's description is where the user presses Ctrl-C.
	fail := func(name string) error {
		if strings.HasPrefix(name, "prod-5f6d7-") {
			once.Do(cancel)
		}
		return nil
	}
	res, files, idx := run(t, ctx, fake.NewClientset(cluster()...), fakeDescribers(fail), Options{Workers: 1})
	if res.Interrupted == "" || idx.Interrupted == "" || !idx.Partial {
		t.Errorf("interrupted %q / %q, partial %v: want an interrupted, partial bundle", res.Interrupted, idx.Interrupted, idx.Partial)
	}
	// What ran before the interrupt is kept; what never ran is noted.
	if _, ok := files["delegates/"+ns+"/prod/deployment.txt"]; !ok {
		t.Errorf("the files written before the interrupt are missing")
	}
	var notRun []string
	for _, e := range idx.Errors {
		if e.Kind == kindInterrupted {
			notRun = append(notRun, e.Task)
		}
	}
	if !slices.Contains(notRun, "pod "+ns+"/prod-5f6d7-bbbbb") {
		t.Errorf("index.json does not say the second pod was not collected: %q", notRun)
	}
}

// Past 500, lists go on to the next page: 1,200 Secrets labelled with the delegate's name
// and 1,200 Jobs in its namespace, its upgrader's newest last.
func TestCollectReadsEveryPage(t *testing.T) {
	const n = 1200
	objs := cluster()
	yes := true
	for i := range n {
		objs = append(objs, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("labelled-%04d", i), Namespace: ns,
			Labels: map[string]string{delegate.LabelName: "prod"}}, Data: map[string][]byte{"k": []byte("v")}})
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("other-%04d", i), Namespace: ns, UID: types.UID(fmt.Sprint("other-", i))}}
		if i >= n-2 {
			job.Name, job.UID = fmt.Sprintf("prod-upgrader-job-%04d", i), types.UID(fmt.Sprint("upgrader-", i))
			job.CreationTimestamp = metav1.NewTime(now.Add(time.Duration(i) * time.Second))
			job.OwnerReferences = []metav1.OwnerReference{{Kind: "CronJob", Name: "prod-upgrader-job", UID: "cj", Controller: &yes}}
		}
		objs = append(objs, job)
	}
	cs := fake.NewClientset(objs...)
	for _, resource := range []string{"secrets", "jobs", "events", "pods", "deployments", "replicasets", "cronjobs"} {
		pagedfake.Page(cs, resource)
	}
	_, files, _ := run(t, context.Background(), cs, fakeDescribers(nil), Options{})
	objects := files["delegates/"+ns+"/prod/objects.yaml"]
	if got := strings.Count(objects, "name: labelled-"); got != n {
		t.Errorf("objects.yaml lists %d of the %d labelled Secrets", got, n)
	}
	upgrader := files["delegates/"+ns+"/prod/upgrader/objects.yaml"]
	for _, name := range []string{"prod-upgrader-job-1198", "prod-upgrader-job-1199", "prod-upgrader-job-1"} {
		if !strings.Contains(upgrader, "name: "+name+"\n") {
			t.Errorf("upgrader/objects.yaml lacks Job %s", name)
		}
	}
}

// Names come from the cluster: a DELEGATE_NAME of "../../../../tmp/x" must not make a member
// that extracts outside the bundle's folder, nor a control byte reach a file name.
func TestHostileNamesStayInsideTheBundle(t *testing.T) {
	objs := cluster()
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok {
			d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "DELEGATE_NAME", Value: "../../../../tmp/x\x1b[2J"}}
		}
	}
	opts := Options{Root: "bundle"}
	opts.Redact, opts.Now = true, func() time.Time { return now }
	opts.defaults()
	var out bytes.Buffer
	if _, err := collect(context.Background(), clients{fake.NewClientset(objs...), fake.NewClientset(objs...)}, given(fakeDescribers(nil)), &out, opts); err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	delegateDirs := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range strings.Split(hdr.Name, "/") {
			if part == ".." || part == "." || part == "" || strings.ContainsAny(part, "\x1b\\") {
				t.Fatalf("member %q is not a clean path inside the bundle", hdr.Name)
			}
		}
		if strings.HasPrefix(hdr.Name, "bundle/delegates/"+ns+"/..%2F..%2F..%2F..%2Ftmp%2Fx%1B%5B2J/") {
			delegateDirs++
		}
	}
	if delegateDirs == 0 {
		t.Error("the delegate's files are missing, or not under its escaped name")
	}
}

// Each log is read from the API server once: the file and the snapshot's tail come from the
// same stream.
func TestEachLogIsReadOnce(t *testing.T) {
	cs := fake.NewClientset(cluster()...)
	for _, o := range cluster() {
		if p, ok := o.(*corev1.Pod); ok {
			p.Spec.NodeName = "node-1"
			if _, err := cs.CoreV1().Pods(p.Namespace).Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	cs.ClearActions()
	_, files, _ := run(t, context.Background(), cs, fakeDescribers(nil), Options{})
	reads := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "get" && a.GetResource().Resource == "pods" && a.GetSubresource() == "log" {
			reads++
		}
	}
	if reads != 2 {
		t.Errorf("%d log reads for 2 pods with one container each", reads)
	}
	var snap diagnose.Snapshot
	if err := json.Unmarshal([]byte(files["snapshot.json"]), &snap); err != nil {
		t.Fatal(err)
	}
	for _, pod := range []string{"prod-5f6d7-aaaaa", "prod-5f6d7-bbbbb"} {
		if got := snap.Logs[ns+"/"+pod].Current; got != "fake logs" {
			t.Errorf("%s: snapshot tail %q, want the log the file holds", pod, got)
		}
		if file := files["delegates/"+ns+"/prod/pods/"+pod+"/delegate.log"]; file != "fake logs" {
			t.Errorf("%s: file %q", pod, file)
		}
	}
}
