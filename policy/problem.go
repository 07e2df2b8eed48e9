package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Pos is a position in the policy file: 1-based line and column, as editors
// count them. The zero Pos means "no position".
type Pos struct {
	Line, Col int
}

// String gives LINE:COL.
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Problem is one thing wrong with a policy: where it is, which field, and
// what to do about it.
type Problem struct {
	// File is the policy file as it was named to Load or Parse.
	File string
	// Line and Col locate the offending key or value, 1-based.
	Line, Col int
	// Path names the field in dotted form with list indexes, like
	// routes[2].handler.python; "" for the file as a whole.
	Path string
	// Message says what is wrong and, where it can, what to write instead.
	Message string
}

// String gives the problem on one line as FILE:LINE:COL: PATH: MESSAGE, the
// form compilers use, so editors and terminals can jump to it.
func (p Problem) String() string {
	if p.Path == "" {
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", p.File, p.Line, p.Col, p.Path, p.Message)
}

// Problems is every problem found in a policy, sorted by position. Load and
// Parse return it as a *Problems error; use errors.As to get at the list.
type Problems []Problem

// Error gives one problem per line.
func (ps *Problems) Error() string {
	lines := make([]string, len(*ps))
	for i, p := range *ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sort orders the problems by position and drops exact repeats, so output
// is the same from run to run whatever order the checks found them in.
func (ps *Problems) sort() {
	slices.SortFunc(*ps, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Message, b.Message),
		)
	})
	*ps = slices.Compact(*ps)
}

// Problem builds a Problem for this policy's file at a position kept in the
// compiled form, so that later stages (compiling a plugin, importing a
// Python module) report in the same FILE:LINE:COL form as the checker.
func (p *Policy) Problem(at Pos, path, format string, args ...any) Problem {
	return Problem{File: p.File, Line: at.Line, Col: at.Col, Path: path, Message: fmt.Sprintf(format, args...)}
}
