// The C boundary between tandem's Go code and CPython.
//
// Go never sees a PyObject*: everything that touches the interpreter lives in
// shim.c, behind the handful of functions declared here. libpython is loaded
// at run time with dlopen and the part of the C API we use is declared by hand
// (see the table in shim.c), so building tandem needs gcc but no Python
// headers, and one binary runs on any CPython >= 3.11 it is pointed at.

#ifndef TANDEM_SHIM_H
#define TANDEM_SHIM_H

#include <stddef.h>
#include <stdint.h>

// What one call returned. It lives inside the worker (C memory) so that a
// request allocates nothing on the Go heap for it.
typedef struct {
	int32_t status;    // HTTP status chosen by Python
	uint32_t nheaders; // number of header pairs in the output
	uint32_t hdr_len;  // bytes of encoded headers at the start of the output
	uint32_t log_len;  // bytes of log text after the headers
	uint64_t body_len; // bytes of body after the log text
	int32_t overflow;  // 1: the output is in the worker's big buffer, not in out
	int32_t failed;    // 1: the dispatcher itself failed; err holds why
	int32_t interrupted; // 1: tdm_interrupt raised HandlerTimeout into this call (2: and draining it failed)
} tdm_result;

typedef struct tdm_worker tdm_worker;

// tdm_ts is one thread's state in a floating worker's interpreter.
struct tdm_ts {
	unsigned long thread; // PyThread_get_thread_ident() of its thread
	void *tstate;
};

struct tdm_worker {
	void *tstate;    // this worker's PyThreadState, created on its own OS thread
	void *dispatch;  // the dispatcher callable (a strong reference)
	void *next;      // a dispatcher built by tdm_worker_prepare_routes, not yet in use (strong), or NULL
	void *module;    // the interpreter's tandem module (a strong reference)
	void *interp;    // the PyInterpreterState tstate belongs to (the main one in shared mode)
	void *timeout_exc; // tandem.HandlerTimeout of that interpreter (a strong reference)
	void *drain;     // tandem._drain_interrupt (a strong reference)
	unsigned long thread_ident; // PyThread_get_thread_ident() of the thread running the worker's calls
	// Floating workers run on whichever OS thread calls
	// them: each thread gets its own thread state in the interpreter, made
	// on first use and kept until tdm_worker_end deletes them all. home is
	// the thread tstate belongs to; others lists the rest.
	int floating;
	uint64_t uid;    // this worker's number, never reused: the key of the per-thread cache
	unsigned long home;
	struct tdm_ts *others;
	size_t nothers, cap_others;
	// running is the job number tdm_call is running (0 between calls) and
	// interrupted the last job tdm_interrupt raised HandlerTimeout into.
	// Both are read and written only with tstate's GIL held, by the
	// worker's thread and by interrupting threads.
	int64_t running;
	int64_t interrupted;
	int own_gil;     // 1: tstate belongs to a sub-interpreter this worker owns
	int64_t interp_id;
	char *big;       // grown on demand for outputs that do not fit the caller's buffer
	size_t big_cap;
	char *err;       // malloc'd text of the last failure, or NULL
	tdm_result res;
};

// tdm_load dlopens libpython and resolves every function tandem uses. It is
// called once per process. On failure it returns -1 and writes why into err.
int tdm_load(const char *libpath, char *err, size_t errlen);

// tdm_version returns Py_GetVersion(); valid after tdm_load, before init.
const char *tdm_version(void);

// tdm_has_subinterpreters says whether the loaded runtime can create
// sub-interpreters with their own GIL (PEP 684, CPython >= 3.12).
int tdm_has_subinterpreters(void);

// tdm_initialize starts the runtime on the calling thread, which must stay
// the same OS thread until tdm_finalize. home and executable (sys.executable)
// may be NULL. Returns -1 and a malloc'd message in *err on failure.
int tdm_initialize(const char *home, const char *executable, char **err);

// tdm_finalize ends the runtime. Every worker must have ended before.
int tdm_finalize(void);

// tdm_worker_new creates a worker on the calling OS thread: a new
// sub-interpreter with its own GIL (own_gil=1) or a thread state in the main
// interpreter (own_gil=0). It executes the tandem module source, calls
// tandem._setup_interpreter(setup_json) and tandem._new_dispatcher(routes_json).
// A floating worker (floating=1) may later be called on any OS thread, one
// call at a time; any other only on the thread that created it.
// On failure it returns NULL and a malloc'd message in *err; nothing is left
// behind.
tdm_worker *tdm_worker_new(int own_gil, int floating, const char *src, const char *setup_json,
                           const char *routes_json, char **err);

// tdm_worker_end ends a worker on the OS thread that created it, or a
// floating one on any thread.
void tdm_worker_end(tdm_worker *w);

// tdm_call runs one request: attach, build the arguments from meta and body,
// call the dispatcher, copy status, headers, log and body into out (or into
// w->big when they do not fit), detach. One crossing from Go per request.
// job (> 0) numbers the request for tdm_interrupt; 0 makes it
// uninterruptible. If tdm_interrupt raised into it, res.interrupted is 1
// and no HandlerTimeout stays pending for the thread's next call.
int tdm_call(tdm_worker *w, int64_t job, const char *meta, size_t meta_len, const char *body,
             size_t body_len, char *out, size_t out_cap);

// tdm_interrupt raises tandem.HandlerTimeout in w's thread if, and only if,
// that thread is still running job. It runs on a thread of its own (any
// thread but the worker's, holding no thread state), where it creates a
// thread state in w's interpreter and attaches it: that waits for the
// interpreter's GIL, which a worker running Python drops within the switch
// interval (5 ms) and one blocked in C code that holds it does not drop
// until that code returns. Returns 1 when the exception was set, 0 when w
// was not running job, -1 when it could not be set. The caller must keep w
// alive (tdm_worker_end not started) until it returns.
int tdm_interrupt(tdm_worker *w, int64_t job);

// tdm_exec_main runs Python source in the main interpreter on the thread that
// called tdm_initialize.
int tdm_exec_main(const char *src, char **err);

// tdm_release_big frees a worker's overflow buffer once it is above keep bytes.
void tdm_release_big(tdm_worker *w, size_t keep);

// tdm_exec runs Python source in the worker's interpreter (tests and
// diagnostics). Returns -1 with the error in w->err.
int tdm_exec(tdm_worker *w, const char *src);

// Replacing the routes of running workers, all or nothing across a pool:
// tdm_worker_prepare_routes builds a dispatcher for routes_json with
// tandem._new_dispatcher and keeps it aside in w->next (replacing any kept
// before); it returns -1 with the problem in w->err when the routes cannot be
// built. tdm_worker_commit_routes then makes w->next the dispatcher and drops
// the old one; tdm_worker_discard_routes drops w->next instead. Each runs on
// the worker's own thread, between requests; tdm_worker_end drops a
// dispatcher still kept aside.
int tdm_worker_prepare_routes(tdm_worker *w, const char *routes_json);
void tdm_worker_commit_routes(tdm_worker *w);
void tdm_worker_discard_routes(tdm_worker *w);

// tdm_spin_wait polls *pending until it is positive or ns pass, and says
// which happened. Idle workers wait here rather than in Go: a goroutine in a
// cgo call does not hold its P, so a requester the worker just woke can be
// run by another P at once instead of waiting behind the spinning worker.
int tdm_spin_wait(const volatile int32_t *pending, uint64_t ns);

#endif
