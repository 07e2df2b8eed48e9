package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// document is a policy file parsed into YAML nodes, which keep the line and
// column of every key and value, together with the problems found so far
// and the nodes already known to be wrong.
type document struct {
	file string
	// root is the top-level node of the file's only YAML document; nil when
	// the file could not be parsed or holds nothing.
	root *yaml.Node
	// value is root as the plain Go values (map[string]any, []any, string,
	// int64, float64, bool, nil) a JSON Schema validator works on.
	value any
	// bad holds the nodes a problem was already reported for. Later layers
	// skip them, so that one mistake yields one problem and not a cascade.
	bad      map[*yaml.Node]bool
	problems Problems
}

// path names a field the way problems show it: routes[2].handler.python.
type path string

func (p path) key(k string) path {
	if p == "" {
		return path(k)
	}
	return p + "." + path(k)
}

func (p path) index(i int) path { return p + path("["+strconv.Itoa(i)+"]") }

func (d *document) add(line, col int, at path, msg string) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Col: col, Path: string(at), Message: msg})
}

// reject reports a problem with node n and marks it bad.
func (d *document) reject(n *yaml.Node, at path, msg string) {
	d.add(n.Line, n.Column, at, msg)
	d.bad[n] = true
}

// readDocument parses data as YAML and converts it for the schema
// validator, reporting syntax errors and what the policy format refuses
// although YAML allows it: duplicate keys, aliases, unusual tags.
func readDocument(file string, data []byte) *document {
	d := &document{file: file, bad: map[*yaml.Node]bool{}}
	root, err := parseYAML(data)
	if err != nil {
		d.syntaxError(data, err)
		return d
	}
	if root == nil {
		d.add(1, 1, "", `the policy is empty: it needs at least "version: 1" and one route under "routes:"`)
		return d
	}
	d.root = root
	d.value = d.convert(root, "")
	return d
}

// errSecondDocument carries the line of a second YAML document.
type errSecondDocument struct{ line int }

func (e errSecondDocument) Error() string { return "second document" }

// parseYAML returns the top-level node of the only document in data, or nil
// when data holds no document at all (empty, or only comments).
func parseYAML(data []byte) (root *yaml.Node, err error) {
	// The YAML library is a large state machine fed untrusted bytes; a bug
	// in it must become a problem report, not take the server down on a
	// reload.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml: cannot parse this file (%v)", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, err
	case len(next.Content) > 0:
		return nil, errSecondDocument{line: next.Line}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlErrorLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the messages of the YAML parser, as opposed to its
// scanner: their line numbers need correcting (see syntaxError).
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found undefined tag handle":             true,
	"found duplicate %YAML directive":        true,
	"found duplicate %TAG directive":         true,
	"found incompatible YAML document":       true,
}

// syntaxError turns the YAML library's error into a problem. The library
// only reports a line; the column given is where that line's text starts,
// which is where a reader looks first.
func (d *document) syntaxError(data []byte, err error) {
	var second errSecondDocument
	if errors.As(err, &second) {
		d.add(second.line, 1, "", "a policy file holds one YAML document: remove this second one (and the --- before it)")
		return
	}
	line, msg := 1, err.Error()
	if m := yamlErrorLine.FindStringSubmatch(msg); m != nil {
		if m[1] != "" {
			line, _ = strconv.Atoi(m[1])
		}
		msg = m[2]
		// The library counts lines from 0 in parser errors and from 1 in
		// scanner errors; without a number the line is the first.
		if parserProblems[msg] && m[1] != "" {
			line++
		}
	}
	lines := strings.Split(string(data), "\n")
	line = max(1, min(line, len(lines)))
	// Tabs are the classic YAML mistake and the library's wording ("found
	// character that cannot start any token") does not say so; it also
	// reports the line of the value being read, which may be the one
	// before the tab.
	if strings.Contains(msg, "tab character") || strings.Contains(msg, "cannot start any token") {
		for i := line - 1; i < len(lines); i++ {
			text := lines[i]
			indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
			if tab := strings.IndexByte(indent, '\t'); tab >= 0 {
				d.add(i+1, tab+1, "", "tab character in indentation: YAML indents with spaces only")
				return
			}
		}
	}
	text := lines[line-1]
	col := 1
	if i := strings.IndexFunc(text, func(r rune) bool { return r != ' ' && r != '\t' }); i >= 0 {
		col = utf8.RuneCountInString(text[:i]) + 1
	}
	hint := ""
	switch {
	case strings.Contains(msg, "mapping values are not allowed"):
		hint = ` (a value containing ": " must be quoted)`
	case strings.Contains(msg, "did not find expected key"):
		hint = " (check the indentation of this block)"
	case strings.Contains(msg, "unexpected end of stream"):
		hint = " (is a quote or bracket left open?)"
	case strings.Contains(msg, "unknown anchor"):
		hint = " (aliases are not supported in a policy: write the value out)"
	}
	d.add(line, col, "", "YAML syntax error: "+msg+hint)
}

// convert turns node n at path at into plain values for the validator.
// Constructs the policy format refuses are reported here, once, and become
// nil, which no schema accepts; the validator's report on them is dropped
// because the node is bad.
func (d *document) convert(n *yaml.Node, at path) any {
	if tag := n.ShortTag(); strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(tag, "!!") {
		d.reject(n, at, fmt.Sprintf("YAML tag %s is not supported in a policy: remove it", n.Tag))
		return nil
	}
	switch n.Kind {
	case yaml.AliasNode:
		// An alias makes one value appear in several places, and a
		// policy is the security boundary: every value is written where
		// it applies, so that reading the file shows what is enforced.
		d.reject(n, at, fmt.Sprintf("YAML aliases (*%s) are not supported in a policy: write the value out", n.Value))
		return nil
	case yaml.SequenceNode:
		items := make([]any, len(n.Content))
		for i, c := range n.Content {
			items[i] = d.convert(c, at.index(i))
		}
		return items
	case yaml.MappingNode:
		obj := make(map[string]any, len(n.Content)/2)
		first := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.reject(k, at, "a key must be a plain name, not "+describe(k))
				d.bad[v] = true
				continue
			}
			if prev := first[k.Value]; prev != nil {
				d.reject(k, at.key(k.Value), fmt.Sprintf("duplicate key %q: already set at line %d", k.Value, prev.Line))
				d.bad[v] = true
				continue
			}
			first[k.Value] = k
			obj[k.Value] = d.convert(v, at.key(k.Value))
		}
		return obj
	case yaml.ScalarNode:
		return d.scalar(n, at)
	}
	return nil
}

// scalar converts a YAML scalar by its resolved tag.
func (d *document) scalar(n *yaml.Node, at path) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!int":
		var i int64
		if n.Decode(&i) == nil {
			return i
		}
		d.reject(n, at, fmt.Sprintf("number %s is out of range", n.Value))
		return nil
	case "!!float":
		var f float64
		if n.Decode(&f) == nil && f-f == 0 {
			return f
		}
		// .inf and .nan are not JSON numbers; as text they still get a
		// plain "expected X, got .inf" from the checks.
		return n.Value
	case "!!str", "!!timestamp":
		// A plain 2024-01-02 resolves to a timestamp; no policy field is
		// a date, so it is treated as the text it is.
		return n.Value
	}
	d.reject(n, at, fmt.Sprintf("YAML tag %s is not supported in a policy: remove it", n.ShortTag()))
	return nil
}

// lookup finds the key and value nodes at a JSON-pointer-like location, as
// the schema validator reports it. ok is false where the location does not
// exist or passes through a node already reported bad.
func (d *document) lookup(loc []string) (key, val *yaml.Node, at path, ok bool) {
	val = d.root
	for _, tok := range loc {
		if d.bad[val] {
			return nil, nil, "", false
		}
		switch val.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(val.Content); i += 2 {
				if k := val.Content[i]; k.Kind == yaml.ScalarNode && k.Value == tok {
					key, val, found = k, val.Content[i+1], true
					at = at.key(tok)
					break
				}
			}
			if !found {
				return nil, nil, "", false
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(val.Content) {
				return nil, nil, "", false
			}
			key, val, at = nil, val.Content[i], at.index(i)
		default:
			return nil, nil, "", false
		}
	}
	if d.bad[val] || (key != nil && d.bad[key]) {
		return nil, nil, "", false
	}
	return key, val, at, true
}

// describe names a node's value for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "an empty value"
		case "!!str", "!!timestamp":
			return quote(n.Value)
		}
		return n.Value
	}
	return "nothing"
}

// quote quotes s for a message, shortening long values: the position
// already says where the whole value is.
func quote(s string) string {
	const limit = 40
	if utf8.RuneCountInString(s) > limit {
		s = string([]rune(s)[:limit-3]) + "..."
	}
	return strconv.Quote(s)
}
