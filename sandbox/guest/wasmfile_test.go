package guest_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// wasmModule is what the guest tests check of a compiled guest: its
// imports and exports with their function signatures, read from the
// binary's type, import, function and export sections.
type wasmModule struct {
	imports []wasmImport
	exports map[string]wasmExport
}

type wasmImport struct {
	module, name string
	kind         byte   // 0 func, 1 table, 2 memory, 3 global, 4 tag
	sig          string // for a function, such as "(i32,i32)->(i64)"
}

type wasmExport struct {
	kind byte
	sig  string
}

// wasmReader reads the binary format's primitives; the first error sticks.
type wasmReader struct {
	b   []byte
	err error
}

func (r *wasmReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("wasm: truncated or malformed %s", what)
	}
	r.b = nil
}

func (r *wasmReader) byte() byte {
	if len(r.b) == 0 {
		r.fail("byte")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wasmReader) u32() uint32 {
	v, n := binary.Uvarint(r.b) // LEB128 unsigned is the same encoding
	if n <= 0 || v > 1<<32-1 {
		r.fail("u32")
		return 0
	}
	r.b = r.b[n:]
	return uint32(v)
}

func (r *wasmReader) bytes(n uint32) []byte {
	if uint64(n) > uint64(len(r.b)) {
		r.fail("vector")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *wasmReader) name() string { return string(r.bytes(r.u32())) }

func (r *wasmReader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

func valType(t byte) string {
	switch t {
	case 0x7f:
		return "i32"
	case 0x7e:
		return "i64"
	case 0x7d:
		return "f32"
	case 0x7c:
		return "f64"
	case 0x7b:
		return "v128"
	case 0x70:
		return "funcref"
	case 0x6f:
		return "externref"
	}
	return fmt.Sprintf("0x%02x", t)
}

func (r *wasmReader) valTypes() string {
	n := r.u32()
	ts := make([]string, 0, min(n, 64))
	for range n {
		ts = append(ts, valType(r.byte()))
	}
	return "(" + strings.Join(ts, ",") + ")"
}

// parseWasm reads the parts of a module that the tests check.
func parseWasm(b []byte) (*wasmModule, error) {
	if !bytes.HasPrefix(b, []byte("\x00asm\x01\x00\x00\x00")) {
		return nil, errors.New("wasm: not a version 1 WebAssembly binary")
	}
	m := &wasmModule{exports: map[string]wasmExport{}}
	var types, funcs []string // signatures by type index, and by function index
	r := &wasmReader{b: b[8:]}
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		s := &wasmReader{b: r.bytes(r.u32())}
		switch id {
		case 1: // type
			for range s.u32() {
				if s.byte() != 0x60 {
					s.fail("function type")
				}
				params := s.valTypes()
				types = append(types, params+"->"+s.valTypes())
			}
		case 2: // import
			for range s.u32() {
				im := wasmImport{module: s.name(), name: s.name(), kind: s.byte()}
				switch im.kind {
				case 0:
					if t := s.u32(); int(t) < len(types) {
						im.sig = types[t]
					} else {
						s.fail("import type index")
					}
					funcs = append(funcs, im.sig)
				case 1:
					s.byte()
					s.limits()
				case 2:
					s.limits()
				case 3:
					s.byte()
					s.byte()
				case 4:
					s.byte()
					s.u32()
				default:
					s.fail("import kind")
				}
				m.imports = append(m.imports, im)
			}
		case 3: // function
			for range s.u32() {
				if t := s.u32(); int(t) < len(types) {
					funcs = append(funcs, types[t])
				} else {
					s.fail("function type index")
				}
			}
		case 7: // export
			for range s.u32() {
				name, kind, index := s.name(), s.byte(), s.u32()
				ex := wasmExport{kind: kind}
				if kind == 0 {
					if int(index) >= len(funcs) {
						s.fail("export function index")
					} else {
						ex.sig = funcs[index]
					}
				}
				m.exports[name] = ex
			}
		}
		if s.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, s.err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}
