package install

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	batchv1ac "k8s.io/client-go/applyconfigurations/batch/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// FieldManager is the one field manager every apply of the plugin uses, so that a second
// identical install changes nothing and other writers show up as conflicts.
const FieldManager = "kubectl-delegate"

// AnnotationSettings on the Deployment records the install's settings without secrets, the
// way a Helm release records its values, so that an upgrade changes only what it is told to.
const AnnotationSettings = "kubectl-delegate.dev/settings"

// Pod template annotations that roll the pods when what they read at start changes.
const (
	AnnotationConfigChecksum = "checksum/configmap"
	AnnotationSecretChecksum = "checksum/secret"
)

// Object is one rendered object: a typed apply configuration and where it goes.
type Object struct {
	Resource  schema.GroupVersionResource
	Kind      string
	Namespace string // "" for cluster-scoped objects
	Name      string
	// Config is the typed apply configuration (k8s.io/client-go/applyconfigurations).
	Config any
}

// Ref names the object as kubectl does: Kind/name, with the namespace when it has one.
func (o Object) Ref() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Namespace + "/" + o.Kind + "/" + o.Name
}

// IsSecret says whether printing the object would print secret values.
func (o Object) IsSecret() bool { return o.Kind == "Secret" }

var (
	gvrServiceAccount     = corev1Resource("serviceaccounts")
	gvrSecret             = corev1Resource("secrets")
	gvrConfigMap          = corev1Resource("configmaps")
	gvrDeployment         = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrCronJob            = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}
	gvrRole               = rbacResource("roles")
	gvrRoleBinding        = rbacResource("rolebindings")
	gvrClusterRoleBinding = rbacResource("clusterrolebindings")
)

// Kinds are the kinds install makes, in the order they are applied: what the Deployment
// reads exists before its pods start.
var Kinds = []struct {
	Kind       string
	Resource   schema.GroupVersionResource
	Namespaced bool
}{
	{"ServiceAccount", gvrServiceAccount, true},
	{"Secret", gvrSecret, true},
	{"ConfigMap", gvrConfigMap, true},
	{"Role", gvrRole, true},
	{"RoleBinding", gvrRoleBinding, true},
	{"ClusterRoleBinding", gvrClusterRoleBinding, false},
	{"CronJob", gvrCronJob, true},
	{"Deployment", gvrDeployment, true},
}

func corev1Resource(r string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Version: "v1", Resource: r}
}

func rbacResource(r string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: r}
}

// RenderOptions are what rendering needs beyond the values.
type RenderOptions struct {
	Namespace     string
	PluginVersion string
	// SecretChecksum is the pods' checksum/secret annotation, "" for none. It is never a hash
	// of the Secrets' content, which anyone who may read Deployments could test passwords
	// against: the Installer sets it to the stamp of the applied Secrets (SecretStamp), and
	// a rollback passes the previous revision's as it was.
	SecretChecksum string
}

// Render returns the delegate's objects for v, which must have been validated and
// defaulted. It is pure: the same input gives the same objects, byte for byte.
func Render(v Values, opts RenderOptions) []Object {
	r := renderer{v: v, ns: opts.Namespace, version: opts.PluginVersion}
	var objs []Object
	add := func(o Object) { objs = append(objs, o) }

	add(r.serviceAccount(v.DelegateName))
	if v.ExistingDelegateToken == "" && v.DelegateToken != "" {
		add(r.secret(v.DelegateName, map[string]string{"DELEGATE_TOKEN": v.DelegateToken}))
	}
	if v.HasProxyCredentials() && v.ProxyPassword != "" {
		add(r.secret(v.DelegateName+"-proxy", map[string]string{"PROXY_USER": v.ProxyUser, "PROXY_PASSWORD": v.ProxyPassword}))
	}
	if v.ManagedCA() {
		add(r.secret(v.CASecretName(), map[string]string{"ca.bundle": v.CACertificates}))
	}
	config := r.delegateConfig()
	add(r.configMap(v.DelegateName, config))
	var proxy map[string]string
	if v.ProxyHost != "" {
		proxy = r.proxyConfig()
		add(r.configMap(v.DelegateName+"-proxy", proxy))
	}
	objs = append(objs, r.rbac()...)
	if v.UpgraderEnabled() {
		objs = append(objs, r.upgrader()...)
	}
	add(r.deployment(checksum(config, proxy), opts.SecretChecksum))
	return objs
}

type renderer struct {
	v       Values
	ns      string
	version string
}

// labels are the chart's labels with the plugin as manager: the selector labels, which
// discovery and the Deployment's selector use, and app.kubernetes.io/managed-by.
func (r renderer) labels() map[string]string {
	l := r.selectorLabels()
	l[delegate.LabelManagedBy] = delegate.ManagedByPlugin
	return l
}

func (r renderer) selectorLabels() map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     r.v.DelegateName,
		"app.kubernetes.io/instance": r.v.DelegateName,
		delegate.LabelName:           r.v.DelegateName,
	}
}

func (r renderer) annotations() map[string]string {
	return map[string]string{delegate.AnnotationPluginVersion: r.version}
}

func (r renderer) serviceAccount(name string) Object {
	sa := corev1ac.ServiceAccount(name, r.ns).WithLabels(r.labels()).WithAnnotations(r.annotations())
	return Object{Resource: gvrServiceAccount, Kind: "ServiceAccount", Namespace: r.ns, Name: name, Config: sa}
}

func (r renderer) secret(name string, data map[string]string) Object {
	bytes := map[string][]byte{}
	for k, v := range data {
		bytes[k] = []byte(v)
	}
	s := corev1ac.Secret(name, r.ns).WithLabels(r.labels()).WithAnnotations(r.annotations()).
		WithType(corev1.SecretTypeOpaque).WithData(bytes)
	return Object{Resource: gvrSecret, Kind: "Secret", Namespace: r.ns, Name: name, Config: s}
}

func (r renderer) configMap(name string, data map[string]string) Object {
	cm := corev1ac.ConfigMap(name, r.ns).WithLabels(r.labels()).WithAnnotations(r.annotations()).WithData(data)
	return Object{Resource: gvrConfigMap, Kind: "ConfigMap", Namespace: r.ns, Name: name, Config: cm}
}

// delegateConfig is the chart's ConfigMap <name>: the delegate's environment.
func (r renderer) delegateConfig() map[string]string {
	v := r.v
	return map[string]string{
		"ACCOUNT_ID":            v.AccountID,
		"MANAGER_HOST_AND_PORT": v.ManagerEndpoint,
		"DEPLOY_MODE":           "KUBERNETES",
		"DELEGATE_NAME":         v.DelegateName,
		"POLL_FOR_TASKS":        strconv.FormatBool(v.PollForTasks != nil && *v.PollForTasks),
		"NEXT_GEN":              "true",
		"DELEGATE_TAGS":         v.Tags,
		"DELEGATE_DESCRIPTION":  v.Description,
		"JAVA_OPTS":             v.JavaOpts,
		// The chart's type: the manager treats the delegate as one the chart installed,
		// which it is in every object but the managed-by label.
		"DELEGATE_TYPE":                  "HELM_DELEGATE",
		"DELEGATE_NAMESPACE":             r.ns,
		"INIT_SCRIPT":                    v.InitScript,
		"CLIENT_TOOLS_DOWNLOAD_DISABLED": "true",
		"LOG_STREAMING_SERVICE_URL":      strings.TrimSuffix(v.ManagerEndpoint, "/") + "/log-service/",
	}
}

// proxyConfig is the chart's ConfigMap <name>-proxy; credentials go to a Secret instead.
func (r renderer) proxyConfig() map[string]string {
	v := r.v
	data := map[string]string{
		"PROXY_HOST":   v.ProxyHost,
		"PROXY_PORT":   v.ProxyPort,
		"PROXY_SCHEME": v.ProxyScheme,
	}
	if v.NoProxy != "" {
		data["NO_PROXY"] = v.NoProxy
	}
	return data
}

// rbac binds the delegate's ServiceAccount as the chart does for each k8sPermissionsType.
func (r renderer) rbac() []Object {
	v := r.v
	subject := rbacv1ac.Subject().WithKind("ServiceAccount").WithName(v.DelegateName).WithNamespace(r.ns)
	switch v.K8sPermissionsType {
	case PermClusterAdmin, PermClusterViewer:
		role := "cluster-admin"
		if v.K8sPermissionsType == PermClusterViewer {
			role = "view"
		}
		name := v.DelegateName + "-" + strings.ReplaceAll(strings.ToLower(v.K8sPermissionsType), "_", "-")
		crb := rbacv1ac.ClusterRoleBinding(name).WithLabels(r.labels()).WithAnnotations(r.annotations()).
			WithSubjects(subject).
			WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("ClusterRole").WithName(role))
		return []Object{{Resource: gvrClusterRoleBinding, Kind: "ClusterRoleBinding", Name: name, Config: crb}}
	case PermNamespaceAdmin:
		name := v.DelegateName + "-harness-namespace-admin"
		role := rbacv1ac.Role(name, r.ns).WithLabels(r.labels()).WithAnnotations(r.annotations()).
			WithRules(rbacv1ac.PolicyRule().WithAPIGroups("*").WithResources("*").WithVerbs("*"))
		rb := rbacv1ac.RoleBinding(name, r.ns).WithLabels(r.labels()).WithAnnotations(r.annotations()).
			WithSubjects(subject).
			WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("Role").WithName(name))
		return []Object{
			{Resource: gvrRole, Kind: "Role", Namespace: r.ns, Name: name, Config: role},
			{Resource: gvrRoleBinding, Kind: "RoleBinding", Namespace: r.ns, Name: name, Config: rb},
		}
	}
	// A custom role: the chart's RoleBinding <name>-custom-roleBinding, to a Role or, when
	// the name is a ClusterRole, to that ClusterRole within the namespace.
	kind := v.CustomRoleKind
	if kind == "" {
		kind = "Role"
	}
	name := v.DelegateName + "-custom-roleBinding"
	rb := rbacv1ac.RoleBinding(name, r.ns).WithLabels(r.labels()).WithAnnotations(r.annotations()).
		WithSubjects(subject).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind(kind).WithName(v.K8sPermissionsType))
	return []Object{{Resource: gvrRoleBinding, Kind: "RoleBinding", Namespace: r.ns, Name: name, Config: rb}}
}

// Names of the upgrader's objects, as the chart names them.
func upgraderNames(name string) (cronJob, serviceAccount, role, roleBinding, tokenSecret, config string) {
	return name + "-upgrader-job", name + "-upgrader-cronjob-sa", name + "-upgrader",
		name + "-upgrader-cronjob", name + "-upgrader-token", name + "-upgrader-config"
}

func (r renderer) upgrader() []Object {
	v := r.v
	cronJobName, saName, roleName, rbName, tokenName, configName := upgraderNames(v.DelegateName)
	var objs []Object
	objs = append(objs, r.serviceAccount(saName))
	role := rbacv1ac.Role(roleName, r.ns).WithLabels(r.labels()).WithAnnotations(r.annotations()).WithRules(
		rbacv1ac.PolicyRule().WithAPIGroups("batch", "apps", "extensions").WithResources("cronjobs").
			WithVerbs("get", "list", "watch", "update", "patch"),
		rbacv1ac.PolicyRule().WithAPIGroups("extensions", "apps").WithResources("deployments").
			WithVerbs("get", "list", "watch", "create", "update", "patch"),
	)
	objs = append(objs, Object{Resource: gvrRole, Kind: "Role", Namespace: r.ns, Name: roleName, Config: role})
	rb := rbacv1ac.RoleBinding(rbName, r.ns).WithLabels(r.labels()).WithAnnotations(r.annotations()).
		WithSubjects(rbacv1ac.Subject().WithKind("ServiceAccount").WithName(saName).WithNamespace(r.ns)).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("Role").WithName(roleName))
	objs = append(objs, Object{Resource: gvrRoleBinding, Kind: "RoleBinding", Namespace: r.ns, Name: rbName, Config: rb})

	container := corev1ac.Container().WithName("upgrader").WithImage(DefaultUpgraderImage).
		WithImagePullPolicy(corev1.PullAlways).
		WithVolumeMounts(corev1ac.VolumeMount().WithName("config-volume").WithMountPath("/etc/config"))
	if v.ExistingDelegateToken == "" {
		// Without the token (an upgrade that does not rotate it) the Secret stays as it is.
		if v.DelegateToken != "" {
			objs = append(objs, r.secret(tokenName, map[string]string{"UPGRADER_TOKEN": v.DelegateToken}))
		}
		container.WithEnvFrom(corev1ac.EnvFromSource().WithSecretRef(corev1ac.SecretEnvSource().WithName(tokenName)))
	} else {
		// The chart would copy an empty delegateToken here; reading the existing Secret's key
		// gives the upgrader the token without copying it into another Secret.
		container.WithEnv(corev1ac.EnvVar().WithName("UPGRADER_TOKEN").WithValueFrom(
			corev1ac.EnvVarSource().WithSecretKeyRef(corev1ac.SecretKeySelector().
				WithName(v.ExistingDelegateToken).WithKey("DELEGATE_TOKEN"))))
	}
	// upgraderConfig leaves the proxy credentials out; the upgrader gets them from the proxy
	// Secret, as the delegate does.
	container.WithEnvFrom(corev1ac.EnvFromSource().WithSecretRef(corev1ac.SecretEnvSource().WithName(v.DelegateName + "-proxy").WithOptional(true)))
	objs = append(objs, r.configMap(configName, map[string]string{"config.yaml": r.upgraderConfig()}))
	volumes := []*corev1ac.VolumeApplyConfiguration{
		corev1ac.Volume().WithName("config-volume").WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(configName)),
	}
	if ca := v.CASecretName(); ca != "" {
		container.WithVolumeMounts(corev1ac.VolumeMount().WithName("custom-certs").WithMountPath("/ca-bundle").WithReadOnly(true))
		volumes = append(volumes, caVolume(ca))
	}
	cj := batchv1ac.CronJob(cronJobName, r.ns).WithLabels(r.labels()).WithAnnotations(r.annotations()).
		WithSpec(batchv1ac.CronJobSpec().
			WithSchedule(DefaultUpgraderSchedule).
			WithConcurrencyPolicy("Forbid").
			WithStartingDeadlineSeconds(20).
			WithJobTemplate(batchv1ac.JobTemplateSpec().WithSpec(batchv1ac.JobSpec().
				WithTemplate(corev1ac.PodTemplateSpec().WithSpec(corev1ac.PodSpec().
					WithServiceAccountName(saName).
					WithRestartPolicy(corev1.RestartPolicyNever).
					WithSecurityContext(corev1ac.PodSecurityContext().WithFSGroup(1001)).
					WithContainers(container).
					WithVolumes(volumes...))))))
	objs = append(objs, Object{Resource: gvrCronJob, Kind: "CronJob", Namespace: r.ns, Name: cronJobName, Config: cj})
	return objs
}

// upgraderConfig is the chart's config.yaml for the upgrader. Unlike the chart it leaves the
// proxy credentials out: a ConfigMap is readable by anyone who may read the namespace's
// configuration, and the upgrader reads them from the proxy Secret's environment.
func (r renderer) upgraderConfig() string {
	v := r.v
	var b strings.Builder
	fmt.Fprintf(&b, "mode: Delegate\ndryRun: false\nworkloadName: %s\nnamespace: %s\ncontainerName: delegate\n", v.DelegateName, r.ns)
	fmt.Fprintf(&b, "delegateConfig:\n  accountId: %s\n  managerHost: %s\n", v.AccountID, v.ManagerEndpoint)
	if v.ProxyHost != "" {
		fmt.Fprintf(&b, "proxyScheme: %s\nproxyHost: %s\nproxyPort: %s\n", v.ProxyScheme, v.ProxyHost, v.ProxyPort)
	}
	return b.String()
}

func caVolume(secret string) *corev1ac.VolumeApplyConfiguration {
	// 0400: the certificates are read by the delegate's own user only.
	return corev1ac.Volume().WithName("custom-certs").
		WithSecret(corev1ac.SecretVolumeSource().WithSecretName(secret).WithDefaultMode(0o400))
}

func (r renderer) deployment(configChecksum, secretChecksum string) Object {
	v := r.v
	httpGet := corev1ac.HTTPGetAction().WithPath("/api/health").WithPort(intstr.FromInt32(3460)).WithScheme(corev1.URISchemeHTTP)
	memory := resource.MustParse(v.Memory)
	cpu := resource.MustParse(v.CPU)
	container := corev1ac.Container().
		WithName("delegate").
		WithImage(v.DelegateDockerImage).
		WithImagePullPolicy(corev1.PullAlways).
		WithSecurityContext(corev1ac.SecurityContext().WithAllowPrivilegeEscalation(false).WithRunAsUser(0)).
		WithPorts(
			corev1ac.ContainerPort().WithContainerPort(8080),
			corev1ac.ContainerPort().WithName("api").WithContainerPort(3460),
		).
		WithResources(corev1ac.ResourceRequirements().
			WithLimits(corev1.ResourceList{corev1.ResourceMemory: memory}).
			WithRequests(corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: memory})).
		WithStartupProbe(corev1ac.Probe().WithHTTPGet(httpGet).
			WithInitialDelaySeconds(10).WithPeriodSeconds(10).WithFailureThreshold(40).WithTimeoutSeconds(1)).
		WithLivenessProbe(corev1ac.Probe().WithHTTPGet(httpGet).
			WithInitialDelaySeconds(30).WithPeriodSeconds(20).WithFailureThreshold(3).WithTimeoutSeconds(1)).
		WithEnvFrom(
			corev1ac.EnvFromSource().WithConfigMapRef(corev1ac.ConfigMapEnvSource().WithName(v.DelegateName)),
			corev1ac.EnvFromSource().WithSecretRef(corev1ac.SecretEnvSource().WithName(v.TokenSecretName())),
			corev1ac.EnvFromSource().WithConfigMapRef(corev1ac.ConfigMapEnvSource().WithName(v.DelegateName+"-proxy").WithOptional(true)),
			corev1ac.EnvFromSource().WithSecretRef(corev1ac.SecretEnvSource().WithName(v.DelegateName+"-proxy").WithOptional(true)),
		)
	podSpec := corev1ac.PodSpec().
		WithServiceAccountName(v.DelegateName).
		WithTerminationGracePeriodSeconds(600).
		WithRestartPolicy(corev1.RestartPolicyAlways).
		WithSecurityContext(corev1ac.PodSecurityContext().WithFSGroup(1001))
	if ca := v.CASecretName(); ca != "" {
		container.WithVolumeMounts(corev1ac.VolumeMount().WithName("custom-certs").
			WithMountPath("/opt/harness-delegate/ca-bundle/").WithReadOnly(true))
		podSpec.WithVolumes(caVolume(ca))
	}
	podSpec.WithContainers(container)

	podAnnotations := map[string]string{
		"prometheus.io/scrape":   "true",
		"prometheus.io/port":     "3460",
		"prometheus.io/path":     "/api/metrics",
		AnnotationConfigChecksum: configChecksum,
	}
	if secretChecksum != "" {
		podAnnotations[AnnotationSecretChecksum] = secretChecksum
	}
	annotations := r.annotations()
	settings, _ := json.Marshal(v.Settings())
	annotations[AnnotationSettings] = string(settings)

	d := appsv1ac.Deployment(v.DelegateName, r.ns).WithLabels(r.labels()).WithAnnotations(annotations).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(*v.Replicas).
			WithMinReadySeconds(*v.MinReadySeconds).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(r.selectorLabels())).
			WithStrategy(appsv1ac.DeploymentStrategy().WithType("RollingUpdate")).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(r.selectorLabels()).
				WithAnnotations(podAnnotations).
				WithSpec(podSpec)))
	return Object{Resource: gvrDeployment, Kind: "Deployment", Namespace: r.ns, Name: v.DelegateName, Config: d}
}

// checksum is a short, stable digest of maps of strings, for pod template annotations.
func checksum(maps ...map[string]string) string {
	h := sha256.New()
	for _, m := range maps {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "%q=%q\n", k, m[k])
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:63]
}
