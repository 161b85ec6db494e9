package diagnose

import (
	"context"

	"k8s.io/client-go/kubernetes"
)

// NodeCapacities lists every node with its allocatable resources and what the pods on it
// request, for collect's cluster/nodes.json.
func NodeCapacities(ctx context.Context, client kubernetes.Interface) ([]NodeCapacity, error) {
	return gatherNodeCapacity(ctx, client, nil)
}
