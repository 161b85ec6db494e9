// Package cmd holds the plugin's commands: flags and the Complete/Validate/Run steps of each.
// It is the only package that knows about cobra or prints to the terminal.
package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	// Authentication plugins (OIDC and friends) that kubeconfigs may name, as kubectl has them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/klog/v2"
)

// maxVerbosity is the highest -v honoured: client-go logs request headers (credentials
// masked) at 7, and response bodies from 8 on, which would print Secret data (the delegate
// token) that inspect, doctor and collect read.
const maxVerbosity = 7

// NewRootCommand builds `kubectl delegate` with kubectl's global flags and every subcommand.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	return NewRootCommandWithFlags(genericclioptions.NewConfigFlags(true), streams)
}

// NewRootCommandWithFlags is NewRootCommand with the caller's ConfigFlags, e.g. one whose
// WrapConfigFn counts the requests a command makes.
func NewRootCommandWithFlags(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-delegate",
		Short: "Install, upgrade, inspect and diagnose Harness delegates on Kubernetes",
		Long: `kubectl delegate installs, upgrades, inspects and diagnoses Harness delegates on
Kubernetes, and collects support bundles when a delegate will not come up.`,
		Annotations: map[string]string{
			// Usage, help and error messages then say "kubectl delegate", as a user types it.
			cobra.CommandDisplayNameAnnotation: "kubectl delegate",
		},
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	configFlags.AddFlags(root.PersistentFlags())
	var verbosity int
	root.PersistentFlags().IntVarP(&verbosity, "v", "v", 0, "Log level of the Kubernetes client, as kubectl's -v: 6 logs each request's method, URL, status and latency; capped at 7, since higher levels print response bodies that carry Secret data")
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return applyVerbosity(verbosity, streams.ErrOut) }

	root.AddCommand(
		NewVersionCommand(configFlags, streams),
		NewListCommand(configFlags, streams),
		NewInspectCommand(configFlags, streams),
		NewDoctorCommand(configFlags, streams),
		NewInstallCommand(configFlags, streams),
		NewUpgradeCommand(configFlags, streams),
		NewUninstallCommand(configFlags, streams),
		NewCollectCommand(configFlags, streams),
	)
	return root
}

// applyVerbosity sets klog's level, which client-go's request logging reads.
func applyVerbosity(level int, warn io.Writer) error {
	if level < 0 {
		return fmt.Errorf("-v: %d is not a log level (0 to %d)", level, maxVerbosity)
	}
	if level > maxVerbosity {
		fmt.Fprintf(warn, "Warning: -v=%d would print response bodies with Secret data; using -v=%d\n", level, maxVerbosity)
		level = maxVerbosity
	}
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	return fs.Set("v", strconv.Itoa(level))
}

// options is what every command's Options implement: kubectl's Complete/Validate/Run.
type options interface {
	Complete() error
	Validate() error
	Run(ctx context.Context) error
}

// runOptions is the RunE of a command: complete, validate, then run.
func runOptions(ctx context.Context, o options) error {
	if err := o.Complete(); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return flagErrors(err)
	}
	return flagErrors(o.Run(ctx))
}

// exitError carries an exit code other than 1 out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// Execute runs the command and turns its error into kubectl's one-line "error: ..." on
// stderr and an exit code.
func Execute(root *cobra.Command, streams genericiooptions.IOStreams) int {
	err := root.Execute()
	if err == nil {
		return 0
	}
	var exit *exitError
	if errors.As(err, &exit) {
		// A verdict carried as an exit code (doctor's 3 and 4) has been reported already.
		if exit.err != nil {
			fmt.Fprintf(streams.ErrOut, "error: %v\n", exit.err)
		}
		return exit.code
	}
	fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
	return 1
}
