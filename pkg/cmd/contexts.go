package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-delegate/kubectl-delegate/internal/printable"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// contextsFlags are list's and doctor's --contexts and --all-contexts: one run over several
// kubeconfig contexts, so that what only a view of many clusters shows (the same delegate
// name in two of them) can be seen.
type contextsFlags struct {
	Contexts    []string
	AllContexts bool
	// Timeout bounds each context's gather, so that one stuck server cannot hold up the
	// rest; 0 is no limit, as kubectl's --request-timeout 0.
	Timeout time.Duration
}

// defaultContextTimeout is --context-timeout's default: list answers in well under a second
// and doctor -A in about one on a cluster of 50 delegate pods (README's benchmark), so a
// minute is room for a slow cluster, not for one that will never answer.
const defaultContextTimeout = time.Minute

func (c *contextsFlags) addFlags(cmd *cobra.Command, flags *genericclioptions.ConfigFlags) {
	cmd.Flags().StringSliceVar(&c.Contexts, "contexts", nil, "Run over these kubeconfig contexts at once, e.g. --contexts prod-eu,prod-us (adds a CONTEXT column)")
	cmd.Flags().BoolVar(&c.AllContexts, "all-contexts", false, "Run over every context of the kubeconfig at once (adds a CONTEXT column)")
	cmd.Flags().DurationVar(&c.Timeout, "context-timeout", defaultContextTimeout, "With --contexts or --all-contexts: how long each context may take (0: no limit); one that takes longer is reported as an error and the others go on")
	_ = cmd.RegisterFlagCompletionFunc("contexts", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return kubeconfigContexts(flags), cobra.ShellCompDirectiveNoFileComp
	})
}

// kubeconfigContexts are the kubeconfig's context names, sorted; none when it cannot be read.
func kubeconfigContexts(flags *genericclioptions.ConfigFlags) []string {
	raw, err := flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(raw.Contexts))
	for name := range raw.Contexts {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (c contextsFlags) set() bool { return c.AllContexts || len(c.Contexts) > 0 }

// contextConcurrency bounds the contexts gathered at once: each gather runs its own handful
// of parallel LISTs.
const contextConcurrency = 4

// resolveContexts returns the contexts --contexts or --all-contexts name, checked against
// the kubeconfig, or nil when neither is set. It reads the kubeconfig only: no request.
func resolveContexts(flags *genericclioptions.ConfigFlags, c contextsFlags) ([]string, error) {
	if !c.set() {
		return nil, nil
	}
	if c.AllContexts && len(c.Contexts) > 0 {
		return nil, fmt.Errorf("--contexts and --all-contexts do not go together: name the contexts, or take them all")
	}
	if c.Timeout < 0 {
		return nil, fmt.Errorf("--context-timeout %s: must be 0 (no limit) or more, e.g. 30s or 2m", c.Timeout)
	}
	for _, f := range []struct {
		name  string
		value *string
	}{{"--context", flags.Context}, {"--cluster", flags.ClusterName}, {"--server", flags.APIServer}, {"--user", flags.AuthInfoName}, {"--token", flags.BearerToken}} {
		if f.value != nil && *f.value != "" {
			return nil, fmt.Errorf("%s and --contexts/--all-contexts do not go together: each context brings its own cluster and user", f.name)
		}
	}
	if _, err := flags.ToRawKubeConfigLoader().RawConfig(); err != nil {
		return nil, explainConfigError(err)
	}
	known := kubeconfigContexts(flags)
	if len(known) == 0 {
		return nil, errNoCluster
	}
	if c.AllContexts {
		return known, nil
	}
	return pickContexts(c.Contexts, known)
}

// pickContexts checks the names given to --contexts against the kubeconfig's, keeping their
// order and dropping repeats.
func pickContexts(names, known []string) ([]string, error) {
	var out []string
	for _, name := range names {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			return nil, fmt.Errorf("--contexts: an empty context name: separate names with single commas")
		case !slices.Contains(known, name):
			return nil, fmt.Errorf("--contexts: context %q is not in the kubeconfig; its contexts are: %s", printable.String(name), printable.String(strings.Join(known, ", ")))
		case !slices.Contains(out, name):
			out = append(out, name)
		}
	}
	return out, nil
}

// connectContext builds the client of one kubeconfig context: its own cluster and user, with
// the global flags that make sense for every context (-n, --request-timeout, impersonation)
// laid over it, and the plugin's rule of no client-side rate limit.
func connectContext(flags *genericclioptions.ConfigFlags, raw clientcmdapi.Config, name string, allNamespaces bool) (clusterClient, error) {
	var c clusterClient
	cfg, loader, err := contextConfig(flags, raw, name)
	if err != nil {
		return c, err
	}
	c.server = cfg.Host
	if !allNamespaces {
		if c.namespace, _, err = loader.Namespace(); err != nil {
			return c, explainConfigError(err)
		}
	}
	c.client, err = kubernetes.NewForConfig(cfg)
	return c, err
}

// contextConfig is the rest.Config of one context, and its loader for the namespace.
func contextConfig(flags *genericclioptions.ConfigFlags, raw clientcmdapi.Config, name string) (*rest.Config, clientcmd.ClientConfig, error) {
	overrides := &clientcmd.ConfigOverrides{CurrentContext: name}
	if flags.Namespace != nil {
		overrides.Context.Namespace = *flags.Namespace
	}
	if flags.Timeout != nil {
		overrides.Timeout = *flags.Timeout
	}
	if flags.Impersonate != nil {
		overrides.AuthInfo.Impersonate = *flags.Impersonate
	}
	if flags.ImpersonateUID != nil {
		overrides.AuthInfo.ImpersonateUID = *flags.ImpersonateUID
	}
	if flags.ImpersonateGroup != nil {
		overrides.AuthInfo.ImpersonateGroups = *flags.ImpersonateGroup
	}
	loader := clientcmd.NewNonInteractiveClientConfig(raw, name, overrides, nil)
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, nil, explainConfigError(err)
	}
	if flags.WrapConfigFn != nil {
		cfg = flags.WrapConfigFn(cfg)
	}
	noClientRateLimit(cfg)
	return cfg, loader, nil
}

// contextResult is what one context's gather gave: a value, or why there is none.
type contextResult[T any] struct {
	Context string
	// Namespace is the scope gathered in the context; "" for all namespaces.
	Namespace string
	Value     T
	Err       error
}

// gatherContexts runs gather once per context, at most contextConcurrency at a time, each
// with the context's own client and at most timeout long. A context that fails or runs out
// of time keeps its error and the others go on; the results are in the order of names.
func gatherContexts[T any](ctx context.Context, flags *genericclioptions.ConfigFlags, names []string, allNamespaces bool, timeout time.Duration,
	gather func(context.Context, clusterClient) (T, error)) ([]contextResult[T], error) {
	raw, err := flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, explainConfigError(err)
	}
	out := make([]contextResult[T], len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(contextConcurrency)
	for i, name := range names {
		g.Go(func() error {
			out[i] = gatherContext(gctx, flags, raw, name, allNamespaces, timeout, gather)
			return nil
		})
	}
	_ = g.Wait() // every gather returns nil: a failed context is a result, not an abort
	return out, ctx.Err()
}

// gatherContext reads one context within timeout: every request of a gather takes its
// context, so the deadline ends them all.
func gatherContext[T any](ctx context.Context, flags *genericclioptions.ConfigFlags, raw clientcmdapi.Config, name string, allNamespaces bool, timeout time.Duration,
	gather func(context.Context, clusterClient) (T, error)) contextResult[T] {
	r := contextResult[T]{Context: name}
	c, err := connectContext(flags, raw, name, allNamespaces)
	if err != nil {
		r.Err = err
		return r
	}
	r.Namespace = c.namespace
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	r.Value, err = gather(ctx, c)
	r.Err = explainServerError(c.server, err)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.Err = contextTimeoutError(c.server, timeout)
	}
	return r
}

// contextTimeoutError is a context that did not finish in time: its server accepted the
// connection (a refused or unresolvable one fails at once) but answered too slowly or not
// at all.
func contextTimeoutError(server string, timeout time.Duration) error {
	return fmt.Errorf("not read within %s (--context-timeout): the Kubernetes API server at %s answers too slowly or not at all (overloaded, stuck, or a proxy holds the connection); raise --context-timeout for a slow or large cluster", timeout, server)
}

// contextErrors are the results' failures, one per context that could not be read.
func contextErrors[T any](results []contextResult[T]) []diagnose.ContextError {
	var out []diagnose.ContextError
	for _, r := range results {
		if r.Err != nil {
			out = append(out, diagnose.ContextError{Context: r.Context, Error: r.Err.Error()})
		}
	}
	return out
}

// writeContextErrors prints one line per context that could not be read.
func writeContextErrors(w io.Writer, errs []diagnose.ContextError) {
	for _, e := range errs {
		fmt.Fprintf(w, "error: context %s: %s\n", printable.String(e.Context), printable.String(e.Error))
	}
}

// errContextsUnread is the exit of a run over contexts some of which could not be read: the
// others were reported, each failed context has had its line.
func errContextsUnread(errs []diagnose.ContextError) error {
	if len(errs) == 0 {
		return nil
	}
	return &exitError{code: 1}
}
