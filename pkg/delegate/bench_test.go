package delegate

import (
	"fmt"
	"testing"
)

// 200 chart delegates in 20 namespaces with 10 pods each: 2,000 pods.
func BenchmarkBuild(b *testing.B) {
	var parts []*Objects
	for i := 0; i < 200; i++ {
		objs := chartObjects()
		ns := fmt.Sprintf("ns-%02d", i%20)
		name := fmt.Sprintf("delegate-%03d", i)
		dep := &objs.Deployments[0]
		dep.Name, dep.Namespace = name, ns
		selector := map[string]string{LabelName: name}
		dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels = selector, selector
		objs.Pods = nil
		for j := 0; j < 10; j++ {
			objs.Pods = append(objs.Pods, pod(ns, fmt.Sprintf("%s-5d8f7c9b4-%05d", name, j), selector, "ReplicaSet", name+"-5d8f7c9b4", true, 0, "", nil))
		}
		objs.CronJobs[0].Namespace = ns
		parts = append(parts, objs)
	}
	objs := merge(parts...)
	b.ResetTimer()
	for range b.N {
		if ds := Build(objs, fixtureTime); len(ds) != 200 || len(ds[0].Pods) != 10 {
			b.Fatalf("built %d delegates", len(ds))
		}
	}
}
