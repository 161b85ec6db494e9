package diagnose

import (
	"regexp"
	"strings"
	"time"
)

// Registration is what a delegate pod's log tail says about its registration with the
// manager: install's wait and inspect read it with doctor's own log patterns, so that the
// three agree on what a line means.
type Registration struct {
	// Registered: the log's last word on the matter is "Delegate registered with id ...".
	Registered bool
	// DelegateID is the id of the last registration line, At its time when the log was read
	// with timestamps (zero otherwise).
	DelegateID string
	At         time.Time
	// Cause, Fix and Line are the known failure line since the last registration, as
	// doctor words it (empty when there is none).
	Cause, Fix, Line string
}

// Failed says whether the log holds a known failure line since its last registration.
func (r Registration) Failed() bool { return r.Cause != "" }

var registeredIDRE = regexp.MustCompile(`Delegate registered with id\s*:?\s*([^\s,;]*)`)

// ReadRegistration reads a log tail (with or without the kubelet's RFC 3339 timestamp at the
// start of each line, PodLogOptions.Timestamps). It is pure.
func ReadRegistration(text string) Registration {
	failure, line, registered := scanLog(text)
	r := Registration{Registered: registered, Line: line}
	if failure != nil {
		r.Cause, r.Fix = failure.cause, failure.fix
	}
	if !registered {
		return r
	}
	// The last registration line: the one scanLog's verdict rests on.
	end := len(text)
	for end > 0 {
		start := strings.LastIndexByte(text[:end], '\n') + 1
		l := text[start:end]
		if m := registeredIDRE.FindStringSubmatch(l); m != nil {
			r.DelegateID = m[1]
			if stamp, _, ok := strings.Cut(l, " "); ok {
				if at, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
					r.At = at
				}
			}
			break
		}
		end = max(start-1, 0)
	}
	return r
}
