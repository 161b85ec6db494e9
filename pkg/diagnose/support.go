package diagnose

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/yaml"
)

// SupportMatrix is the list of Kubernetes versions Harness documents delegate support for.
// It is data: `doctor --support-matrix FILE` replaces it.
type SupportMatrix struct {
	Source   string   `json:"source"`
	Versions []string `json:"versions"`
}

//go:embed support-matrix.yaml
var defaultSupportMatrix []byte

// DefaultSupportMatrix is the embedded list, from the Harness docs.
func DefaultSupportMatrix() SupportMatrix {
	m, err := ParseSupportMatrix(defaultSupportMatrix)
	if err != nil {
		// The embedded file is checked by the tests; reaching this is a build mistake.
		panic(err)
	}
	return m
}

// ParseSupportMatrix reads a support matrix file: YAML or JSON with `versions`, each a full
// Kubernetes release like 1.27.8.
func ParseSupportMatrix(data []byte) (SupportMatrix, error) {
	var m SupportMatrix
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		return SupportMatrix{}, fmt.Errorf("support matrix: %w (expected versions: [1.27.8, ...])", err)
	}
	if len(m.Versions) == 0 {
		return SupportMatrix{}, fmt.Errorf("support matrix: versions is empty (expected versions: [1.27.8, ...])")
	}
	for _, v := range m.Versions {
		if _, err := version.ParseGeneric(v); err != nil || strings.Count(strings.TrimPrefix(v, "v"), ".") != 2 {
			return SupportMatrix{}, fmt.Errorf("support matrix: %q is not a Kubernetes release like 1.27.8", v)
		}
	}
	return m, nil
}

// parsed is the matrix as versions, lowest first.
func (m SupportMatrix) parsed() []*version.Version {
	out := make([]*version.Version, 0, len(m.Versions))
	for _, v := range m.Versions {
		if pv, err := version.ParseGeneric(v); err == nil {
			out = append(out, pv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LessThan(out[j]) })
	return out
}
