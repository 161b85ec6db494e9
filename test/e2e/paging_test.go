//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// No list stops at its first page: with 1,200 Secrets labelled with the delegate's name and
// 1,200 other Jobs in its namespace, the real API server answers in pages of 500, and
// collect's bundle and the gather still see every one (the upgrader's Jobs sort after the
// others, on the third page).
func TestCollectAndGatherReadEveryPage(t *testing.T) {
	t.Parallel()
	const n = 1200
	ctx := context.Background()
	ns := applyFixtures(t, "paging", "helm-chart")
	cfg := rest.CopyConfig(env.config)
	cfg.QPS, cfg.Burst = 200, 400
	fast, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cronJob, err := fast.BatchV1().CronJobs(ns).Get(ctx, "helm-delegate-upgrader-job", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Suspended Jobs: the job controller makes no pods for them.
	job := func(name string) *batchv1.Job {
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: batchv1.JobSpec{Suspend: new(true), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
	}
	var g errgroup.Group
	g.SetLimit(20)
	for i := range n {
		g.Go(func() error {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bulk-%04d", i), Labels: map[string]string{delegate.LabelName: "helm-delegate"}},
				StringData: map[string]string{"k": "v"}}
			if _, err := fast.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
				return err
			}
			_, err := fast.BatchV1().Jobs(ns).Create(ctx, job(fmt.Sprintf("bulk-%04d", i)), metav1.CreateOptions{})
			return err
		})
	}
	for _, name := range []string{"helm-delegate-upgrader-job-1", "helm-delegate-upgrader-job-2"} {
		g.Go(func() error {
			j := job(name)
			j.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cronJob.Name, UID: cronJob.UID, Controller: new(true)}}
			_, err := fast.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("creating the objects: %v", err)
	}

	objs, err := delegate.Gather(ctx, env.client, delegate.GatherOptions{Namespace: ns, PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Jobs) != n+2 {
		t.Errorf("gather saw %d Jobs, want %d", len(objs.Jobs), n+2)
	}

	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	if res := plugin(t, "collect", "-n", ns, "-O", path); res.code != 0 && res.code != 5 {
		t.Fatalf("collect: exit %d: %s", res.code, res.stderr)
	}
	_, files := untar(t, path)
	objects := string(files["delegates/"+ns+"/helm-delegate/objects.yaml"])
	if got := strings.Count(objects, "name: bulk-"); got != n {
		t.Errorf("objects.yaml lists %d of the %d labelled Secrets", got, n)
	}
	upgrader := string(files["delegates/"+ns+"/helm-delegate/upgrader/objects.yaml"])
	for _, name := range []string{"helm-delegate-upgrader-job-1", "helm-delegate-upgrader-job-2"} {
		if !strings.Contains(upgrader, "name: "+name+"\n") {
			t.Errorf("upgrader/objects.yaml lacks the upgrader's Job %s", name)
		}
	}
	if strings.Contains(upgrader, "name: bulk-") {
		t.Errorf("upgrader/objects.yaml holds Jobs that are not the upgrader's")
	}
}
