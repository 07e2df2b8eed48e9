// Package native runs trusted Python handlers in CPython.
//
// It loads libpython at run time (the embedded CPython 3.14 by default, or a
// library or virtualenv the policy names), starts the runtime once per
// process, and runs a Pool of workers: each is a goroutine locked to its own
// OS thread, optionally pinned to one physical core, that owns one
// sub-interpreter with its own GIL (PEP 684) or, in shared mode, a thread
// state of the main interpreter. A request crosses into C once: the worker
// attaches its thread state, calls the Python dispatcher, copies status,
// headers and body out, and detaches.
//
// native knows nothing about HTTP routing; the host package turns requests
// into Request values and Responses back into HTTP.
package native
