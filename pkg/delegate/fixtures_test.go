package delegate

import (
	"errors"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Fixtures shaped like what each install method really creates (see ../shared/DOMAIN.md):
// the chart, the plain manifest, this plugin, and a legacy StatefulSet.

var fixtureTime = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func int32p(i int32) *int32 { return &i }
func boolp(b bool) *bool    { return &b }

// chartObjects: the harness-delegate-ng chart, release "prod-delegate", with its ConfigMap,
// token Secret via envFrom, cluster-admin binding and upgrader CronJob.
func chartObjects() *Objects {
	name, ns := "prod-delegate", "harness-delegate-ng"
	selector := map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name, LabelName: name}
	labels := map[string]string{LabelManagedBy: "Helm", LabelHelmChart: "harness-delegate-ng-1.0.15"}
	for k, v := range selector {
		labels[k] = v
	}
	dep := appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels,
			Annotations:       map[string]string{AnnotationHelmRelease: name, "meta.helm.sh/release-namespace": ns},
			CreationTimestamp: metav1.NewTime(fixtureTime.Add(-48 * time.Hour))},
		Spec: appsv1.DeploymentSpec{
			Replicas: int32p(2),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: selector},
				Spec: corev1.PodSpec{
					ServiceAccountName: name,
					Containers: []corev1.Container{{
						Name:  "delegate",
						Image: "us-docker.pkg.dev/gar-prod-setup/harness-public/harness/delegate:26.09.90000",
						EnvFrom: []corev1.EnvFromSource{
							{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}},
							{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}},
						},
					}},
				},
			},
		},
		Status: appsv1.DeploymentStatus{ReadyReplicas: 1, AvailableReplicas: 1, UpdatedReplicas: 2},
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string]string{
		"ACCOUNT_ID": "acc123", "MANAGER_HOST_AND_PORT": "https://app.harness.io", "DELEGATE_NAME": name,
		"DELEGATE_TAGS": "prod, k8s", "POLL_FOR_TASKS": "false", "DEPLOY_MODE": "KUBERNETES",
	}}
	return &Objects{
		Deployments: []appsv1.Deployment{dep},
		Pods: []corev1.Pod{
			pod(ns, name+"-5d8f7c9b4-abcde", selector, "ReplicaSet", name+"-5d8f7c9b4", true, 0, "", nil),
			pod(ns, name+"-5d8f7c9b4-fghij", selector, "ReplicaSet", name+"-5d8f7c9b4", false, 7, "CrashLoopBackOff",
				&corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}),
		},
		CronJobs: []batchv1.CronJob{{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-upgrader-job", Namespace: ns},
			Spec:       batchv1.CronJobSpec{Schedule: "0 */1 * * *", Suspend: boolp(false)},
			Status: batchv1.CronJobStatus{
				LastScheduleTime:   &metav1.Time{Time: fixtureTime.Add(-time.Hour)},
				LastSuccessfulTime: &metav1.Time{Time: fixtureTime.Add(-2 * time.Hour)},
			},
		}},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-cluster-admin"},
			RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}},
		}},
		ConfigMaps: map[string]*corev1.ConfigMap{ns + "/" + name: cm},
		Secrets:    map[string]map[string]bool{ns + "/" + name: {"DELEGATE_TOKEN": true}},
		Unreadable: map[string]error{},
	}
}

// manifestObjects: harness-delegate.yaml as copied in the wild: Deployment labelled with
// the delegate's name but selecting its pods with harness.io/name=delegate, configuration
// inline, the token from Secret <name>-account-token, ServiceAccount default bound by
// harness-delegate-cluster-admin.
func manifestObjects() *Objects {
	name, ns := "manifest-delegate", "harness-delegate-ng"
	podLabels := map[string]string{LabelName: "delegate"}
	dep := appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{LabelName: name},
			CreationTimestamp: metav1.NewTime(fixtureTime.Add(-24 * time.Hour))},
		Spec: appsv1.DeploymentSpec{
			Replicas: int32p(1),
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "delegate",
					Image: "harness/delegate:26.05.89000.minimal",
					Env: []corev1.EnvVar{
						{Name: "ACCOUNT_ID", Value: "acc123"},
						{Name: "MANAGER_HOST_AND_PORT", Value: "https://app.harness.io/gratis"},
						{Name: "DELEGATE_NAME", Value: name},
						{Name: "DELEGATE_TYPE", Value: "KUBERNETES"},
						{Name: "POLL_FOR_TASKS", Value: "true"},
						{Name: "PROXY_HOST", Value: "proxy.corp"},
						{Name: "PROXY_PORT", Value: "3128"},
						{Name: "PROXY_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
							LocalObjectReference: corev1.LocalObjectReference{Name: name + "-proxy"}, Key: "PROXY_PASSWORD"}}},
						{Name: "DELEGATE_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
							LocalObjectReference: corev1.LocalObjectReference{Name: name + "-account-token"}, Key: "DELEGATE_TOKEN"}}},
					},
				}}},
			},
		},
		Status: appsv1.DeploymentStatus{ReadyReplicas: 1, AvailableReplicas: 1, UpdatedReplicas: 1},
	}
	return &Objects{
		Deployments: []appsv1.Deployment{dep},
		Pods: []corev1.Pod{
			pod(ns, name+"-7c6d5f4b3-x1y2z", podLabels, "ReplicaSet", name+"-7c6d5f4b3", true, 1, "", nil),
			// Another copy of the manifest in the same namespace selects the same labels:
			// its pod must not be counted here.
			pod(ns, "other-delegate-6b5c4d3e2-q9w8e", podLabels, "ReplicaSet", "other-delegate-6b5c4d3e2", true, 0, "", nil),
		},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{{
			ObjectMeta: metav1.ObjectMeta{Name: "harness-delegate-cluster-admin"},
			RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: ns}},
		}},
		ConfigMaps: map[string]*corev1.ConfigMap{},
		// The token Secret exists but its key is empty.
		Secrets:    map[string]map[string]bool{ns + "/" + name + "-account-token": {"DELEGATE_TOKEN": false}},
		Unreadable: map[string]error{"secret " + ns + "/" + name + "-proxy": errForbidden},
	}
}

var errForbidden = errors.New("secrets is forbidden")

func pod(ns, name string, labels map[string]string, ownerKind, owner string, ready bool, restarts int32, waiting string, last *corev1.ContainerStateTerminated) corev1.Pod {
	readyStatus := corev1.ConditionFalse
	if ready {
		readyStatus = corev1.ConditionTrue
	}
	cs := corev1.ContainerStatus{Name: "delegate", RestartCount: restarts, Ready: ready}
	if waiting != "" {
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting}
	}
	if last != nil {
		cs.LastTerminationState.Terminated = last
	}
	if ownerKind == "ReplicaSet" {
		// The Deployment controller names a ReplicaSet <deployment>-<hash> and labels its
		// pods with the hash.
		labels = maps.Clone(labels)
		labels[appsv1.DefaultDeploymentUniqueLabelKey] = owner[strings.LastIndex(owner, "-")+1:]
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels,
			OwnerReferences:   []metav1.OwnerReference{{Kind: ownerKind, Name: owner, Controller: boolp(true)}},
			CreationTimestamp: metav1.NewTime(fixtureTime.Add(-time.Hour))},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "delegate", Image: "harness/delegate:26.09.90000"}}},
		Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: readyStatus, LastTransitionTime: metav1.NewTime(fixtureTime.Add(-50 * time.Minute))}},
			ContainerStatuses: []corev1.ContainerStatus{cs},
		},
	}
}

// legacyObjects: a pre-2023 StatefulSet in namespace harness-delegate with the token inline.
func legacyObjects() *Objects {
	name, ns := "legacy-delegate", "harness-delegate"
	labels := map[string]string{LabelLegacyApp: LegacyAppValue, LabelName: name}
	sts := appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-kmpysm", Namespace: ns, Labels: labels},
		Spec: appsv1.StatefulSetSpec{
			Replicas: int32p(1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "harness-delegate-instance",
					Image: "harness/delegate:latest",
					Env: []corev1.EnvVar{
						{Name: "ACCOUNT_ID", Value: "acc123"},
						{Name: "ACCOUNT_SECRET", Value: "0123456789abcdef"},
						{Name: "MANAGER_HOST_AND_PORT", Value: "https://app.harness.io"},
						{Name: "DELEGATE_NAME", Value: name},
					},
				}}},
			},
		},
		Status: appsv1.StatefulSetStatus{ReadyReplicas: 1, AvailableReplicas: 1},
	}
	return &Objects{StatefulSets: []appsv1.StatefulSet{sts}, ConfigMaps: map[string]*corev1.ConfigMap{},
		Secrets: map[string]map[string]bool{}, Unreadable: map[string]error{}}
}

// merge puts several fixtures into one cluster.
func merge(parts ...*Objects) *Objects {
	out := &Objects{ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]map[string]bool{}, Unreadable: map[string]error{}}
	for _, p := range parts {
		out.Deployments = append(out.Deployments, p.Deployments...)
		out.StatefulSets = append(out.StatefulSets, p.StatefulSets...)
		out.Pods = append(out.Pods, p.Pods...)
		out.CronJobs = append(out.CronJobs, p.CronJobs...)
		out.RoleBindings = append(out.RoleBindings, p.RoleBindings...)
		out.ClusterRoleBindings = append(out.ClusterRoleBindings, p.ClusterRoleBindings...)
		for k, v := range p.ConfigMaps {
			out.ConfigMaps[k] = v
		}
		for k, v := range p.Secrets {
			out.Secrets[k] = v
		}
		for k, v := range p.Unreadable {
			out.Unreadable[k] = v
		}
	}
	return out
}

// prodAndCanary: Deployments prod and prod-canary in namespace apps, the canary's pods
// matching prod's selector too, each with a ReplicaSet, a pod and an upgrader CronJob and
// Job; UIDs are spelled out so tests can name them.
func prodAndCanary() *Objects {
	ns := "apps"
	objs := &Objects{ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]map[string]bool{}, Unreadable: map[string]error{}}
	add := func(name, short, hash string, selector map[string]string) {
		dep := appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("dep-" + short), Labels: map[string]string{LabelName: name}},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: selector},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: selector},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "delegate", Image: "harness/delegate:26.09.90000"}}}},
			},
		}
		rs := appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name + "-" + hash, Namespace: ns, UID: types.UID("rs-" + short),
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: name, UID: dep.UID, Controller: boolp(true)}}}}
		podLabels := map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash}
		for k, v := range selector {
			podLabels[k] = v
		}
		p := pod(ns, rs.Name+"-"+map[string]string{"prod": "abcde", "prod-canary": "fghij"}[name], podLabels, "ReplicaSet", rs.Name, true, 0, "", nil)
		p.UID = types.UID("pod-" + short)
		p.OwnerReferences[0].UID = rs.UID
		cj := batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: name + "-upgrader-job", Namespace: ns, UID: types.UID("cj-" + short)}}
		job := batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: cj.Name + "-29000000", Namespace: ns, UID: types.UID("job-" + short),
			OwnerReferences: []metav1.OwnerReference{{Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: boolp(true)}}}}
		objs.Deployments = append(objs.Deployments, dep)
		objs.ReplicaSets = append(objs.ReplicaSets, rs)
		objs.Pods = append(objs.Pods, p)
		objs.CronJobs = append(objs.CronJobs, cj)
		objs.Jobs = append(objs.Jobs, job)
	}
	add("prod", "prod", "5f6d7", map[string]string{"app": "prod"})
	add("prod-canary", "prod-canary", "7c9d8", map[string]string{"app": "prod", "track": "canary"})
	return objs
}
