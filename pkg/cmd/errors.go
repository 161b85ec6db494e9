package cmd

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/clientcmd"
)

// explainConfigError says what is wrong with the kubeconfig in words a user can act on.
func explainConfigError(err error) error {
	if clientcmd.IsEmptyConfig(err) {
		return errNoCluster
	}
	return fmt.Errorf("reading the kubeconfig: %w", err)
}

// explainServerError turns a failed request into one line that names the server and the
// cause, instead of client-go's nested Get "https://...?timeout=32s": dial tcp ... chain.
func explainServerError(server string, err error) error {
	if err == nil {
		return nil
	}
	// The server answered: the request itself was refused, and saying "cannot reach" would
	// send the user looking in the wrong place.
	var status apierrors.APIStatus
	if errors.As(err, &status) && !apierrors.IsUnauthorized(err) {
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("%w (the user of this kubeconfig lacks that permission: ask for it, or narrow the command, e.g. with -n NAMESPACE)", err)
		}
		return err
	}
	// Only a failed exchange with the server is the server's: a full disk under collect -O
	// or a bad value found while running would otherwise send the user to the cluster.
	var (
		urlErr *url.Error
		netErr *net.OpError // not net.Error: a syscall.Errno such as ENOSPC satisfies that
	)
	if !apierrors.IsUnauthorized(err) && !errors.As(err, &urlErr) && !errors.As(err, &netErr) {
		return err
	}
	return fmt.Errorf("cannot reach the Kubernetes API server at %s: %s", server, rootCause(err))
}

func rootCause(err error) string {
	var (
		dnsErr  *net.DNSError
		certErr *x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invalid x509.CertificateInvalidError
		urlErr  *url.Error
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is the cluster running? check --context and --kubeconfig)"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("host %q not found", dnsErr.Name)
	case errors.As(err, &certErr):
		return "server certificate signed by an unknown authority (check certificate-authority in the kubeconfig)"
	case errors.As(err, &hostErr):
		return fmt.Sprintf("server certificate is not valid for %s", hostErr.Host)
	case errors.As(err, &invalid):
		return "server certificate is invalid: " + invalid.Error()
	case apierrors.IsUnauthorized(err):
		return "credentials rejected (401 Unauthorized): log in again or check the user in the kubeconfig"
	case errors.As(err, &urlErr):
		if urlErr.Timeout() {
			return "timed out (raise --request-timeout, or check the network path to the server)"
		}
		return urlErr.Err.Error()
	}
	return err.Error()
}
