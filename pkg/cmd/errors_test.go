package cmd

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// clientGoError wraps a cause the way client-go's REST client does for a failed GET.
func clientGoError(cause error) error {
	return &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/version?timeout=32s", Err: cause}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestExplainServerError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"connection refused", clientGoError(refused), "connection refused"},
		{"unknown host", clientGoError(&net.OpError{Op: "dial", Err: &net.DNSError{Name: "k8s.example", Err: "no such host"}}), `host "k8s.example" not found`},
		{"timeout", clientGoError(timeoutErr{}), "timed out"},
		{"unknown authority", clientGoError(x509.UnknownAuthorityError{}), "unknown authority"},
		{"wrong host in certificate", clientGoError(x509.HostnameError{Host: "10.1.2.3", Certificate: &x509.Certificate{}}), "not valid for 10.1.2.3"},
		{"unauthorized", apierrors.NewUnauthorized("bad token"), "credentials rejected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := explainServerError("https://127.0.0.1:6443", tc.err).Error()
			if !strings.HasPrefix(got, "cannot reach the Kubernetes API server at https://127.0.0.1:6443: ") {
				t.Errorf("does not name the server: %q", got)
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want it to contain %q", got, tc.want)
			}
			if strings.Contains(got, "\n") || strings.Contains(got, "?timeout=") {
				t.Errorf("not one clean line: %q", got)
			}
		})
	}
	forbidden := explainServerError("https://127.0.0.1:6443", fmt.Errorf("listing deployments in all namespaces: %w",
		apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "", errors.New("no"))))
	if !apierrors.IsForbidden(forbidden) || strings.Contains(forbidden.Error(), "cannot reach") || !strings.Contains(forbidden.Error(), "-n NAMESPACE") {
		t.Errorf("a refusal is not an unreachable server: %v", forbidden)
	}
	// Errors that are not about the connection are not blamed on the server: a full disk
	// under collect -O, a bad flag value found while running.
	for _, local := range []error{
		errors.New("something odd"),
		fmt.Errorf("writing the bundle: %w", &os.PathError{Op: "write", Path: "/tmp/b.tar.gz", Err: syscall.ENOSPC}),
		fmt.Errorf("--role: no Role or ClusterRole named %q", "x"),
	} {
		if got := explainServerError("https://127.0.0.1:6443", local); got.Error() != local.Error() {
			t.Errorf("%v was reported as %q", local, got)
		}
	}
	if explainServerError("x", nil) != nil {
		t.Error("a nil error must stay nil")
	}
}
