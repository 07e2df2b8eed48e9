package policy

import (
	"fmt"
	"strings"
)

// didYouMean returns ` (did you mean "X"?)` for the option closest to got,
// or "" when none is close enough to be a likely typo.
func didYouMean(got string, options []string) string {
	best, bestDist := "", -1
	for _, o := range options {
		d := editDistance(strings.ToLower(got), strings.ToLower(o))
		if d == 0 && got != o {
			// Differs only in case: the likeliest mistake of all.
			return fmt.Sprintf(" (did you mean %q?)", o)
		}
		if bestDist < 0 || d < bestDist {
			best, bestDist = o, d
		}
	}
	// A third of the word may be wrong, but at least one edit is allowed
	// and a guess never replaces the whole word.
	limit := max(1, len(got)/3)
	if bestDist > 0 && bestDist <= limit && bestDist < len(got) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// editDistance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours each count
// one, since "raed" for "read" is as likely a slip as "rad". It counts
// bytes; the words compared are ASCII keys and names.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
