// Package stuckserver is an API server that is up and never answers, for the tests of what
// the plugin does then (deadlines, Ctrl-C, one context of many stuck).
package stuckserver

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Start starts an HTTPS server that completes the TLS handshake and never answers a request
// (an overloaded API server, or a proxy that holds connections) and returns its URL; the
// test's clean-up stops it. A listener that never completes the handshake would not do: it
// is cut by client-go's 10 s TLS handshake timeout, while an unanswered request is not.
func Start(t testing.TB) string {
	t.Helper()
	stop := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first: Close waits for the handlers
	return srv.URL
}
