package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// docsPolicy is the reference whose Keys table the tests below hold to the
// schema, as read from this package's directory.
const docsPolicy = "../docs/policy.md"

// docsKey is one row of the Keys table: its key and the line it is on.
type docsKey struct {
	key  string
	line int
}

var (
	// tableSeparator is the |---|---| line under a table's header.
	tableSeparator = regexp.MustCompile(`^\|[\s:|-]+\|$`)
	// backtickedKey is a key cell: one key in backticks, as `routes[].limits.timeout`.
	backtickedKey = regexp.MustCompile("^`([A-Za-z0-9_.\\[\\]]+)`$")
)

// docsKeys reads the table under "## Keys" in the markdown file: the key
// in each row's first cell. A row whose first cell is not one backticked
// key, or a key listed twice, is an error: the table is a reference, and a
// reader looks a key up by that cell.
func docsKeys(t *testing.T, file string) []docsKey {
	t.Helper()
	text, err := os.ReadFile(file)
	require.NoError(t, err)
	name := strings.TrimPrefix(file, "../") // as seen from the repository's root
	var keys []docsKey
	seen := map[string]int{}
	in, header := false, false
	for i, line := range strings.Split(string(text), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		switch {
		case line == "## Keys":
			in, header = true, true
			continue
		case !in:
			continue
		case strings.HasPrefix(line, "#"):
			in = false // the next section
			continue
		case !strings.HasPrefix(line, "|"):
			continue
		case header: // | key | default | meaning |
			header = false
			continue
		case tableSeparator.MatchString(line):
			continue
		}
		cell := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(line, "|"), "|", 2)[0])
		m := backtickedKey.FindStringSubmatch(cell)
		if m == nil {
			t.Errorf("%s:%d: the Keys table's first cell must be one key in backticks, like `server.listen`; found %q", name, n, cell)
			continue
		}
		if first, dup := seen[m[1]]; dup {
			t.Errorf("%s:%d: `%s` is documented twice (first on line %d)", name, n, m[1], first)
			continue
		}
		seen[m[1]] = n
		keys = append(keys, docsKey{m[1], n})
	}
	require.NotEmpty(t, keys, "%s has no Keys table (a \"## Keys\" heading followed by a table)", name)
	return keys
}

// docsName writes a schema key path the way the Keys table does: a map's
// entries (plugins, tenants) are NAME where the schema walk says *.
func docsName(p string) string {
	return strings.ReplaceAll(p, "*", "NAME")
}

// TestDocsKeysMatchSchema keeps docs/policy.md's Keys table complete and
// true: it must have a row for every key of policy/schema.json that holds
// a value (a leaf: no key of the schema lies under it), and no row for a
// key the schema does not have. Rows for keys that hold others (like
// routes[].handler, whose row says that exactly one of its keys is set)
// are allowed, not required.
func TestDocsKeysMatchSchema(t *testing.T) {
	schema := map[string]bool{}
	for p := range schemaKeyPaths(t) {
		schema[docsName(p)] = true
	}
	documented := map[string]bool{}
	for _, k := range docsKeys(t, docsPolicy) {
		documented[k.key] = true
		if !schema[k.key] {
			t.Errorf("docs/policy.md:%d: `%s` is documented but policy/schema.json has no such key: fix or remove the row", k.line, k.key)
		}
	}
	leaves := 0
	for _, p := range sortedKeys(schema) {
		if !isLeaf(p, schema) {
			continue
		}
		leaves++
		if !documented[p] {
			t.Errorf("policy/schema.json has `%s`, but the Keys table of docs/policy.md has no row for it: add | `%s` | default | meaning |", p, p)
		}
	}
	// So that a broken walk or reader cannot pass by finding nothing.
	require.Greater(t, leaves, 30, "leaf keys found in the schema")
	for _, p := range []string{"server.timeouts.shutdown", "plugins.NAME.limits.memory", "tenants.NAME.limits.burst", "routes[].middleware[].python"} {
		require.True(t, schema[p] && documented[p], "%s is in the schema and the Keys table", p)
	}
}

// isLeaf reports whether no other key of the schema lies under p.
func isLeaf(p string, schema map[string]bool) bool {
	for q := range schema {
		if strings.HasPrefix(q, p+".") || strings.HasPrefix(q, p+"[]") {
			return false
		}
	}
	return true
}

// schemaWalkSkips are the keywords through which a schema could define
// keys that schemaKeyPaths does not follow (it follows $ref, properties,
// additionalProperties and items).
var schemaWalkSkips = []string{
	"oneOf", "anyOf", "allOf", "not", "if", "then", "else",
	"dependentSchemas", "patternProperties", "prefixItems", "unevaluatedProperties", "unevaluatedItems",
}

// TestDocsSchemaWalkSeesEveryKey: the key paths the tests compare come from
// schemaKeyPaths, which does not look inside oneOf, anyOf and the other
// keywords of schemaWalkSkips. While none of them declares a key (a
// oneOf of a string and an integer is fine), nothing is missed; the day
// one does, this test says so, and the walk must learn that keyword
// before the docs and the decoder can be checked against the schema.
func TestDocsSchemaWalkSeesEveryKey(t *testing.T) {
	doc := schemaDoc(t)
	defs := doc["$defs"].(map[string]any)
	// declaresKeys reports whether s, or a schema it refers to, declares keys.
	var declaresKeys func(s any, seen map[string]bool) bool
	declaresKeys = func(s any, seen map[string]bool) bool {
		switch s := s.(type) {
		case []any:
			for _, v := range s {
				if declaresKeys(v, seen) {
					return true
				}
			}
		case map[string]any:
			if _, ok := s["properties"]; ok {
				return true
			}
			if more, ok := s["additionalProperties"].(map[string]any); ok && more != nil {
				return true
			}
			if ref, ok := s["$ref"].(string); ok && !seen[ref] {
				seen[ref] = true
				if declaresKeys(defs[strings.TrimPrefix(ref, "#/$defs/")], seen) {
					return true
				}
			}
			for _, v := range s {
				if declaresKeys(v, seen) {
					return true
				}
			}
		}
		return false
	}
	// walk visits every schema under s; names is true when s maps names
	// to schemas (properties, $defs), whose keys are not keywords.
	var walk func(s any, at string, names bool)
	walk = func(s any, at string, names bool) {
		switch s := s.(type) {
		case []any:
			for i, v := range s {
				walk(v, fmt.Sprintf("%s/%d", at, i), false)
			}
		case map[string]any:
			for k, v := range s {
				if !names && slices.Contains(schemaWalkSkips, k) && declaresKeys(v, map[string]bool{}) {
					t.Errorf("%s/%s declares keys, which schemaKeyPaths (policy/schema_test.go) does not follow: teach it %s", at, k, k)
				}
				walk(v, at+"/"+k, !names && (k == "properties" || k == "$defs"))
			}
		}
	}
	walk(doc, "#", false)

	// The check itself must see a key declared through oneOf.
	var sample map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{"oneOf": [{"type": "string"}, {"type": "object", "properties": {"a": {}}}]}`), &sample))
	require.True(t, declaresKeys(sample["oneOf"], map[string]bool{}))
}

// TestDeployPoliciesMatchSchema keeps the policies deploy/ ships (the
// container image's and the Kubernetes ConfigMap's, which docs/operations.md
// walks through) valid against the schema as keys are renamed or added.
// Their files live in the image, not here, so the schema is all that is
// checked; `tandem check` runs on the image's policy when it is built.
func TestDeployPoliciesMatchSchema(t *testing.T) {
	s, err := loadSchema()
	require.NoError(t, err)
	image, err := os.ReadFile("../deploy/docker/tandem.yaml")
	require.NoError(t, err)
	manifest, err := os.ReadFile("../deploy/kubernetes/configmap.yaml")
	require.NoError(t, err)
	var configMap struct {
		Data map[string]string `yaml:"data"`
	}
	require.NoError(t, yaml.Unmarshal(manifest, &configMap))
	require.Contains(t, configMap.Data, "tandem.yaml")
	for name, text := range map[string][]byte{
		"deploy/docker/tandem.yaml":                     image,
		"deploy/kubernetes/configmap.yaml: tandem.yaml": []byte(configMap.Data["tandem.yaml"]),
	} {
		doc := readDocument(name, text)
		require.Empty(t, doc.problems, name)
		assert.NoError(t, s.compiled.Validate(doc.value), name)
	}
}
