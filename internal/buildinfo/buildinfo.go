// Package buildinfo holds what the release build stamps into the binary.
package buildinfo

// Set with -ldflags "-X github.com/kubectl-delegate/kubectl-delegate/internal/buildinfo.Version=..."
// by the Makefile and GoReleaser; the defaults say plainly that the binary was not stamped.
var (
	Version = "v0.0.0-dev"
	Commit  = "unknown"
	Date    = "unknown"
)
