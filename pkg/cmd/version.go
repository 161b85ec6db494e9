package cmd

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"

	"github.com/kubectl-delegate/kubectl-delegate/internal/buildinfo"
)

// ClientVersion is what the binary knows about itself.
type ClientVersion struct {
	Version   string `json:"version"`
	GitCommit string `json:"gitCommit"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// VersionInfo is the document `version -o json|yaml|jsonpath|go-template` prints.
type VersionInfo struct {
	ClientVersion ClientVersion `json:"clientVersion"`
	// ServerVersion is absent with --client, or when the server could not be reached.
	ServerVersion *version.Info `json:"serverVersion,omitempty"`
}

// VersionOptions are the inputs of `kubectl delegate version`.
type VersionOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Output     string
	ClientOnly bool

	discovery discovery.DiscoveryInterface
	server    string
	// connectErr is a kubeconfig problem found by Complete; Run reports it after printing
	// the client version, which needs no cluster.
	connectErr error
}

// NewVersionCommand builds `kubectl delegate version`.
func NewVersionCommand(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &VersionOptions{configFlags: configFlags, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version and the cluster's Kubernetes version",
		Example: `  # The plugin's and the cluster's versions
  kubectl delegate version

  # As JSON, for scripts
  kubectl delegate version -o json

  # Only the cluster's Kubernetes version, with kubectl's JSONPath
  kubectl delegate version -o jsonpath='{.serverVersion.gitVersion}'

  # Only the plugin's version; the cluster is not contacted
  kubectl delegate version --client`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runOptions(cmd.Context(), o)
		},
	}
	addOutputFlag(cmd, &o.Output, "text")
	cmd.Flags().BoolVar(&o.ClientOnly, "client", false, "Print only the plugin's version; do not contact the cluster")
	return cmd
}

// Complete builds the discovery client unless only the client version is wanted.
func (o *VersionOptions) Complete() error {
	if o.ClientOnly {
		return nil
	}
	cfg, err := restConfig(o.configFlags)
	if err != nil {
		o.connectErr = err
		return nil
	}
	o.server = cfg.Host
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		o.connectErr = explainConfigError(err)
		return nil
	}
	o.discovery = dc
	return nil
}

// Validate checks the flags.
func (o *VersionOptions) Validate() error {
	return validateOutput(o.Output, "text")
}

// Run prints the client version, then the server's. When the server cannot be reached the
// client part is still printed and the error names the server.
func (o *VersionOptions) Run(context.Context) error {
	info := VersionInfo{ClientVersion: currentClientVersion()}
	serverErr := o.connectErr
	if !o.ClientOnly && serverErr == nil {
		sv, err := o.discovery.ServerVersion()
		if err != nil {
			serverErr = explainServerError(o.server, err)
		} else {
			info.ServerVersion = sv
		}
	}
	if err := printVersion(o.Out, o.Output, info); err != nil {
		return err
	}
	return serverErr
}

func currentClientVersion() ClientVersion {
	return ClientVersion{
		Version:   buildinfo.Version,
		GitCommit: buildinfo.Commit,
		BuildDate: buildinfo.Date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}

func printVersion(w io.Writer, format string, info VersionInfo) error {
	if format != "" {
		// -o name names the plugin's version: version/v1.2.3.
		return printDocument(w, format, info, "Version", []string{info.ClientVersion.Version})
	}
	c := info.ClientVersion
	fmt.Fprintf(w, "Client Version: %s (commit %s, built %s, %s, %s)\n", c.Version, c.GitCommit, c.BuildDate, c.GoVersion, c.Platform)
	if info.ServerVersion != nil {
		fmt.Fprintf(w, "Server Version: %s\n", info.ServerVersion.GitVersion)
	}
	return nil
}
