package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/install"
)

// waitRollout waits for the delegate's Deployment, rewriting one status line on a terminal
// and printing a line per change otherwise.
func waitRollout(ctx context.Context, kube kubernetes.Interface, namespace, name string, timeout time.Duration, out io.Writer) error {
	return waitRolloutWatching(ctx, kube, namespace, name, timeout, out, nil)
}

func waitRolloutWatching(ctx context.Context, kube kubernetes.Interface, namespace, name string, timeout time.Duration, out io.Writer, minAvailable *int32) error {
	onTerminal := isTerminal(out)
	progress := func(s install.RolloutStatus) {
		line := fmt.Sprintf("Waiting for deployment %s rollout: %s", name, s.Message)
		if s.Done {
			line = fmt.Sprintf("deployment %s: %s", name, s.Message)
		}
		if onTerminal {
			fmt.Fprintf(out, "\r\033[K%s", line)
			if s.Done {
				fmt.Fprintln(out)
			}
			return
		}
		fmt.Fprintln(out, line)
	}
	err := install.WaitForRollout(ctx, kube, namespace, name, install.WaitOptions{Timeout: timeout, Progress: progress, MinAvailable: minAvailable})
	if err != nil && onTerminal {
		fmt.Fprintln(out)
	}
	return err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func validationDNSLabel(s string) []string { return validation.IsDNS1123Label(s) }
