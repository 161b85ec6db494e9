package diagnose

import (
	"context"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-delegate/kubectl-delegate/internal/stuckserver"
)

// stuckClient is a client of an API server that completes the TLS handshake and never
// answers: an overloaded server, or a proxy that holds connections.
func stuckClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	client, err := kubernetes.NewForConfig(&rest.Config{Host: stuckserver.Start(t), TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// Every request of doctor's gathering ends with its context (Ctrl-C in collect, a context's
// deadline with --contexts), the server version's too: discovery's ServerVersion takes no
// context, and waited on a stuck server for ever.
func TestGatherEndsWithItsContext(t *testing.T) {
	for name, gather := range map[string]func(context.Context, kubernetes.Interface) error{
		"doctor": func(ctx context.Context, c kubernetes.Interface) error {
			_, err := Gather(ctx, c, GatherOptions{Namespace: "ns", SupportMatrix: DefaultSupportMatrix()})
			return err
		},
		"doctor --pre": func(ctx context.Context, c kubernetes.Interface) error {
			_, err := GatherPre(ctx, c, PrePlan{Delegate: healthy(), SupportMatrix: DefaultSupportMatrix()})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = gather(ctx, stuckClient(t))
			}()
			// A guard, not a measurement: far beyond the 200 ms the context allows.
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("still waiting on the stuck server 30 s after the context ended")
			}
		})
	}
}
