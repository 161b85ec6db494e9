package diagnose

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
)

// requiredLiterals are strings one of which every match of re contains, found in its syntax
// tree: a log text holding none of them cannot match, and is not scanned line by line with
// re (the patterns grew to sixteen, and doctor -A spent seconds of CPU running each on every
// line of every tail). nil means no such set is known, and re is always run.
func requiredLiterals(re *regexp.Regexp) []string {
	tree, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil
	}
	return literalsOf(tree.Simplify())
}

func literalsOf(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil
		}
		return []string{string(re.Rune)}
	case syntax.OpCapture:
		return literalsOf(re.Sub[0])
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			lits := literalsOf(sub)
			if lits == nil {
				return nil
			}
			out = append(out, lits...)
		}
		return out
	case syntax.OpConcat:
		// Any required part will do: the one whose shortest literal is longest filters best.
		var best []string
		for _, sub := range re.Sub {
			if lits := literalsOf(sub); lits != nil && shortest(lits) > shortest(best) {
				best = lits
			}
		}
		return best
	}
	return nil
}

func shortest(lits []string) int {
	if len(lits) == 0 {
		return 0
	}
	return len(slices.MinFunc(lits, func(a, b string) int { return len(a) - len(b) }))
}

// mayMatch says whether text holds one of hints, a pattern's required literals (nil: unknown,
// so it may).
func mayMatch(text string, hints []string) bool {
	if hints == nil {
		return true
	}
	for _, h := range hints {
		if strings.Contains(text, h) {
			return true
		}
	}
	return false
}
