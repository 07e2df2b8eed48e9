package host

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/tandemhost/tandem/policy"
)

// bodySchema checks request bodies against a route's JSON Schema in Go,
// before any Python runs.
type bodySchema struct {
	schema *jsonschema.Schema
}

// fieldError is one way a body failed its schema: where (a JSON pointer
// into the body, "" for the whole body) and what.
type fieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// compileBodySchema compiles the schema file. Only local files are
// loaded, never URLs: a schema's $ref cannot make the server reach out.
func compileBodySchema(file string) (*bodySchema, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %w", file, err)
	}
	c := jsonschema.NewCompiler()
	url := "file://" + filepath.ToSlash(file)
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("%s is not a usable JSON Schema: %w", file, err)
	}
	return &bodySchema{schema: s}, nil
}

// printer words the validator's messages.
var printer = message.NewPrinter(language.English)

// check answers 422 with the list of what failed when the body is not
// JSON or does not match. A request without a body is checked only when
// its method carries one (POST, PUT, PATCH and others not listed here).
func (s *bodySchema) check(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		b := body(c)
		if len(b) == 0 {
			switch c.Request().Method {
			case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions:
				return next(c)
			}
		}
		if errs := s.validate(b); errs != nil {
			return &httpError{status: http.StatusUnprocessableEntity,
				message: "the request body does not match the route's schema", fields: errs}
		}
		return next(c)
	}
}

// validate returns what is wrong with body, nil if nothing.
func (s *bodySchema) validate(body []byte) []fieldError {
	if len(bytes.TrimSpace(body)) == 0 {
		return []fieldError{{Path: "", Message: "the body is empty; this route takes JSON"}}
	}
	if !utf8.Valid(body) {
		// JSON is UTF-8 (RFC 8259 §8.1); Go's decoder would quietly turn
		// the bad bytes into U+FFFD and pass a body that request.json()
		// refuses.
		return []fieldError{{Path: "", Message: "the body is not valid JSON: it is not UTF-8"}}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return []fieldError{{Path: "", Message: "the body is not valid JSON: " + err.Error()}}
	}
	err = s.schema.Validate(doc)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return []fieldError{{Path: "", Message: err.Error()}}
	}
	var out []fieldError
	for _, l := range policy.SchemaFailures(verr) {
		fe := fieldError{Path: pointer(l.InstanceLocation), Message: l.ErrorKind.LocalizedString(printer)}
		if !slices.Contains(out, fe) {
			out = append(out, fe)
		}
	}
	slices.SortFunc(out, func(a, b fieldError) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return out
}

// pointer writes a location as a JSON pointer (RFC 6901).
func pointer(loc []string) string {
	var b strings.Builder
	for _, p := range loc {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(p))
	}
	return b.String()
}
