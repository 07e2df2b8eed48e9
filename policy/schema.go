package policy

import (
	"bytes"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The JSON Schema describes the policy's structure for two readers: editors
// (completion, hover text and red squiggles through yaml-language-server)
// and the checker, whose first layer validates against it. What a schema
// cannot say (cross-references, files, trust) is checked in Go afterwards.

//go:embed schema.json
var schemaJSON []byte

// SchemaURL is the schema's $id. Put
//
//	# yaml-language-server: $schema=https://raw.githubusercontent.com/tandemhost/tandem/main/policy/schema.json
//
// at the top of a policy file for editor support.
const SchemaURL = "https://raw.githubusercontent.com/tandemhost/tandem/main/policy/schema.json"

// Schema returns the policy file's JSON Schema (draft 2020-12), the same one
// the checker validates against.
func Schema() []byte { return bytes.Clone(schemaJSON) }

// policySchema is the compiled schema and the schema text as YAML nodes,
// which keep the order of "properties" for messages that list keys.
type policySchema struct {
	compiled *jsonschema.Schema
	tree     *yaml.Node
}

var loadSchema = sync.OnceValues(func() (*policySchema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("policy schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaURL, doc); err != nil {
		return nil, fmt.Errorf("policy schema: %w", err)
	}
	compiled, err := c.Compile(SchemaURL)
	if err != nil {
		return nil, fmt.Errorf("policy schema: %w", err)
	}
	var tree yaml.Node
	if err := yaml.Unmarshal(schemaJSON, &tree); err != nil {
		return nil, fmt.Errorf("policy schema: %w", err)
	}
	return &policySchema{compiled: compiled, tree: tree.Content[0]}, nil
})

// explainers give the message for a value refused by one of the schema's
// $defs, by the def's name: the same functions the decoder reads values
// with. Defs not listed get a message built from the kind of failure.
var explainers = map[string]func(*yaml.Node) error{
	"version":         explain(versionValue),
	"size":            explain(sizeValue),
	"duration":        explain(durationValue),
	"rate":            explain(rateValue),
	"count":           explain(countValue),
	"name":            explain(nameValue),
	"target":          explain(targetValue),
	"file":            explain(fileValue),
	"runtime":         explain(runtimeValue),
	"address":         explain(addressValue),
	"optionalAddress": explain(optionalAddressValue),
	"host":            explain(hostValue),
	"method":          explain(methodValue),
	"routePath":       explain(routePathValue),
	"sha256":          explain(sha256Value),
	"workers":         explain(workersValue),
	"middleware":      explain(middlewareValue),
}

func explain[T any](read func(*yaml.Node) (T, error)) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		_, err := read(n)
		return err
	}
}

// validateSchema validates the document against the schema and reports
// each refused node once, marking it bad for the layers after it.
func validateSchema(d *document) error {
	s, err := loadSchema()
	if err != nil {
		return err
	}
	verr, ok := s.compiled.Validate(d.value).(*jsonschema.ValidationError)
	if !ok {
		return nil
	}
	var leaves []*jsonschema.ValidationError
	collectLeaves(verr, &leaves)

	// Objects with unknown keys: their key count is off too, and saying
	// so would repeat the same mistake.
	unknownKeys := map[string]bool{}
	for _, e := range leaves {
		if _, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
			unknownKeys[strings.Join(e.InstanceLocation, "/")] = true
		}
	}
	// One problem per node: several failed keywords on one value are
	// reduced to the first by a fixed ranking, since the validator's
	// order follows Go map iteration.
	type candidate struct {
		rank     int
		val      *yaml.Node
		at       path
		message  string
		markNode *yaml.Node
	}
	best := map[*yaml.Node]candidate{}
	offer := func(c candidate) {
		if old, ok := best[c.val]; !ok || c.rank < old.rank || (c.rank == old.rank && c.message < old.message) {
			best[c.val] = c
		}
	}
	for _, e := range leaves {
		loc := e.InstanceLocation
		switch k := e.ErrorKind.(type) {
		case *kind.AdditionalProperties:
			known := s.propertyNames(e.SchemaURL)
			for _, name := range k.Properties {
				key, val, at, ok := d.lookup(append(slices.Clone(loc), name))
				if !ok || key == nil {
					continue
				}
				msg := fmt.Sprintf("unknown key %q", name)
				if name == "<<" {
					msg = "YAML merge keys (<<) are not supported in a policy: write the keys out"
				} else if hint := didYouMean(name, known); hint != "" {
					msg += hint
				} else if len(known) > 0 {
					msg += " (expected one of " + strings.Join(known, ", ") + ")"
				}
				offer(candidate{rank: 0, val: key, at: at, message: msg, markNode: val})
			}
		case *kind.PropertyNames:
			// The decoder checks every plugin and tenant name itself.
			// The validator's location for this kind is not reliable:
			// it shares a buffer that later validation overwrites.
			continue
		case *kind.Required:
			_, val, at, ok := d.lookup(loc)
			if !ok {
				continue
			}
			names := make([]string, len(k.Missing))
			for i, m := range k.Missing {
				names[i] = strconv.Quote(m)
			}
			msg := "missing required key " + names[0]
			if len(names) > 1 {
				msg = "missing required keys " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
			}
			if len(k.Missing) == 1 && requiredHints[k.Missing[0]] != "" {
				msg += ": " + requiredHints[k.Missing[0]]
			}
			// Keyed by a fresh node so that it never displaces a
			// problem with the object's value.
			offer(candidate{rank: 0, val: &yaml.Node{Line: val.Line, Column: val.Column}, at: at, message: msg})
		default:
			if _, ok := e.ErrorKind.(*kind.MaxProperties); ok && unknownKeys[strings.Join(loc, "/")] {
				continue
			}
			_, val, at, ok := d.lookup(loc)
			if !ok {
				continue
			}
			msg := s.message(e, val)
			offer(candidate{rank: kindRank(e.ErrorKind), val: val, at: at, message: msg, markNode: val})
		}
	}
	for _, c := range best {
		d.add(c.val.Line, c.val.Column, c.at, c.message)
		if c.markNode != nil {
			d.bad[c.markNode] = true
		}
	}
	return nil
}

// requiredHints say what to write for a missing required key.
var requiredHints = map[string]string{
	"version": "start the file with version: 1",
	"routes":  "add at least one route",
	"path":    "give the route's URL path, like /hello/:name",
	"handler": "give exactly one of python, wsgi, wasm or plugin",
	"wasm":    "give the path of the plugin's .wasm module",
	"python":  "write {python: module:function}",
}

// SchemaFailures are the innermost errors of a JSON Schema validation
// error: the specific failures, not the "validation failed" wrappers
// around them. A propertyNames error is kept whole because its causes are
// located relative to the key. The host reports a body_schema's failures
// with it, as the checker reports a policy's.
func SchemaFailures(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	var out []*jsonschema.ValidationError
	collectLeaves(e, &out)
	return out
}

// collectLeaves appends SchemaFailures(e) to out.
func collectLeaves(e *jsonschema.ValidationError, out *[]*jsonschema.ValidationError) {
	if _, ok := e.ErrorKind.(*kind.PropertyNames); ok || len(e.Causes) == 0 {
		*out = append(*out, e)
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, out)
	}
}

// kindRank orders failures of one value from the most to the least telling.
func kindRank(k jsonschema.ErrorKind) int {
	switch k.(type) {
	case *kind.Type:
		return 1
	case *kind.Const, *kind.Enum:
		return 2
	case *kind.Pattern, *kind.MinLength:
		return 3
	case *kind.Minimum:
		return 4
	}
	return 5
}

// message words a failure of value val, preferring the Go explainer of the
// $def the failing schema is.
func (s *policySchema) message(e *jsonschema.ValidationError, val *yaml.Node) string {
	if name := defName(e.SchemaURL); name != "" {
		if ex := explainers[name]; ex != nil {
			if err := ex(val); err != nil {
				return err.Error()
			}
		}
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		if len(e.InstanceLocation) == 0 {
			return fmt.Sprintf("a policy is a mapping of version, server, python, sandbox, plugins, tenants and routes, got %s", describe(val))
		}
		wants := make([]string, len(k.Want))
		for i, w := range k.Want {
			wants[i] = jsonTypeNames[w]
		}
		return expected(val, strings.Join(wants, " or "), slices.Contains(k.Want, "string")).Error()
	case *kind.Enum:
		allowed := make([]string, len(k.Want))
		for i, w := range k.Want {
			allowed[i] = fmt.Sprint(w)
		}
		return oneOfError(val, allowed).Error()
	case *kind.MinProperties, *kind.MaxProperties:
		keys := s.propertyNames(e.SchemaURL)
		got := "none"
		if n := len(val.Content) / 2; n > 0 {
			var names []string
			for i := 0; i+1 < len(val.Content); i += 2 {
				names = append(names, val.Content[i].Value)
			}
			got = strings.Join(names, " and ")
		}
		return fmt.Sprintf("expected exactly one of %s, got %s", strings.Join(keys, ", "), got)
	case *kind.MinItems:
		return "expected at least one entry, got an empty list" + emptyListHints[lastKey(e.InstanceLocation)]
	case *kind.MinLength:
		return "expected a value, got an empty string"
	case *kind.Minimum:
		return fmt.Sprintf("expected %s or more, got %s", k.Want.RatString(), describe(val))
	}
	return e.ErrorKind.LocalizedString(message.NewPrinter(language.English))
}

var emptyListHints = map[string]string{
	"methods": " (leave methods out to serve every method)",
	"hosts":   " (leave hosts out if the tenant has none)",
	"routes":  " (add at least one route)",
}

func lastKey(loc []string) string {
	if len(loc) == 0 {
		return ""
	}
	return loc[len(loc)-1]
}

var jsonTypeNames = map[string]string{
	"object":  "a mapping",
	"array":   "a list",
	"string":  "a string",
	"integer": "a whole number",
	"number":  "a number",
	"boolean": "true or false",
	"null":    "an empty value",
}

// defName is NAME when the schema location is exactly #/$defs/NAME.
func defName(schemaURL string) string {
	_, frag, _ := strings.Cut(schemaURL, "#")
	name, ok := strings.CutPrefix(frag, "/$defs/")
	if !ok || strings.Contains(name, "/") {
		return ""
	}
	return name
}

// propertyNames lists, in schema order, the keys the schema at schemaURL
// allows.
func (s *policySchema) propertyNames(schemaURL string) []string {
	_, frag, _ := strings.Cut(schemaURL, "#")
	n := s.tree
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		if n = mappingValue(n, tok); n == nil {
			return nil
		}
	}
	props := mappingValue(n, "properties")
	if props == nil {
		return nil
	}
	var names []string
	for i := 0; i+1 < len(props.Content); i += 2 {
		names = append(names, props.Content[i].Value)
	}
	return names
}

// mappingValue returns the value of key in mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
