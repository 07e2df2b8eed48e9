// Package policy loads tandem's policy file: the YAML that says, route by
// route, which code serves it, which middleware wraps it, which tenant owns
// it and what limits apply. The policy is the server's security boundary,
// so it is checked whole before anything serves it, and every problem is
// reported with its file, line and column, in the order of the file:
//
//	tandem.yaml:14:5: server.listn: unknown key "listn" (did you mean "listen"?)
//
// Checking happens in layers. The YAML is parsed into nodes that keep their
// positions; the structure is validated against a JSON Schema (Schema, also
// usable by editors); then Go reads each value into its type (Size,
// Duration, Rate, ...) and checks what relates parts of the file to each
// other: plugin and tenant names, duplicate routes, overlapping hosts, the
// worker budget and the trust rule (an untrusted tenant's routes run only
// sandboxed WebAssembly). A node refused by one layer is skipped by the
// next, so one mistake gives one problem.
//
// The result, a *Policy, is immutable: the server builds a new one on
// reload and swaps it in whole, or keeps the old one when Load fails.
//
// This package imports nothing else from tandem; the server (host) consumes
// the compiled form.
package policy
