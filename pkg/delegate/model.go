package delegate

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// SchemaVersion names the JSON shape of Delegate. Fields are only ever added within one
// version; doctor, collect and users' scripts read it.
const SchemaVersion = "kubectl-delegate.dev/v1"

// InstallMethod is how a delegate came to be in the cluster.
type InstallMethod string

const (
	// Helm: the harness-delegate-ng chart.
	Helm InstallMethod = "helm"
	// Manifest: the plain harness-delegate.yaml, or any hand-made workload running the
	// delegate image.
	Manifest InstallMethod = "manifest"
	// Plugin: installed by kubectl delegate install.
	Plugin InstallMethod = "plugin"
	// Legacy: the pre-2023 StatefulSet delegate, out of support since 2024-01-31.
	Legacy InstallMethod = "legacy"
)

// Labels and annotations the plugin reads and writes.
const (
	LabelName      = "harness.io/name"
	LabelLegacyApp = "harness.io/app"
	LegacyAppValue = "harness-delegate"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByPlugin is the managed-by value of objects this plugin installs.
	ManagedByPlugin = "kubectl-delegate"
	// AnnotationPluginVersion records the plugin version that last applied an object.
	AnnotationPluginVersion = "kubectl-delegate.dev/version"
	LabelHelmChart          = "helm.sh/chart"
	AnnotationHelmRelease   = "meta.helm.sh/release-name"
)

// Delegate is everything the plugin knows about one delegate. Its JSON form is the stable
// schema documented in the README.
type Delegate struct {
	Name          string        `json:"name"`
	Namespace     string        `json:"namespace"`
	InstallMethod InstallMethod `json:"installMethod"`
	// Helm is set for Helm installs.
	Helm *HelmRelease `json:"helm,omitempty"`
	// PluginVersion is the plugin version that installed it, for plugin installs.
	PluginVersion string      `json:"pluginVersion,omitempty"`
	Workload      WorkloadRef `json:"workload"`
	CreatedAt     time.Time   `json:"createdAt"`

	Image Image `json:"image"`
	// Version is the delegate release from the image tag ("" when the tag names none).
	Version string  `json:"version,omitempty"`
	Minimal bool    `json:"minimal"`
	Support Support `json:"support"`

	Replicas Replicas `json:"replicas"`
	// Resources are the delegate container's requests and limits, per replica.
	Resources corev1.ResourceRequirements `json:"resources"`
	Pods      []Pod                       `json:"pods"`

	AccountID       string     `json:"accountId,omitempty"`
	ManagerEndpoint string     `json:"managerEndpoint,omitempty"`
	Token           TokenRef   `json:"token"`
	Proxy           Proxy      `json:"proxy"`
	CustomCA        CustomCA   `json:"customCA"`
	Upgrader        *Upgrader  `json:"upgrader,omitempty"`
	RBAC            RBAC       `json:"rbac"`
	Tags            []string   `json:"tags,omitempty"`
	Description     string     `json:"description,omitempty"`
	PollForTasks    bool       `json:"pollForTasks"`
	Duplicate       *Duplicate `json:"duplicate,omitempty"`
	// NameUnchecked says why other namespaces could not be searched for the delegate's name
	// (doctor -n without leave to list Deployments cluster-wide); "" when they were.
	NameUnchecked string `json:"nameUnchecked,omitempty"`
	// Rollout is what the workload's controller says about creating and rolling out its pods:
	// when it cannot create them there are no pods for the pod checks to read.
	Rollout Rollout `json:"rollout"`

	// Members are the UIDs, sorted, of the objects that make up the delegate (owners.go):
	// events name their object by UID. They are for matching a live cluster's events and
	// stay out of the JSON schema.
	Members []types.UID `json:"-"`
}

// HelmRelease is the release a Helm-installed delegate belongs to.
type HelmRelease struct {
	Release      string `json:"release"`
	Chart        string `json:"chart,omitempty"`
	ChartVersion string `json:"chartVersion,omitempty"`
}

// WorkloadRef names the Deployment or StatefulSet that runs the delegate.
type WorkloadRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Container is the one running the delegate.
	Container string `json:"container,omitempty"`
	// ServiceAccount the pods run as.
	ServiceAccount string `json:"serviceAccount"`
	// NodeSelector, RequiredNodeAffinity and Tolerations are the pod template's constraints on
	// where the scheduler may put a replica: a replica that fits no node's free room may
	// still be kept off the nodes that have it.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// RequiredNodeAffinity is the template's
	// affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.
	RequiredNodeAffinity *corev1.NodeSelector `json:"requiredNodeAffinity,omitempty"`
	Tolerations          []corev1.Toleration  `json:"tolerations,omitempty"`
}

// Replicas are the workload's counts from its status.
type Replicas struct {
	Desired   int32 `json:"desired"`
	Ready     int32 `json:"ready"`
	Available int32 `json:"available"`
	Updated   int32 `json:"updated"`
}

// Rollout is the controller's side of the workload: why pods are not created, and how long a
// rollout should take.
type Rollout struct {
	// ReplicaSet is a Deployment's current ReplicaSet (its revision), whose FailedCreate
	// events say why pods are not created.
	ReplicaSet string `json:"replicaSet,omitempty"`
	// Conditions are those of the workload and its current ReplicaSet that say the controller
	// is stuck: ReplicaFailure=True and Progressing=False.
	Conditions []Condition `json:"conditions,omitempty"`
	// MinReadySeconds is the pod template's minReadySeconds.
	MinReadySeconds int32 `json:"minReadySeconds"`
	// StartupSeconds is the most the startup and readiness probes let a new container take
	// before it is ready: initialDelaySeconds + periodSeconds x failureThreshold of each (the
	// readiness probe starts once the startup probe passed).
	StartupSeconds int32 `json:"startupSeconds"`
	// ProgressDeadlineSeconds is a Deployment's progressDeadlineSeconds: how long its
	// controller lets a rollout go without progress before it calls it failed. 0 for a
	// StatefulSet, which has none, and for a Deployment that turned it off.
	ProgressDeadlineSeconds int32 `json:"progressDeadlineSeconds,omitempty"`
	// LastProgress is when the controller last made progress: the Progressing condition's
	// lastUpdateTime, else the workload's creation.
	LastProgress time.Time `json:"lastProgress"`
}

// Condition is one status condition, of the object named by Object (Kind/name).
type Condition struct {
	Object         string    `json:"object"`
	Type           string    `json:"type"`
	Status         string    `json:"status"`
	Reason         string    `json:"reason,omitempty"`
	Message        string    `json:"message,omitempty"`
	LastTransition time.Time `json:"lastTransition"`
}

// Pod is one of the delegate's pods, summarised from its status.
type Pod struct {
	Name  string `json:"name"`
	Node  string `json:"node,omitempty"`
	Phase string `json:"phase"`
	Ready bool   `json:"ready"`
	// ReadyChanged is when the pod last became ready or not ready (its Ready condition's
	// lastTransitionTime): a replica missing since then is missing no longer than that.
	ReadyChanged time.Time `json:"readyChanged,omitzero"`
	Restarts     int32     `json:"restarts"`
	CreatedAt    time.Time `json:"createdAt"`
	// Waiting is the reason the delegate container waits (CrashLoopBackOff,
	// ImagePullBackOff, ...), if it does.
	Waiting         string       `json:"waiting,omitempty"`
	LastTermination *Termination `json:"lastTermination,omitempty"`
	// Registered is set when the tail of the pod's current log says the delegate registered
	// with the manager (inspect reads it; other commands leave it unset).
	Registered *Registered `json:"registered,omitempty"`
}

// Registered is the last "Delegate registered with id ..." line of a pod's log.
type Registered struct {
	// At is the line's time, when the kubelet gave it.
	At         *time.Time `json:"at,omitempty"`
	DelegateID string     `json:"delegateId,omitempty"`
}

// Termination is how a container's previous instance ended.
type Termination struct {
	Reason     string    `json:"reason"`
	ExitCode   int32     `json:"exitCode"`
	FinishedAt time.Time `json:"finishedAt,omitempty"`
}

// TokenSource says where the delegate's token comes from.
type TokenSource string

const (
	TokenFromSecret TokenSource = "secret"
	// TokenInline is a token written into the pod spec itself: readable by anyone who can
	// read the workload.
	TokenInline  TokenSource = "inline"
	TokenMissing TokenSource = "missing"
)

// TokenRef says where the token is and whether it is there; never its value.
type TokenRef struct {
	Source     TokenSource `json:"source"`
	Variable   string      `json:"variable,omitempty"`
	SecretName string      `json:"secretName,omitempty"`
	SecretKey  string      `json:"secretKey,omitempty"`
	// Present is true when the Secret and key exist and the value is not empty; nil when
	// the Secret could not be read.
	Present *bool `json:"present,omitempty"`
}

// Proxy is the delegate's proxy configuration; the password is never read.
type Proxy struct {
	Configured     bool   `json:"configured"`
	Host           string `json:"host,omitempty"`
	Port           string `json:"port,omitempty"`
	Scheme         string `json:"scheme,omitempty"`
	NoProxy        string `json:"noProxy,omitempty"`
	HasCredentials bool   `json:"hasCredentials"`
}

// CustomCA is whether a CA bundle is mounted for the delegate to trust.
type CustomCA struct {
	Configured bool   `json:"configured"`
	Source     string `json:"source,omitempty"`
}

// Upgrader is the CronJob that moves the delegate to the published version.
type Upgrader struct {
	CronJob      string     `json:"cronJob"`
	Schedule     string     `json:"schedule"`
	Suspended    bool       `json:"suspended"`
	LastSchedule *time.Time `json:"lastSchedule,omitempty"`
	// LastResult is the outcome of the newest Job: Succeeded, Failed, Running, or "" when
	// none has run.
	LastResult string `json:"lastResult,omitempty"`
	// CreatedAt is the CronJob's creation: a run is due within a schedule period of it.
	CreatedAt time.Time `json:"createdAt,omitzero"`
	// LastSuccessful is the CronJob's lastSuccessfulTime.
	LastSuccessful *time.Time `json:"lastSuccessful,omitempty"`
	// LastJob is the newest of the CronJob's Jobs (by owner reference), when one is left.
	LastJob *UpgraderJob `json:"lastJob,omitempty"`
}

// UpgraderJob is one run of the upgrader: its Job, and the newest of the Job's pods.
type UpgraderJob struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	// Failed is the Job's Failed condition; Reason and Message are the condition's
	// (BackoffLimitExceeded, DeadlineExceeded).
	Failed  bool   `json:"failed"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Pod is the Job's newest pod, and ExitCode how its container last ended.
	Pod      string `json:"pod,omitempty"`
	ExitCode *int32 `json:"exitCode,omitempty"`
}

// RBACMode summarises what the delegate's ServiceAccount may do.
type RBACMode string

const (
	ClusterAdmin   RBACMode = "cluster-admin"
	ClusterViewer  RBACMode = "cluster-viewer"
	NamespaceAdmin RBACMode = "namespace-admin"
	CustomRole     RBACMode = "custom"
	NoRBAC         RBACMode = "none"
	// RBACUnknown: the bindings could not be read.
	RBACUnknown RBACMode = "unknown"
)

// RBAC is the delegate's access, from the bindings of its ServiceAccount.
type RBAC struct {
	Mode RBACMode `json:"mode"`
	// Bindings are "Kind/name -> RoleKind/role" for every binding naming the ServiceAccount.
	Bindings []string `json:"bindings,omitempty"`
}

// Duplicate flags a delegate whose name is used in other namespaces too: Harness tells
// delegates apart by name, and two with one name make it self-destruct one of them.
type Duplicate struct {
	OtherNamespaces []string `json:"otherNamespaces"`
}
