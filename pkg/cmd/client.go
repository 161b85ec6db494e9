package cmd

import (
	"errors"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// errNoCluster replaces client-go's fallback to http://localhost:8080, which otherwise shows
// up as a baffling "connection refused" on a machine that has no kubeconfig at all.
var errNoCluster = errors.New("no cluster configured: set KUBECONFIG, pass --kubeconfig or --server, or create ~/.kube/config")

// restConfig is the client configuration the global flags describe.
func restConfig(flags *genericclioptions.ConfigFlags) (*rest.Config, error) {
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, explainConfigError(err)
	}
	noClientRateLimit(cfg)
	if cfg.Host == "http://localhost:8080" && (flags.APIServer == nil || *flags.APIServer == "") {
		raw, err := flags.ToRawKubeConfigLoader().RawConfig()
		if err == nil && len(raw.Clusters) == 0 {
			return nil, errNoCluster
		}
	}
	return cfg, nil
}

// noClientRateLimit lifts client-go's client-side rate limit unless the caller set one.
func noClientRateLimit(cfg *rest.Config) {
	// client-go's default limiter (5 requests a second, burst 10) otherwise sets the pace:
	// doctor -A spent 22 of its 26 s waiting on it. Concurrency is bounded by the commands'
	// own worker pools, and the API server's Priority and Fairness (on since 1.20, below the
	// oldest supported version) protects the server; a limit set by the caller is kept.
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg.QPS = -1
	}
}

// clusterClient is what a command needs to talk to the cluster the global flags name.
type clusterClient struct {
	client kubernetes.Interface
	// namespace is the kubeconfig's or -n's, or "" for all namespaces.
	namespace string
	// server is the API server's URL, for error messages.
	server string
}

func connect(flags *genericclioptions.ConfigFlags, allNamespaces bool) (clusterClient, error) {
	var c clusterClient
	cfg, err := restConfig(flags)
	if err != nil {
		return c, err
	}
	c.server = cfg.Host
	if !allNamespaces {
		if c.namespace, _, err = flags.ToRawKubeConfigLoader().Namespace(); err != nil {
			return c, explainConfigError(err)
		}
	}
	c.client, err = kubernetes.NewForConfig(cfg)
	return c, err
}
