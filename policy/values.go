package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Each function here reads one kind of value from a YAML node and, when the
// value is wrong, returns the whole message a user sees. The decoder uses
// them to read values, and the schema layer uses them to explain a value the
// schema refused, so a wrong value reads the same whichever layer caught it.

// Patterns shared with schema.json's $defs (a test keeps them equal).
var (
	nameSyntax    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
	targetSyntax  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)
	addressSyntax = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):[0-9]{1,5}$`)
	hostSyntax    = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)
	sha256Syntax  = regexp.MustCompile(`^([0-9a-fA-F]{64})?$`)
	methodSyntax  = regexp.MustCompile(`^[A-Za-z]+$`)
	routeSyntax   = regexp.MustCompile(`^/[^\s?#]*$`)

	identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// methods are the HTTP methods a route may list, in the order messages
// show them.
var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

func isString(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!str" || n.ShortTag() == "!!timestamp")
}

// expected builds "expected WHAT, got VALUE", adding the hint a YAML user
// needs when a bare number or true was read where text was wanted.
func expected(n *yaml.Node, what string, wantText bool) error {
	hint := ""
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		hint = " (give a value or leave the key out)"
	case wantText && n.Kind == yaml.ScalarNode && !isString(n):
		hint = " (quote it to make it text)"
	}
	return fmt.Errorf("expected %s, got %s%s", what, describe(n), hint)
}

func stringValue(n *yaml.Node) (string, error) {
	if !isString(n) {
		return "", expected(n, "a string", true)
	}
	return n.Value, nil
}

func versionValue(n *yaml.Node) (int, error) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		v, err := strconv.Atoi(n.Value)
		if err == nil && v == 1 {
			return 1, nil
		}
		return 0, fmt.Errorf("unsupported version %s: this tandem reads version 1 policies", n.Value)
	}
	return 0, expected(n, "version 1", false)
}

func sizeValue(n *yaml.Node) (Size, error) {
	const what = "a size like 64KiB"
	if n.Kind != yaml.ScalarNode {
		return 0, expected(n, what, false)
	}
	var (
		s   Size
		err error
	)
	switch n.ShortTag() {
	case "!!int":
		var v int64
		if n.Decode(&v) != nil {
			err = errors.New("out of range")
		} else if v < 0 {
			err = errors.New("a size cannot be negative")
		}
		s = Size(v)
	case "!!str", "!!float":
		s, err = ParseSize(n.Value)
	default:
		return 0, expected(n, what, false)
	}
	if err == nil && s <= 0 {
		err = errors.New("a size must be greater than zero")
	}
	if err != nil {
		return 0, fmt.Errorf("expected %s, got %s: %w", what, describe(n), err)
	}
	return s, nil
}

// memoryValue is a size for Wasm linear memory, which comes in 64KiB pages
// and, for the 32-bit modules wazero runs, stops at 4GiB.
func memoryValue(n *yaml.Node) (Size, error) {
	s, err := sizeValue(n)
	if err != nil {
		return 0, err
	}
	const page, most = 64 << 10, 4 << 30
	if s%page != 0 {
		return 0, fmt.Errorf("expected a multiple of 64KiB (the Wasm page size), like 8MiB, got %s", describe(n))
	}
	if s > most {
		return 0, fmt.Errorf("expected at most 4GiB (all a 32-bit Wasm module can address), got %s", describe(n))
	}
	return s, nil
}

func durationValue(n *yaml.Node) (Duration, error) {
	const what = "a duration like 5s or 100ms"
	if n.Kind != yaml.ScalarNode || (!isString(n) && n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		return 0, expected(n, what, false)
	}
	d, err := ParseDuration(n.Value)
	if err == nil && d <= 0 {
		err = errors.New("a duration must be greater than zero")
	}
	if err != nil {
		return 0, fmt.Errorf("expected %s, got %s: %w", what, describe(n), err)
	}
	return d, nil
}

func rateValue(n *yaml.Node) (Rate, error) {
	const what = "a rate like 100/s"
	if n.Kind != yaml.ScalarNode || (!isString(n) && n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		return Rate{}, expected(n, what, false)
	}
	r, err := ParseRate(n.Value)
	if err == nil && r.Count <= 0 {
		err = errors.New("a rate must be greater than zero")
	}
	if err != nil {
		return Rate{}, fmt.Errorf("expected %s, got %s: %w", what, describe(n), err)
	}
	return r, nil
}

func countValue(n *yaml.Node) (int, error) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		v, err := strconv.Atoi(n.Value)
		if err == nil && v >= 1 && v <= 1<<20 {
			return v, nil
		}
		if err == nil && v > 1<<20 {
			return 0, fmt.Errorf("%d is more than tandem allows (%d)", v, 1<<20)
		}
	}
	return 0, expected(n, "a whole number, 1 or more", false)
}

func workersValue(n *yaml.Node) (int, error) {
	if isString(n) && n.Value == "auto" {
		return 0, nil
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		if v, err := countValue(n); err == nil {
			return v, nil
		}
	}
	return 0, expected(n, "auto or a number of workers, 1 or more", false)
}

func nameValue(n *yaml.Node) (string, error) {
	if !isString(n) {
		return "", expected(n, "a name", true)
	}
	if !nameSyntax.MatchString(n.Value) {
		return "", fmt.Errorf("invalid name %s: use letters, digits, '_' and '-', starting with a letter", quote(n.Value))
	}
	return n.Value, nil
}

func targetValue(n *yaml.Node) (string, error) {
	const what = "module:function, like app:hello"
	if !isString(n) {
		return "", expected(n, what, true)
	}
	s := n.Value
	if targetSyntax.MatchString(s) {
		return s, nil
	}
	bad := func(reason string) (string, error) {
		return "", fmt.Errorf("expected %s, got %s: %s", what, quote(s), reason)
	}
	module, function, found := strings.Cut(s, ":")
	switch {
	case !found:
		if i := strings.LastIndexByte(s, '.'); i > 0 {
			return bad(fmt.Sprintf("put ':' between the module and the function (did you mean %q?)", s[:i]+":"+s[i+1:]))
		}
		return bad("put ':' between the module and the function")
	case strings.Contains(function, ":"):
		return bad("write one ':' only, between the module and the function")
	case module == "":
		return bad("the module is missing before ':'")
	case function == "":
		return bad("the function is missing after ':'")
	}
	for _, part := range slices.Concat(strings.Split(module, "."), strings.Split(function, ".")) {
		if !identifier.MatchString(part) {
			return bad(fmt.Sprintf("%s is not a Python identifier (letters, digits and '_', not starting with a digit)", quote(part)))
		}
	}
	return bad("not a valid module:function")
}

// runtimeValue is "embedded" or the path of a CPython, as written.
func runtimeValue(n *yaml.Node) (string, error) {
	if !isString(n) {
		return "", expected(n, `"embedded" or a path`, true)
	}
	if n.Value == RuntimeEmbedded {
		return n.Value, nil
	}
	if n.Value == "" {
		return "", errors.New(`expected "embedded" or a path, got an empty string`)
	}
	return n.Value, checkPathText(n.Value, false)
}

// fileValue is a path as written; the decoder resolves it.
func fileValue(n *yaml.Node) (string, error) {
	if !isString(n) {
		return "", expected(n, "a path", true)
	}
	return n.Value, checkPathText(n.Value, false)
}

func checkPathText(s string, emptyOK bool) error {
	switch {
	case s == "" && !emptyOK:
		return errors.New("expected a path, got an empty string")
	case strings.HasPrefix(s, "~"):
		return fmt.Errorf("tandem does not expand %q: write the path out, or relative to the policy file", "~")
	case strings.ContainsRune(s, 0):
		return errors.New("a path cannot contain a NUL byte")
	}
	return nil
}

func addressValue(n *yaml.Node) (string, error) {
	const what = "host:port, like 127.0.0.1:8080 or :8080"
	if !isString(n) {
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
			return "", fmt.Errorf("expected %s, got %s (did you mean %q?)", what, n.Value, ":"+n.Value)
		}
		return "", expected(n, what, true)
	}
	s := n.Value
	if !addressSyntax.MatchString(s) {
		if strings.Contains(s, "://") {
			return "", fmt.Errorf("expected %s, got %s: write the address without a scheme", what, quote(s))
		}
		if _, err := strconv.Atoi(s); err == nil {
			return "", fmt.Errorf("expected %s, got %s (did you mean %q?)", what, quote(s), ":"+s)
		}
		return "", fmt.Errorf("expected %s, got %s", what, quote(s))
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("expected %s, got %s", what, quote(s))
	}
	if p, _ := strconv.Atoi(port); p > 65535 {
		return "", fmt.Errorf("port %s is out of range (0 to 65535)", port)
	}
	if strings.HasPrefix(s, "[") && net.ParseIP(host) == nil {
		return "", fmt.Errorf("%s is not an IPv6 address", quote(host))
	}
	return s, nil
}

func optionalAddressValue(n *yaml.Node) (string, error) {
	if isString(n) && n.Value == "" {
		return "", nil
	}
	return addressValue(n)
}

func hostValue(n *yaml.Node) (string, error) {
	if !isString(n) {
		return "", expected(n, "a host name", true)
	}
	s := n.Value
	if hostSyntax.MatchString(s) && len(s) <= 253 {
		return strings.ToLower(s), nil
	}
	bad := func(reason string) (string, error) {
		return "", fmt.Errorf("invalid host %s: %s", quote(s), reason)
	}
	switch {
	case len(s) > 253:
		return bad("longer than 253 characters")
	case strings.Contains(s, "://"):
		return bad("write the host name only, without a scheme")
	case strings.Contains(s, "/"):
		return bad("write the host name only, without a path")
	case strings.Contains(s, ":"):
		h, _, _ := strings.Cut(s, ":")
		return bad(fmt.Sprintf("hosts are matched without the port: write %q", h))
	case strings.Contains(s, "*"):
		return bad("'*' may only be the whole first label, as in *.example.com")
	}
	return bad("use letters, digits, '-' and '.', like acme.example.com")
}

func methodValue(n *yaml.Node) (string, error) {
	if !isString(n) {
		return "", expected(n, "an HTTP method like GET", true)
	}
	m := strings.ToUpper(n.Value)
	if methodSyntax.MatchString(n.Value) && slices.Contains(methods, m) {
		return m, nil
	}
	if hint := didYouMean(m, methods); hint != "" {
		return "", fmt.Errorf("unknown HTTP method %s%s", quote(n.Value), hint)
	}
	return "", fmt.Errorf("unknown HTTP method %s (use %s)", quote(n.Value), strings.Join(methods, ", "))
}

func sha256Value(n *yaml.Node) (string, error) {
	if !isString(n) {
		return "", expected(n, "64 hex digits (a SHA-256, as sha256sum prints it)", true)
	}
	if !sha256Syntax.MatchString(n.Value) {
		return "", fmt.Errorf("expected 64 hex digits (a SHA-256, as sha256sum prints it), got %s (%d characters)", quote(n.Value), len(n.Value))
	}
	return strings.ToLower(n.Value), nil
}

// routePathValue checks a path in Echo's route syntax. Echo reads a ':'
// anywhere as the start of a parameter and a '*' anywhere as a wildcard, so
// the policy allows them only where they mean what people expect.
func routePathValue(n *yaml.Node) (string, error) {
	if !isString(n) {
		return "", expected(n, "a URL path like /hello/:name", true)
	}
	s := n.Value
	bad := func(reason string) (string, error) {
		return "", fmt.Errorf("invalid route path %s: %s", quote(s), reason)
	}
	if !strings.HasPrefix(s, "/") {
		if s == "" {
			return bad(`a route path starts with "/"`)
		}
		return bad(fmt.Sprintf(`a route path starts with "/" (did you mean %q?)`, "/"+s))
	}
	if !routeSyntax.MatchString(s) {
		return bad("no spaces, '?' or '#': a query string is not part of a route")
	}
	segments := strings.Split(s[1:], "/")
	params := map[string]bool{}
	for i, seg := range segments {
		last := i == len(segments)-1
		switch {
		case seg == "" && !last:
			return bad(`empty segment ("//")`)
		case seg == "*":
			if !last {
				return bad("'*' matches the rest of the path, so it must be the last segment")
			}
		case strings.Contains(seg, "*"):
			return bad("'*' must be a whole segment, as in /static/*")
		case strings.HasPrefix(seg, ":"):
			name := seg[1:]
			if !identifier.MatchString(name) {
				return bad(fmt.Sprintf("parameter %q needs a name of letters, digits and '_', as in /users/:id", seg))
			}
			if params[name] {
				return bad(fmt.Sprintf("parameter :%s appears twice", name))
			}
			params[name] = true
		case strings.Contains(seg, ":"):
			return bad(fmt.Sprintf("':' starts a parameter and may only begin a segment, as in /files/:name (in %q)", seg))
		}
	}
	return s, nil
}

// PathShape is the part of a route path that decides which requests it
// matches: parameter names do not, so /a/:x and /a/:y have the same shape,
// and a router cannot serve both.
func PathShape(route string) string { return shape(route) }

// shape is PathShape.
func shape(route string) string {
	segments := strings.Split(route, "/")
	for i, seg := range segments {
		if strings.HasPrefix(seg, ":") {
			segments[i] = ":"
		}
	}
	return strings.Join(segments, "/")
}

// enumValue accepts one of the given strings.
func enumValue(allowed ...string) func(*yaml.Node) (string, error) {
	return func(n *yaml.Node) (string, error) {
		if isString(n) && slices.Contains(allowed, n.Value) {
			return n.Value, nil
		}
		return "", oneOfError(n, allowed)
	}
}

func oneOfError(n *yaml.Node, allowed []string) error {
	want := strings.Join(allowed, ", ")
	if len(allowed) == 2 {
		want = allowed[0] + " or " + allowed[1]
	} else {
		want = "one of " + want
	}
	hint := ""
	if isString(n) {
		hint = didYouMean(n.Value, allowed)
	}
	return fmt.Errorf("expected %s, got %s%s", want, describe(n), hint)
}

// configValue is what a plugin's guest reads with get_config: text as
// written, or a mapping as JSON (keys sorted, so the bytes and the digest
// of a policy's effect do not depend on map order).
func configValue(n *yaml.Node) ([]byte, error) {
	if isString(n) {
		return []byte(n.Value), nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, expected(n, "a string or a mapping", false)
	}
	// The whole file went through convert already, which reported any
	// alias or tag in here; a second conversion only encodes.
	scratch := &document{bad: map[*yaml.Node]bool{}}
	return json.Marshal(scratch.convert(n, ""))
}

// middlewareValue explains a middleware entry that is neither a plugin
// name nor a mapping; mappings are checked key by key.
func middlewareValue(n *yaml.Node) (string, error) {
	if isString(n) {
		return nameValue(n)
	}
	return "", expected(n, "a plugin name or {python: module:function}", false)
}
