package diagnose

import (
	"testing"
	"time"
)

func TestReadRegistration(t *testing.T) {
	at := time.Date(2026, 11, 30, 16, 0, 5, 123000000, time.UTC)
	tests := []struct {
		name, log          string
		registered, failed bool
		id                 string
		at                 time.Time
		cause              string
	}{
		{name: "empty"},
		{name: "starting only", log: "Starting delegate\n"},
		{name: "registered", log: "Starting delegate\nDelegate registered with id abc-123\n", registered: true, id: "abc-123"},
		{name: "registered with timestamps",
			log:        "2026-11-30T16:00:00Z Starting delegate\n2026-11-30T16:00:05.123Z Delegate registered with id xYz_9 \n",
			registered: true, id: "xYz_9", at: at},
		{name: "invalid token", log: "Starting delegate\nDelegate used invalid token. Self destruct procedure will be initiated.\n",
			failed: true, cause: "the delegate's token is wrong or was deleted"},
		{name: "registered after a failure", log: "Connection check to Harness manager failed\nDelegate registered with id A\n",
			registered: true, id: "A"},
		{name: "failure after registering", log: "Delegate registered with id A\nDelegate used invalid token.\n",
			failed: true, cause: "the delegate's token is wrong or was deleted"},
		{name: "no trailing newline", log: "Delegate registered with id B", registered: true, id: "B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ReadRegistration(tt.log)
			if r.Registered != tt.registered || r.Failed() != tt.failed || r.DelegateID != tt.id || !r.At.Equal(tt.at) || r.Cause != tt.cause {
				t.Errorf("got %+v", r)
			}
			if r.Failed() && (r.Fix == "" || r.Line == "") {
				t.Errorf("a failure without its fix or line: %+v", r)
			}
		})
	}
}
