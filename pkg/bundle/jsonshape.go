package bundle

import "fmt"

// JSONLimits bound the shape of a JSON document before it is decoded into typed objects:
// bytes alone do not bound the cost, since a few MB of "{}," decode into millions of
// structs (a 6 KB bundle took 3.5 GB before these limits).
type JSONLimits struct {
	// MaxItems is the most elements of one list or members of one object (default 100,000).
	MaxItems int
	// MaxContainers is the most lists and objects in the document (default 2,000,000).
	MaxContainers int
	// MaxStringBytes is the longest string or key (default 16 MiB; log tails are 256 KiB).
	MaxStringBytes int
	// MaxDepth is the deepest nesting (default 64).
	MaxDepth int
}

func (l *JSONLimits) defaults() {
	if l.MaxItems <= 0 {
		l.MaxItems = 100_000
	}
	if l.MaxContainers <= 0 {
		l.MaxContainers = 2_000_000
	}
	if l.MaxStringBytes <= 0 {
		l.MaxStringBytes = 16 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 64
	}
}

// checkJSONShape scans data once, without allocating per value, and refuses it when it
// exceeds the limits. It does not validate the syntax: the decoder that follows does.
func checkJSONShape(data []byte, l JSONLimits) error {
	// items[i] counts the commas of the i-th open container: it holds one item more.
	var items []int
	containers := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			end, err := stringEnd(data, i, l.MaxStringBytes)
			if err != nil {
				return err
			}
			i = end
		case '{', '[':
			if containers++; containers > l.MaxContainers {
				return fmt.Errorf("%w: more than %d lists or objects", ErrUnsafe, l.MaxContainers)
			}
			if len(items) == l.MaxDepth {
				return fmt.Errorf("%w: nested deeper than %d (at byte %d)", ErrUnsafe, l.MaxDepth, i)
			}
			items = append(items, 0)
		case '}', ']':
			if len(items) > 0 {
				items = items[:len(items)-1]
			}
		case ',':
			if len(items) > 0 {
				if items[len(items)-1]++; items[len(items)-1]+1 > l.MaxItems {
					return fmt.Errorf("%w: a list or object of more than %d items (at byte %d)", ErrUnsafe, l.MaxItems, i)
				}
			}
		}
	}
	return nil
}

// stringEnd returns the index of the quote closing the string that opens at data[start].
func stringEnd(data []byte, start, maxBytes int) (int, error) {
	for i := start + 1; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			if i-start-1 > maxBytes {
				return 0, fmt.Errorf("%w: a string longer than %d bytes (at byte %d)", ErrUnsafe, maxBytes, start)
			}
			return i, nil
		}
	}
	return len(data), nil
}
