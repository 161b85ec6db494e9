// Package delegate knows what a Harness delegate is: how to find one in a cluster, however
// it was installed, and what its image tag says about its version and support.
package delegate

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/distribution/reference"
)

// Image is a container image reference split into what matters for a delegate.
type Image struct {
	// Repository is the image without tag or digest, e.g. harness/delegate or
	// us-docker.pkg.dev/gar-prod-setup/harness-public/harness/delegate.
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
}

// ParseImage splits an image reference with distribution/reference, the parser container
// runtimes use. Repository is the name as written, not normalised: harness/delegate stays
// harness/delegate (not docker.io/harness/delegate), as kubectl shows it and as the
// delegate's identity checks expect. A reference no runtime could pull is kept whole as
// the Repository, with no tag or digest.
func ParseImage(ref string) Image {
	parsed, err := reference.Parse(ref)
	if err != nil {
		return Image{Repository: ref}
	}
	var img Image
	if named, ok := parsed.(reference.Named); ok {
		img.Repository = named.Name()
	}
	if tagged, ok := parsed.(reference.Tagged); ok {
		img.Tag = tagged.Tag()
	}
	if digested, ok := parsed.(reference.Digested); ok {
		img.Digest = digested.Digest().String()
	}
	return img
}

// Version is a delegate release as its image tag names it: yy.mm.verno, e.g. 25.10.87000,
// with the suffix .minimal for the image without client tools.
type Version struct {
	Year    int  `json:"year"`
	Month   int  `json:"month"`
	Build   int  `json:"build"`
	Minimal bool `json:"minimal"`
}

// String gives the version as tagged, without the .minimal suffix.
func (v Version) String() string {
	return fmt.Sprintf("%02d.%02d.%d", v.Year%100, v.Month, v.Build)
}

// Released is the first day of the release month: the tag carries no finer date.
func (v Version) Released() time.Time {
	return time.Date(v.Year, time.Month(v.Month), 1, 0, 0, 0, 0, time.UTC)
}

var delegateTagRE = regexp.MustCompile(`^(\d{2})\.(\d{2})\.(\d{1,7})(\.minimal)?$`)

// ParseVersion reads a delegate image tag. `latest` (the deprecated legacy image), digests
// without a tag and anything not shaped yy.mm.verno give ok=false: the version is unknown,
// not guessed.
func ParseVersion(tag string) (v Version, ok bool) {
	m := delegateTagRE.FindStringSubmatch(tag)
	if m == nil {
		return Version{}, false
	}
	yy, _ := strconv.Atoi(m[1])
	mm, _ := strconv.Atoi(m[2])
	build, _ := strconv.Atoi(m[3])
	if mm < 1 || mm > 12 {
		return Version{}, false
	}
	return Version{Year: 2000 + yy, Month: mm, Build: build, Minimal: m[4] != ""}, true
}

// SupportStatus says where a release stands in Harness's support window.
type SupportStatus string

const (
	// Supported releases are less than 6 months old.
	Supported SupportStatus = "supported"
	// EndOfSupport releases are 6 to 8 months old: they still run, but Harness no longer
	// supports them.
	EndOfSupport SupportStatus = "end-of-support"
	// EndOfLife releases are 8 months old or more.
	EndOfLife SupportStatus = "end-of-life"
	// UnknownSupport is for tags that name no release (latest, digests, custom tags).
	UnknownSupport SupportStatus = "unknown"
)

// Months after the release month at which support ends and life ends (Harness delegate
// support policy).
const (
	supportMonths = 6
	lifeMonths    = 8
)

// Support is a release's support status at a given time, with the dates behind it.
type Support struct {
	Status       SupportStatus `json:"status"`
	Released     *time.Time    `json:"released,omitempty"`
	EndOfSupport *time.Time    `json:"endOfSupport,omitempty"`
	EndOfLife    *time.Time    `json:"endOfLife,omitempty"`
}

// SupportAt computes the support status of an image tag at now.
func SupportAt(tag string, now time.Time) Support {
	v, ok := ParseVersion(tag)
	if !ok {
		return Support{Status: UnknownSupport}
	}
	released := v.Released()
	eos := released.AddDate(0, supportMonths, 0)
	eol := released.AddDate(0, lifeMonths, 0)
	s := Support{Released: &released, EndOfSupport: &eos, EndOfLife: &eol}
	switch {
	case now.Before(eos):
		s.Status = Supported
	case now.Before(eol):
		s.Status = EndOfSupport
	default:
		s.Status = EndOfLife
	}
	return s
}
