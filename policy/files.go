package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The file checks let `tandem check` catch, before a deploy, what would
// otherwise fail at the first request or at the next reload: a module
// that is not there, a pin that no longer matches, a body schema that does
// not compile. Options.SkipFileChecks turns them off for checking a policy
// away from the machine that serves it.

type fileKind int

const (
	runtimeFile fileKind = iota // python.runtime: libpython or a virtualenv
	directory                   // python.path entries
	wasmFile                    // plugin modules and wasm handlers
	schemaFile                  // body_schema
)

// fileRef is a path the policy names, as written and resolved.
type fileRef struct {
	kind    fileKind
	loc     loc
	written string
	abs     string
	// pin is the expected SHA-256 of a Wasm module, at pinLoc.
	pin    string
	pinLoc loc
}

// libpython matches the file names of CPython's shared library:
// libpython3.12.so, libpython3.13t.so.1.0 and the like.
var libpython = regexp.MustCompile(`^libpython3\.[0-9]+[a-z]*\.so(\.[0-9]+)*$`)

const runtimeKinds = `python.runtime must be "embedded", a libpython3.X.so file or a virtualenv directory (one holding pyvenv.cfg)`

func (d *decoder) checkFiles() {
	for _, f := range d.files {
		d.checkFile(f)
	}
}

func (d *decoder) checkFile(f fileRef) {
	// Name both forms when they differ: the file says plugins/x.wasm, but
	// what was looked for depends on where the policy is.
	name := f.abs
	if f.written != f.abs {
		name = fmt.Sprintf("%s (%s)", f.written, f.abs)
	}
	info, err := os.Stat(f.abs)
	if err != nil {
		msg := fmt.Sprintf("cannot use %s: %v", name, unwrapPathError(err))
		if errors.Is(err, fs.ErrNotExist) {
			msg = "no such file or directory: " + name
			if f.kind == runtimeFile {
				msg += "; " + runtimeKinds
			}
		}
		d.problem(f.loc, msg)
		return
	}
	switch f.kind {
	case directory:
		if !info.IsDir() {
			d.problem(f.loc, fmt.Sprintf("python.path entries are directories, and %s is not one", name))
		}
	case runtimeFile:
		d.checkRuntime(f, name, info)
	case wasmFile:
		d.checkWasm(f, name, info)
	case schemaFile:
		d.checkBodySchema(f, name, info)
	}
}

func (d *decoder) checkRuntime(f fileRef, name string, info fs.FileInfo) {
	if info.IsDir() {
		if _, err := os.Stat(filepath.Join(f.abs, "pyvenv.cfg")); err != nil {
			d.problem(f.loc, fmt.Sprintf("%s is a directory without pyvenv.cfg, so not a virtualenv; %s", name, runtimeKinds))
		}
		return
	}
	if !libpython.MatchString(filepath.Base(f.abs)) {
		d.problem(f.loc, fmt.Sprintf("%s is not named like a libpython3.X.so file; %s", name, runtimeKinds))
	}
}

func (d *decoder) checkWasm(f fileRef, name string, info fs.FileInfo) {
	if !info.Mode().IsRegular() {
		d.problem(f.loc, fmt.Sprintf("%s is not a file", name))
		return
	}
	file, err := os.Open(f.abs)
	if err != nil {
		d.problem(f.loc, fmt.Sprintf("cannot read %s: %v", name, unwrapPathError(err)))
		return
	}
	defer file.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(file, head); err != nil || !bytes.Equal(head, []byte("\x00asm")) {
		d.problem(f.loc, fmt.Sprintf("%s is not a WebAssembly module (it does not start with \\0asm)", name))
		return
	}
	if f.pin == "" {
		return
	}
	h := sha256.New()
	h.Write(head)
	if _, err := io.Copy(h, file); err != nil {
		d.problem(f.loc, fmt.Sprintf("cannot read %s: %v", name, unwrapPathError(err)))
		return
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != f.pin {
		d.problem(f.pinLoc, fmt.Sprintf("%s has sha256 %s, not the pinned %s: if the module changed on purpose, update the pin", f.written, sum, f.pin))
	}
}

func (d *decoder) checkBodySchema(f fileRef, name string, info fs.FileInfo) {
	if !info.Mode().IsRegular() {
		d.problem(f.loc, fmt.Sprintf("%s is not a file", name))
		return
	}
	file, err := os.Open(f.abs)
	if err != nil {
		d.problem(f.loc, fmt.Sprintf("cannot read %s: %v", name, unwrapPathError(err)))
		return
	}
	defer file.Close()
	doc, err := jsonschema.UnmarshalJSON(file)
	if err != nil {
		d.problem(f.loc, fmt.Sprintf("%s is not valid JSON: %v", name, err))
		return
	}
	// Compiled here only to find mistakes; the server compiles its own
	// copy. Only local files are loaded: checking must not reach out to
	// the network.
	c := jsonschema.NewCompiler()
	url := "file://" + filepath.ToSlash(f.abs)
	if err := c.AddResource(url, doc); err == nil {
		_, err = c.Compile(url)
		if err != nil {
			d.problem(f.loc, fmt.Sprintf("%s is not a usable JSON Schema: %s", name, schemaError(err)))
		}
	}
}

// unwrapPathError drops the path an *fs.PathError repeats, since the
// message already names the file.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// schemaError words a failure to compile a body schema: for a schema the
// metaschema refuses, the specific failures with their JSON pointers
// rather than the library's nested report.
func schemaError(err error) string {
	var invalid *jsonschema.SchemaValidationError
	var verr *jsonschema.ValidationError
	if !errors.As(err, &invalid) || !errors.As(invalid.Err, &verr) {
		return strings.Join(strings.Fields(err.Error()), " ")
	}
	var leaves []*jsonschema.ValidationError
	collectLeaves(verr, &leaves)
	var parts []string
	for _, l := range leaves {
		where := "/" + strings.Join(l.InstanceLocation, "/")
		part := fmt.Sprintf("at %s: %s", where, l.ErrorKind.LocalizedString(message.NewPrinter(language.English)))
		if !slices.Contains(parts, part) {
			parts = append(parts, part)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}
