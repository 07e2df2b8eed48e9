package policy

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func schemaDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(Schema(), &doc))
	return doc
}

func TestSchemaCompiles(t *testing.T) {
	s, err := loadSchema()
	require.NoError(t, err)
	require.NotNil(t, s.compiled)

	doc := schemaDoc(t)
	assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", doc["$schema"])
	assert.Equal(t, SchemaURL, doc["$id"])

	// Compiling validates the schema against the draft 2020-12
	// metaschema; do it again from the exported bytes, as an editor would.
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("policy.json", raw))
	_, err = c.Compile("policy.json")
	require.NoError(t, err)
}

// schemaKeyPaths lists every key path the schema describes, as
// server.timeouts.read, routes[].handler.python and plugins.*.wasm.
func schemaKeyPaths(t *testing.T) map[string]bool {
	doc := schemaDoc(t)
	defs := doc["$defs"].(map[string]any)
	paths := map[string]bool{}
	var walk func(s map[string]any, at path)
	walk = func(s map[string]any, at path) {
		if ref, ok := s["$ref"].(string); ok {
			def, ok := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
			require.True(t, ok, "unresolved $ref %s at %s", ref, at)
			walk(def, at)
		}
		if props, ok := s["properties"].(map[string]any); ok {
			for k, v := range props {
				paths[string(at.key(k))] = true
				walk(v.(map[string]any), at.key(k))
			}
		}
		if items, ok := s["items"].(map[string]any); ok {
			walk(items, at+"[]")
		}
		if more, ok := s["additionalProperties"].(map[string]any); ok {
			walk(more, at.key("*"))
		}
	}
	walk(doc, "")
	return paths
}

// decoderKeyPaths lists every key path the Go decoder reads, from a dry
// run in which it visits every key it knows.
func decoderKeyPaths() map[string]bool {
	d := &decoder{
		doc:             &document{bad: map[*yaml.Node]bool{}},
		dir:             "/",
		record:          map[string]bool{},
		declaredPlugins: map[string]bool{},
		declaredTenants: map[string]bool{},
		sectionRefused:  map[string]bool{},
	}
	d.policy(placeholder(), newPolicy())
	return d.record
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestSchemaMatchesDecoder keeps the schema and the decoder from drifting:
// a key only the schema knows would be accepted and then ignored, a key
// only the decoder knows would be refused as unknown.
func TestSchemaMatchesDecoder(t *testing.T) {
	schema, decoder := schemaKeyPaths(t), decoderKeyPaths()
	assert.Equal(t, sortedKeys(schema), sortedKeys(decoder))
	// A sample, so that a broken walk cannot pass by finding nothing.
	for _, p := range []string{
		"version", "server.timeouts.read_header", "python.workers", "sandbox.limits.instances",
		"plugins.*.config", "plugins.*.limits.memory", "tenants.*.limits.burst",
		"routes[].handler.wsgi", "routes[].middleware[].python", "routes[].body_schema",
	} {
		assert.True(t, schema[p], p)
	}
}

// TestSchemaPatternsMatchGo keeps each $def's pattern the same as the Go
// regexp that checks the same syntax, so an editor and tandem check accept
// the same spellings.
func TestSchemaPatternsMatchGo(t *testing.T) {
	defs := schemaDoc(t)["$defs"].(map[string]any)
	pattern := func(def string) string { return defs[def].(map[string]any)["pattern"].(string) }
	assert.Equal(t, sizeSyntax.String(), pattern("size"))
	assert.Equal(t, durationSyntax.String(), pattern("duration"))
	assert.Equal(t, rateSyntax.String(), pattern("rate"))
	assert.Equal(t, nameSyntax.String(), pattern("name"))
	assert.Equal(t, nameSyntax.String(), pattern("middleware"))
	assert.Equal(t, targetSyntax.String(), pattern("target"))
	assert.Equal(t, addressSyntax.String(), pattern("address"))
	assert.Equal(t, "^("+strings.TrimSuffix(strings.TrimPrefix(addressSyntax.String(), "^"), "$")+")?$", pattern("optionalAddress"))
	assert.Equal(t, hostSyntax.String(), pattern("host"))
	assert.Equal(t, sha256Syntax.String(), pattern("sha256"))
	assert.Equal(t, methodSyntax.String(), pattern("method"))
	assert.Equal(t, routeSyntax.String(), pattern("routePath"))
}

// TestSchemaStructure checks the conventions the schema promises editors:
// every object closed to unknown keys (except plugin config, which is the
// guest's), and every key described.
func TestSchemaStructure(t *testing.T) {
	doc := schemaDoc(t)
	defs := doc["$defs"].(map[string]any)
	var walk func(s map[string]any, at string)
	walk = func(s map[string]any, at string) {
		if props, ok := s["properties"].(map[string]any); ok {
			assert.Equal(t, false, s["additionalProperties"], "%s allows unknown keys", at)
			for k, v := range props {
				prop := v.(map[string]any)
				described := prop["description"] != nil
				if ref, ok := prop["$ref"].(string); ok {
					described = described || defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)["description"] != nil
				}
				assert.True(t, described, "%s.%s has no description", at, k)
				walk(prop, at+"."+k)
			}
		}
		for _, key := range []string{"items", "additionalProperties"} {
			if sub, ok := s[key].(map[string]any); ok {
				walk(sub, at+"/"+key)
			}
		}
	}
	walk(doc, "#")
	for name, def := range defs {
		walk(def.(map[string]any), "#/$defs/"+name)
	}
}

// TestSchemaRefusalsAreExplained: whenever a $def refuses a value, the Go
// reader for that def must refuse it too, or the message would fall back
// to the validator's generic wording.
func TestSchemaRefusalsAreExplained(t *testing.T) {
	defs := schemaDoc(t)["$defs"].(map[string]any)
	samples := []string{
		`""`, `abc`, `"1"`, `1`, `0`, `-1`, `99999`, `true`, `1.5`, `~`, `[]`, `{}`, `[a]`, `{a: 1}`,
		`64KiB`, `1.5MiB`, `12 parsecs`, `1mib`, `0B`, `5s`, `0s`, `5`, `1d`, `100/s`, `0/s`, `100/sec`,
		`app:hello`, `app.hello`, `a:b:c`, `/x`, `/a/:id`, `x`, `/a b`, `auto`, `GET`, `get`, `FETCH`,
		`":8080"`, `127.0.0.1:8080`, `"[::1]:80"`, `"host:99999"`, `localhost`, `a.example`, `"*.a.example"`,
		`my plugin`, `auth-v2`, `embedded`, `"~/x"`,
		strings.Repeat("ab", 32), strings.Repeat("0", 64), `{python: app:mw}`,
	}
	for name, def := range defs {
		if def.(map[string]any)["type"] == "object" {
			continue
		}
		explainer := explainers[name]
		if !assert.NotNil(t, explainer, "$defs/%s has no explainer", name) {
			continue
		}
		c := jsonschema.NewCompiler()
		raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
		require.NoError(t, err)
		require.NoError(t, c.AddResource(SchemaURL, raw))
		sch, err := c.Compile(SchemaURL + "#/$defs/" + name)
		require.NoError(t, err)
		for _, sample := range samples {
			doc := readDocument("s.yaml", []byte("v: "+sample))
			require.Empty(t, doc.problems, sample)
			node := doc.root.Content[1]
			value := doc.value.(map[string]any)["v"]
			if sch.Validate(value) != nil {
				assert.Error(t, explainer(node), "$defs/%s refuses %s but its Go reader accepts it", name, sample)
			}
		}
	}
	// And each explainer belongs to a def.
	for name := range explainers {
		assert.Contains(t, defs, name)
	}
}

func TestSchemaErrorsAreOnePerNode(t *testing.T) {
	// A value wrong in several ways gets one problem, and an object with
	// an unknown key does not also get a key-count problem.
	src := "version: 1\nroutes:\n  - path: /\n    handler: {python: app:x, pyton: app:y}\n"
	_, err := Parse("p.yaml", []byte(src), Options{})
	var problems *Problems
	require.ErrorAs(t, err, &problems)
	assert.Equal(t, []string{`p.yaml:4:30: routes[0].handler.pyton: unknown key "pyton" (did you mean "python"?)`}, lines(problems))
}

func lines(ps *Problems) []string {
	var out []string
	for _, p := range *ps {
		out = append(out, p.String())
	}
	return slices.Clip(out)
}
