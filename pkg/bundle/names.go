package bundle

import (
	"fmt"
	"strings"
	"unicode"
)

// Component turns a name read from the cluster (a delegate, namespace, pod, container or
// Job name; DELEGATE_NAME can be any string) into one path component of a bundle member:
// every byte other than an ASCII letter, digit, '-', '_' or '.' is percent-encoded, and "."
// and ".." are encoded whole, so that no name adds a directory level, climbs out of the
// bundle, or carries a control byte into a terminal or an extraction. The encoding is
// url.PathUnescape's inverse, so two different names never share a directory.
func Component(name string) string {
	switch name {
	case "":
		return "%"
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// checkMemberName is the writer's last guard: a member name must be relative and clean
// (what path.Clean leaves alone), with no "." or ".." component, backslash or control byte,
// whatever its caller built it from.
func checkMemberName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: an empty member name", ErrUnsafe)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("%w: member name %q is not a clean relative path", ErrUnsafe, name)
		}
	}
	for _, r := range name {
		if r == '\\' || unicode.IsControl(r) {
			return fmt.Errorf("%w: member name %q holds a backslash or control character", ErrUnsafe, name)
		}
	}
	return nil
}
