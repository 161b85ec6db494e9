package cmd

import (
	"fmt"
	"io"
	"os"
)

// The size limits of the files the flags name, checked before a file is read whole so that a
// wrong path (a log, an image) fails at once instead of filling memory. Documented in the
// README's "Size limits".
const (
	// limitValues: Helm stores a release's values in a Secret, which holds at most 1 MiB.
	limitValues = 1 << 20
	// limitCA: the bundle goes into a Secret, at most 1 MiB.
	limitCA = 1 << 20
	// limitSecretFile: a delegate token is about 50 bytes, a proxy password a few dozen.
	limitSecretFile = 4 << 10
	// limitInitScript: the script goes into the delegate's ConfigMap beside the rest.
	limitInitScript = 512 << 10
	// limitSupportMatrix: a list of versions.
	limitSupportMatrix = 1 << 20
	// limitECSTaskSpec: ECS refuses task definitions over 64 KiB; room for pretty-printing.
	limitECSTaskSpec = 1 << 20
)

// readLimited reads the file (or stdin for "-") that flag names, refusing one larger than
// limit bytes: by its size before reading when it has one, and by reading at most limit+1
// bytes when it does not (a pipe, stdin). Errors name the flag and the limit.
func readLimited(flag, path string, limit int64, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		defer f.Close()
		if info, err := f.Stat(); err == nil && info.Mode().IsRegular() && info.Size() > limit {
			return nil, tooLarge(flag, path, limit)
		}
		r = f
	} else if stdin == nil {
		return nil, fmt.Errorf("%s: no stdin to read", flag)
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", flag, path, err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(flag, path, limit)
	}
	return data, nil
}

func tooLarge(flag, path string, limit int64) error {
	return fmt.Errorf("%s %s: the file is larger than the limit of %s", flag, path, sizeText(limit))
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
