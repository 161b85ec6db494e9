package diagnose

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// Snapshot is everything the checks read: plain data, so that the same checks run on a live
// cluster and on a saved bundle.
type Snapshot struct {
	CollectedAt time.Time `json:"collectedAt"`
	// ServerVersion is the API server's gitVersion, e.g. v1.36.3; "" when unknown.
	ServerVersion string              `json:"serverVersion"`
	SupportMatrix SupportMatrix       `json:"supportMatrix"`
	Delegates     []delegate.Delegate `json:"delegates"`
	// Events are the warning events of the delegates' namespaces.
	Events []corev1.Event `json:"events"`
	// Nodes are the nodes' free room, read only when a delegate replica was not placed.
	Nodes []NodeCapacity `json:"nodes,omitempty"`
	// NodesError says why the nodes could not be read.
	NodesError string `json:"nodesError,omitempty"`
	// Access are the SubjectAccessReviews of the delegates' ServiceAccounts by
	// "namespace/name".
	Access map[string]AccessReview `json:"access"`
	// Logs are the tails of the delegate pods' logs by "namespace/pod".
	Logs map[string]PodLogs `json:"logs"`
	// Pre is set for doctor --pre: the planned install is Delegates[0].
	Pre *PreInstall `json:"pre,omitempty"`
}

func subject(d delegate.Delegate) string { return d.Namespace + "/" + d.Name }
