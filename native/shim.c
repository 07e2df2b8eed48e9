// The CPython side of tandem: loading libpython, the interpreter lifecycle and
// the per-request call. See shim.h for the contract.
//
// Thread-state rules this file follows (each one is a way to crash CPython):
//  1. A PyThreadState is created on the OS thread that will use it and is kept
//     for that thread's life; we attach and detach it around each request with
//     PyEval_RestoreThread / PyEval_SaveThread.
//  2. PyGILState_* is never used: it only knows the main interpreter.
//  3. Py_NewInterpreterFromConfig is called with a main-interpreter thread
//     state attached; that serializes creation on the main GIL.
//  4. Py_EndInterpreter runs with the worker's own thread state attached, on
//     its own thread, when it is the interpreter's last thread state.
//  5. Every worker ends before Py_FinalizeEx, which runs on the thread that
//     called Py_InitializeEx.
//  6. An interrupting thread (tdm_interrupt) creates a thread state of its
//     own in the worker's interpreter, attaches it, and clears and deletes
//     it before returning; no worker ends its interpreter while one exists
//     (Py_EndInterpreter wants its caller to be the last thread state).
//
// Reference ownership is written at each call site: "new" for references we
// own and must release, "borrowed" for the others.

#include "shim.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct _object PyObject;
typedef struct _ts PyThreadState;
typedef struct _is PyInterpreterState;
typedef ptrdiff_t Py_ssize_t;
typedef struct PyInitConfig PyInitConfig; // PEP 741 (3.14): opaque, set by name

// PyStatus and PyInterpreterConfig have had this layout from 3.12 to 3.14.
typedef struct {
	int type;
	const char *func;
	const char *err_msg;
	int exitcode;
} PyStatus;

typedef struct {
	int use_main_obmalloc;
	int allow_fork;
	int allow_exec;
	int allow_threads;
	int allow_daemon_threads;
	int check_multi_interp_extensions;
	int gil;
} PyInterpreterConfig;

#define TDM_OWN_GIL 2
#define TDM_FILE_INPUT 257 // Py_file_input

// The hand-declared subset of the C API. X(required, return, name, args)
#define TDM_API(X)                                                                 \
	X(1, const char *, Py_GetVersion, (void))                                      \
	X(1, void, Py_InitializeEx, (int))                                             \
	X(1, int, Py_IsInitialized, (void))                                            \
	X(1, int, Py_FinalizeEx, (void))                                               \
	X(1, PyThreadState *, PyEval_SaveThread, (void))                               \
	X(1, void, PyEval_RestoreThread, (PyThreadState *))                            \
	X(1, PyInterpreterState *, PyInterpreterState_Main, (void))                    \
	X(1, PyInterpreterState *, PyInterpreterState_Get, (void))                     \
	X(1, int64_t, PyInterpreterState_GetID, (PyInterpreterState *))                \
	X(1, PyThreadState *, PyThreadState_New, (PyInterpreterState *))               \
	X(1, void, PyThreadState_Clear, (PyThreadState *))                             \
	X(1, void, PyThreadState_DeleteCurrent, (void))                                \
	X(1, void, PyThreadState_Delete, (PyThreadState *))                            \
	X(0, PyStatus, Py_NewInterpreterFromConfig,                                    \
	  (PyThreadState **, const PyInterpreterConfig *))                             \
	X(0, int, PyStatus_Exception, (PyStatus))                                      \
	X(1, void, Py_EndInterpreter, (PyThreadState *))                               \
	X(1, void, Py_IncRef, (PyObject *))                                            \
	X(1, void, Py_DecRef, (PyObject *))                                            \
	X(1, PyObject *, Py_CompileString, (const char *, const char *, int))          \
	X(1, PyObject *, PyImport_ExecCodeModule, (const char *, PyObject *))          \
	X(1, PyObject *, PyImport_ImportModule, (const char *))                        \
	X(1, PyObject *, PyImport_GetModule, (PyObject *))                             \
	X(1, PyObject *, PyObject_GetAttrString, (PyObject *, const char *))           \
	X(1, PyObject *, PyObject_Vectorcall,                                          \
	  (PyObject *, PyObject *const *, size_t, PyObject *))                         \
	X(1, PyObject *, PyObject_Str, (PyObject *))                                   \
	X(1, PyObject *, PyUnicode_FromStringAndSize, (const char *, Py_ssize_t))      \
	X(1, PyObject *, PyUnicode_DecodeUTF8, (const char *, Py_ssize_t, const char *)) \
	X(1, const char *, PyUnicode_AsUTF8AndSize, (PyObject *, Py_ssize_t *))        \
	X(1, PyObject *, PyUnicode_Join, (PyObject *, PyObject *))                     \
	X(1, PyObject *, PyBytes_FromStringAndSize, (const char *, Py_ssize_t))        \
	X(1, int, PyBytes_AsStringAndSize, (PyObject *, char **, Py_ssize_t *))        \
	X(1, PyObject *, PyLong_FromLong, (long))                                      \
	X(1, long, PyLong_AsLong, (PyObject *))                                        \
	X(1, PyObject *, PyTuple_New, (Py_ssize_t))                                    \
	X(1, int, PyTuple_SetItem, (PyObject *, Py_ssize_t, PyObject *))               \
	X(1, PyObject *, PyTuple_GetItem, (PyObject *, Py_ssize_t))                    \
	X(1, Py_ssize_t, PyTuple_Size, (PyObject *))                                   \
	X(1, int, PyThreadState_SetAsyncExc, (unsigned long, PyObject *))              \
	X(1, unsigned long, PyThread_get_thread_ident, (void))                         \
	X(1, PyObject *, PyErr_Occurred, (void))                                       \
	X(1, void, PyErr_Clear, (void))                                                \
	X(1, void, PyErr_Fetch, (PyObject **, PyObject **, PyObject **))               \
	X(1, void, PyErr_NormalizeException, (PyObject **, PyObject **, PyObject **))  \
	X(1, int, PyRun_SimpleString, (const char *))                                 \
	X(0, PyInitConfig *, PyInitConfig_Create, (void))                              \
	X(0, void, PyInitConfig_Free, (PyInitConfig *))                                \
	X(0, int, PyInitConfig_SetInt, (PyInitConfig *, const char *, int64_t))        \
	X(0, int, PyInitConfig_SetStr, (PyInitConfig *, const char *, const char *))   \
	X(0, int, PyInitConfig_GetError, (PyInitConfig *, const char **))              \
	X(0, int, Py_InitializeFromInitConfig, (PyInitConfig *))

#define TDM_DECLARE(req, ret, name, args) static ret(*p_##name) args;
TDM_API(TDM_DECLARE)
#undef TDM_DECLARE

static void *lib;
static PyObject *py_none;           // borrowed for the process's life: &_Py_NoneStruct
static PyThreadState *main_tstate;  // the initializing thread's state, detached between uses

// fmt_err formats a message into a fresh malloc'd string.
static char *fmt_err(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		return NULL;
	}
	char *s = malloc((size_t)n + 1);
	if (s == NULL) {
		return NULL;
	}
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

// dup_py_str copies a Python str into a malloc'd C string. o is borrowed.
static char *dup_py_str(PyObject *o) {
	Py_ssize_t n = 0;
	const char *s = p_PyUnicode_AsUTF8AndSize(o, &n);
	if (s == NULL) {
		p_PyErr_Clear();
		return NULL;
	}
	char *c = malloc((size_t)n + 1);
	if (c != NULL) {
		memcpy(c, s, (size_t)n);
		c[n] = 0;
	}
	return c;
}

// take_exception clears the current Python exception and returns it as
// malloc'd text with its traceback, prefixed by what was being done.
static char *take_exception(const char *doing) {
	PyObject *type = NULL, *value = NULL, *tb = NULL; // new, after Fetch
	p_PyErr_Fetch(&type, &value, &tb);
	if (type == NULL) {
		return fmt_err("%s failed without a Python exception", doing);
	}
	p_PyErr_NormalizeException(&type, &value, &tb);
	char *text = NULL;
	PyObject *mod = p_PyImport_ImportModule("traceback"); // new
	if (mod != NULL) {
		PyObject *fn = p_PyObject_GetAttrString(mod, "format_exception"); // new
		if (fn != NULL) {
			PyObject *args[3] = {type, value ? value : py_none, tb ? tb : py_none};
			PyObject *lines = p_PyObject_Vectorcall(fn, args, 3, NULL); // new
			if (lines != NULL) {
				PyObject *empty = p_PyUnicode_FromStringAndSize("", 0); // new
				if (empty != NULL) {
					PyObject *joined = p_PyUnicode_Join(empty, lines); // new
					if (joined != NULL) {
						text = dup_py_str(joined);
						p_Py_DecRef(joined);
					}
					p_Py_DecRef(empty);
				}
				p_Py_DecRef(lines);
			}
			p_Py_DecRef(fn);
		}
		p_Py_DecRef(mod);
	}
	if (text == NULL && value != NULL) {
		PyObject *s = p_PyObject_Str(value); // new
		if (s != NULL) {
			text = dup_py_str(s);
			p_Py_DecRef(s);
		}
	}
	p_PyErr_Clear();
	if (type) p_Py_DecRef(type);
	if (value) p_Py_DecRef(value);
	if (tb) p_Py_DecRef(tb);
	char *msg = fmt_err("%s: %s", doing, text ? text : "(the exception could not be formatted)");
	free(text);
	return msg;
}

int tdm_load(const char *libpath, char *err, size_t errlen) {
	if (lib != NULL) {
		snprintf(err, errlen, "a Python runtime is already loaded in this process");
		return -1;
	}
	// RTLD_GLOBAL: extension modules loaded later resolve Py* symbols from it.
	void *h = dlopen(libpath, RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) {
		snprintf(err, errlen, "%s", dlerror());
		return -1;
	}
#define TDM_RESOLVE(req, ret, name, args)                                         \
	p_##name = (ret(*) args)dlsym(h, #name);                                      \
	if (p_##name == NULL && req) {                                                \
		snprintf(err, errlen, "%s does not export %s: not a usable libpython", libpath, #name); \
		dlclose(h);                                                               \
		return -1;                                                                \
	}
	TDM_API(TDM_RESOLVE)
#undef TDM_RESOLVE
	py_none = (PyObject *)dlsym(h, "_Py_NoneStruct");
	if (py_none == NULL) {
		snprintf(err, errlen, "%s does not export _Py_NoneStruct: not a usable libpython", libpath);
		dlclose(h);
		return -1;
	}
	lib = h;
	return 0;
}

const char *tdm_version(void) { return p_Py_GetVersion ? p_Py_GetVersion() : ""; }

int tdm_has_subinterpreters(void) {
	return p_Py_NewInterpreterFromConfig != NULL && p_PyStatus_Exception != NULL;
}

// init_config starts the runtime through PEP 741's PyInitConfig (CPython
// 3.14 and later): options are set by name, so no struct layout is assumed,
// and a failure comes back as a message instead of Py_FatalError ending the
// process. Returns 0, or -1 with *err set.
static int init_config(const char *home, const char *executable, char **err) {
	PyInitConfig *cfg = p_PyInitConfig_Create();
	if (cfg == NULL) {
		*err = fmt_err("PyInitConfig_Create failed (out of memory)");
		return -1;
	}
	const char *what = NULL;
	// 0: Go owns the process's signals. configure_c_stdio and parse_argv
	// are for a python executable, not for an embedding.
	if (p_PyInitConfig_SetInt(cfg, "install_signal_handlers", 0) < 0) what = "install_signal_handlers";
	else if (p_PyInitConfig_SetInt(cfg, "configure_c_stdio", 0) < 0) what = "configure_c_stdio";
	else if (p_PyInitConfig_SetInt(cfg, "parse_argv", 0) < 0) what = "parse_argv";
	else if (home && home[0] && p_PyInitConfig_SetStr(cfg, "home", home) < 0) what = "home";
	else if (executable && executable[0] && p_PyInitConfig_SetStr(cfg, "executable", executable) < 0) what = "executable";
	int rc = 0;
	if (what != NULL || p_Py_InitializeFromInitConfig(cfg) < 0) {
		const char *msg = NULL;
		if (p_PyInitConfig_GetError(cfg, &msg) == 0 || msg == NULL) {
			msg = "unknown error";
		}
		*err = what ? fmt_err("setting %s: %s", what, msg) : fmt_err("%s", msg);
		rc = -1;
	}
	p_PyInitConfig_Free(cfg);
	return rc;
}

int tdm_initialize(const char *home, const char *executable, char **err) {
	if (lib == NULL) {
		*err = fmt_err("no Python runtime is loaded");
		return -1;
	}
	if (p_Py_IsInitialized()) {
		*err = fmt_err("the Python runtime is already initialized in this process");
		return -1;
	}
	if (p_PyInitConfig_Create && p_PyInitConfig_Free && p_PyInitConfig_SetInt &&
	    p_PyInitConfig_SetStr && p_PyInitConfig_GetError && p_Py_InitializeFromInitConfig) {
		if (init_config(home, executable, err) != 0) {
			return -1;
		}
	} else {
		// Before 3.14: the legacy call. PYTHONHOME is how the runtime finds
		// its standard library when the executable (tandem) is not a Python;
		// the Go side removes it from os.environ again afterwards, so that
		// subprocesses a handler starts see the environment tandem was given.
		// (A runtime that cannot find its standard library would end the
		// process here; Locate checks for it first.)
		if (home != NULL && home[0] != 0) {
			setenv("PYTHONHOME", home, 1);
		}
		// 0: do not install signal handlers; Go owns the process's signals.
		p_Py_InitializeEx(0);
	}
	if (!p_Py_IsInitialized()) {
		*err = fmt_err("the runtime did not initialize");
		return -1;
	}
	main_tstate = p_PyEval_SaveThread();
	return 0;
}

int tdm_finalize(void) {
	if (main_tstate == NULL) {
		return 0;
	}
	p_PyEval_RestoreThread(main_tstate);
	main_tstate = NULL;
	return p_Py_FinalizeEx();
}

// tdm_exec_main runs Python source in the main interpreter, on the initializing
// thread, between tdm_initialize and tdm_finalize.
int tdm_exec_main(const char *src, char **err) {
	p_PyEval_RestoreThread(main_tstate);
	int rc = p_PyRun_SimpleString(src);
	main_tstate = p_PyEval_SaveThread();
	if (rc != 0) {
		*err = fmt_err("running start-up code in the main interpreter failed (see stderr)");
		return -1;
	}
	return 0;
}

// call_str calls mod.name(arg) with a str argument. Returns a new reference
// or NULL with the Python exception set.
static PyObject *call_str(PyObject *mod, const char *name, const char *arg) {
	PyObject *fn = p_PyObject_GetAttrString(mod, name); // new
	if (fn == NULL) {
		return NULL;
	}
	PyObject *s = p_PyUnicode_FromStringAndSize(arg, (Py_ssize_t)strlen(arg)); // new
	if (s == NULL) {
		p_Py_DecRef(fn);
		return NULL;
	}
	PyObject *args[1] = {s};
	PyObject *r = p_PyObject_Vectorcall(fn, args, 1, NULL); // new
	p_Py_DecRef(s);
	p_Py_DecRef(fn);
	return r;
}

// tandem_module returns the interpreter's tandem module (new reference),
// executing src as that module if it is not loaded yet; in shared mode the
// main interpreter loads it once for every worker.
static PyObject *tandem_module(const char *src, char **err) {
	PyObject *name = p_PyUnicode_FromStringAndSize("tandem", 6); // new
	if (name == NULL) {
		*err = take_exception("creating a string");
		return NULL;
	}
	PyObject *mod = p_PyImport_GetModule(name); // new or NULL (no error when absent)
	p_Py_DecRef(name);
	if (mod != NULL) {
		return mod;
	}
	if (p_PyErr_Occurred()) {
		*err = take_exception("looking up sys.modules['tandem']");
		return NULL;
	}
	PyObject *code = p_Py_CompileString(src, "<tandem>", TDM_FILE_INPUT); // new
	if (code == NULL) {
		*err = take_exception("compiling the embedded tandem module");
		return NULL;
	}
	mod = p_PyImport_ExecCodeModule("tandem", code); // new
	p_Py_DecRef(code);
	if (mod == NULL) {
		*err = take_exception("executing the embedded tandem module");
	}
	return mod;
}

// new_dispatcher calls mod._new_dispatcher(routes_json) with the worker's
// thread state attached. Returns the dispatcher (new reference), or NULL with
// a malloc'd message in *err: the problems tandem found in the routes.
static PyObject *new_dispatcher(PyObject *mod, const char *routes_json, char **err) {
	PyObject *r = call_str(mod, "_new_dispatcher", routes_json); // new: (dispatch, error)
	if (r == NULL) {
		*err = take_exception("tandem._new_dispatcher");
		return NULL;
	}
	if (p_PyTuple_Size(r) != 2) {
		p_PyErr_Clear();
		p_Py_DecRef(r);
		*err = fmt_err("tandem._new_dispatcher did not return a (dispatch, error) pair");
		return NULL;
	}
	PyObject *dispatch = p_PyTuple_GetItem(r, 0); // borrowed
	PyObject *perr = p_PyTuple_GetItem(r, 1);     // borrowed
	if (perr != py_none || dispatch == py_none) {
		char *text = perr != py_none ? dup_py_str(perr) : NULL;
		*err = text ? text : fmt_err("tandem._new_dispatcher returned no dispatcher");
		p_Py_DecRef(r);
		return NULL;
	}
	p_Py_IncRef(dispatch); // new
	p_Py_DecRef(r);
	return dispatch;
}

// start_worker runs the Python half of worker creation with w->tstate
// attached. Returns 0, or -1 with *err set.
static int start_worker(tdm_worker *w, const char *src, const char *setup_json,
                        const char *routes_json, char **err) {
	PyInterpreterState *interp = p_PyInterpreterState_Get();
	w->interp = interp;
	w->interp_id = p_PyInterpreterState_GetID(interp);
	// The id PyThreadState_SetAsyncExc matches against the thread state's
	// thread_id, which CPython set to this thread's ident when it bound the
	// state to this thread (PyThreadState_New, Py_NewInterpreterFromConfig).
	w->thread_ident = p_PyThread_get_thread_ident();
	PyObject *mod = tandem_module(src, err); // new
	if (mod == NULL) {
		return -1;
	}
	PyObject *r = call_str(mod, "_setup_interpreter", setup_json); // new
	if (r == NULL) {
		*err = take_exception("tandem._setup_interpreter");
		p_Py_DecRef(mod);
		return -1;
	}
	if (r != py_none) {
		char *text = dup_py_str(r);
		*err = text ? text : fmt_err("setting up the interpreter failed");
		p_Py_DecRef(r);
		p_Py_DecRef(mod);
		return -1;
	}
	p_Py_DecRef(r);

	PyObject *dispatch = new_dispatcher(mod, routes_json, err); // new
	if (dispatch == NULL) {
		p_Py_DecRef(mod);
		return -1;
	}
	w->dispatch = dispatch; // owned by the worker until tdm_worker_end
	w->module = mod;        // likewise, for tdm_worker_prepare_routes
	// What tdm_interrupt raises and tdm_call drains with (new, or NULL:
	// without them the worker cannot be interrupted, only replaced).
	w->timeout_exc = p_PyObject_GetAttrString(mod, "HandlerTimeout");
	w->drain = p_PyObject_GetAttrString(mod, "_drain_interrupt");
	if (w->timeout_exc == NULL || w->drain == NULL) {
		p_PyErr_Clear();
	}
	return 0;
}

// drop_current destroys the attached thread state ts and releases its GIL.
static void drop_current(PyThreadState *ts) {
	p_PyThreadState_Clear(ts);
	p_PyThreadState_DeleteCurrent();
}

// --- floating workers --------------------------------------------------------
//
// A floating worker's calls come on whichever OS thread the Go scheduler
// runs its goroutine on. CPython wants one thread state per (thread,
// interpreter), made on that thread and kept (3.14 records each thread's
// stack bounds in its state), so each thread gets its own on first use:
// found through a small per-thread cache keyed by the worker's uid, else in
// w->others, else made. tdm_worker_end deletes them all, from its own
// thread, before it ends the interpreter.

static uint64_t next_uid = 1;

#define TDM_TS_CACHE 16
static __thread struct {
	uint64_t uid;
	PyThreadState *ts;
} ts_cache[TDM_TS_CACHE];

// thread_anchor is the calling thread's own main-interpreter thread state,
// made the first time floating code runs on the thread and kept until
// Py_FinalizeEx. Shared-mode floating workers run in it (one state per
// thread and interpreter: PyThreadState_SetAsyncExc finds a thread's state
// by its id). It also keeps CPython's per-thread PyGILState pointer off the
// states tdm_worker_end deletes from other threads: attaching a state makes
// it that pointer (CPython >= 3.12 rebinds it on every attach), and deleting
// the state it points at from another thread clears the deleting thread's
// pointer instead and leaves this one dangling; the next attach here then
// writes into freed memory (seen as corrupted Python objects and crashes).
// So after every call of an own-GIL floating worker the thread attaches its
// anchor for a moment (detach): one uncontended take of the main GIL.
static __thread PyThreadState *thread_anchor;

static PyThreadState *anchor_thread(void) {
	if (thread_anchor == NULL) {
		thread_anchor = p_PyThreadState_New(p_PyInterpreterState_Main());
	}
	return thread_anchor;
}

// detach ends what attach began: it detaches the calling thread's state in
// w's interpreter, releasing its GIL, and, for an own-GIL floating worker,
// makes the thread's anchor its PyGILState state again (see thread_anchor).
static void detach(tdm_worker *w) {
	p_PyEval_SaveThread();
	if (!w->floating || !w->own_gil) {
		return;
	}
	PyThreadState *a = anchor_thread();
	if (a != NULL) {
		p_PyEval_RestoreThread(a);
		p_PyEval_SaveThread();
	}
}

// thread_state returns the calling thread's state in w's interpreter, made
// if need be, or NULL when out of memory.
static PyThreadState *thread_state(tdm_worker *w) {
	if (!w->floating) {
		return w->tstate;
	}
	if (!w->own_gil) {
		return anchor_thread();
	}
	unsigned long self = p_PyThread_get_thread_ident();
	if (self == w->home) {
		return w->tstate;
	}
	unsigned slot = (unsigned)(w->uid % TDM_TS_CACHE);
	if (ts_cache[slot].uid == w->uid) {
		return ts_cache[slot].ts;
	}
	PyThreadState *ts = NULL;
	for (size_t i = 0; i < w->nothers; i++) {
		if (w->others[i].thread == self) {
			ts = w->others[i].tstate;
			break;
		}
	}
	if (ts == NULL) {
		if (w->nothers == w->cap_others) {
			size_t cap = w->cap_others ? 2 * w->cap_others : 8;
			struct tdm_ts *n = realloc(w->others, cap * sizeof *n);
			if (n == NULL) {
				return NULL;
			}
			w->others = n;
			w->cap_others = cap;
		}
		if (anchor_thread() == NULL) {
			return NULL;
		}
		ts = p_PyThreadState_New((PyInterpreterState *)w->interp);
		if (ts == NULL) {
			return NULL;
		}
		w->others[w->nothers].thread = self;
		w->others[w->nothers].tstate = ts;
		w->nothers++;
	}
	ts_cache[slot].uid = w->uid;
	ts_cache[slot].ts = ts;
	return ts;
}

// attach attaches the calling thread's state in w's interpreter, taking its
// GIL, and records the thread as the one running w's calls.
static PyThreadState *attach(tdm_worker *w) {
	PyThreadState *ts = thread_state(w);
	if (ts == NULL) {
		return NULL;
	}
	p_PyEval_RestoreThread(ts);
	w->thread_ident = p_PyThread_get_thread_ident();
	return ts;
}

// drop_others deletes every thread state of w's but ts, which is attached.
static void drop_others(tdm_worker *w, PyThreadState *ts) {
	if (w->tstate != ts) {
		p_PyThreadState_Clear(w->tstate);
		p_PyThreadState_Delete(w->tstate);
	}
	for (size_t i = 0; i < w->nothers; i++) {
		PyThreadState *x = w->others[i].tstate;
		if (x != ts) {
			p_PyThreadState_Clear(x);
			p_PyThreadState_Delete(x);
		}
	}
	free(w->others);
	w->others = NULL;
	w->nothers = w->cap_others = 0;
}

tdm_worker *tdm_worker_new(int own_gil, int floating, const char *src, const char *setup_json,
                           const char *routes_json, char **err) {
	*err = NULL;
	if (main_tstate == NULL) {
		*err = fmt_err("the Python runtime is not initialized");
		return NULL;
	}
	if (own_gil && !tdm_has_subinterpreters()) {
		*err = fmt_err("this Python (%s) cannot create sub-interpreters with their own GIL; "
		               "use isolation: shared or Python >= 3.12", tdm_version());
		return NULL;
	}
	tdm_worker *w = calloc(1, sizeof *w);
	if (w == NULL) {
		*err = fmt_err("out of memory");
		return NULL;
	}
	w->own_gil = own_gil;
	w->uid = __atomic_fetch_add(&next_uid, 1, __ATOMIC_RELAXED);
	w->floating = floating;
	w->home = p_PyThread_get_thread_ident();
	if (floating && anchor_thread() == NULL) { // before the worker's state: see thread_anchor
		free(w);
		*err = fmt_err("could not create a thread state");
		return NULL;
	}
	PyInterpreterState *main_interp = p_PyInterpreterState_Main();

	if (!own_gil) {
		// Shared mode: a thread state of the main interpreter for this
		// thread (when floating, the thread's anchor, shared by workers).
		PyThreadState *ts = floating ? thread_anchor : p_PyThreadState_New(main_interp);
		if (ts == NULL) {
			free(w);
			*err = fmt_err("could not create a thread state");
			return NULL;
		}
		p_PyEval_RestoreThread(ts);
		w->tstate = ts;
		if (start_worker(w, src, setup_json, routes_json, err) != 0) {
			if (floating) {
				p_PyEval_SaveThread(); // the anchor stays
			} else {
				drop_current(ts);
			}
			free(w);
			return NULL;
		}
		p_PyEval_SaveThread();
		return w;
	}

	// Own GIL: attach a temporary main-interpreter thread state (rule 3),
	// create the sub-interpreter, then drop the temporary state so this
	// thread holds exactly one thread state for the rest of its life.
	PyThreadState *tmp = p_PyThreadState_New(main_interp);
	if (tmp == NULL) {
		free(w);
		*err = fmt_err("could not create a thread state");
		return NULL;
	}
	p_PyEval_RestoreThread(tmp);
	PyInterpreterConfig cfg = {
	    .use_main_obmalloc = 0, // own GIL requires its own allocator state
	    .allow_fork = 0,
	    .allow_exec = 0,
	    .allow_threads = 1,
	    .allow_daemon_threads = 0, // they would outlive Py_EndInterpreter
	    .check_multi_interp_extensions = 1, // refuse extensions that share state
	    .gil = TDM_OWN_GIL,
	};
	PyThreadState *ts = NULL;
	PyStatus st = p_Py_NewInterpreterFromConfig(&ts, &cfg);
	if (p_PyStatus_Exception(st) || ts == NULL) {
		// On failure CPython re-attaches tmp.
		*err = fmt_err("creating a sub-interpreter failed: %s%s%s",
		               st.func ? st.func : "", st.func ? ": " : "",
		               st.err_msg ? st.err_msg : "out of memory");
		drop_current(tmp);
		free(w);
		return NULL;
	}
	// Now ts is attached (holding the new GIL) and tmp is detached.
	p_PyEval_SaveThread();
	p_PyEval_RestoreThread(tmp);
	drop_current(tmp); // releases the main GIL

	p_PyEval_RestoreThread(ts);
	w->tstate = ts;
	if (start_worker(w, src, setup_json, routes_json, err) != 0) {
		p_Py_EndInterpreter(ts); // leaves no thread state attached
		free(w);
		return NULL;
	}
	detach(w);
	return w;
}

void tdm_worker_end(tdm_worker *w) {
	if (w == NULL) {
		return;
	}
	PyThreadState *ts = attach(w);
	if (ts == NULL) {
		return; // no memory for this thread's state: leak the worker rather than crash
	}
	void **refs[5] = {&w->dispatch, &w->next, &w->module, &w->timeout_exc, &w->drain};
	for (int i = 0; i < 5; i++) {
		if (*refs[i] != NULL) {
			p_Py_DecRef((PyObject *)*refs[i]);
			*refs[i] = NULL;
		}
	}
	if (w->floating && w->own_gil) {
		drop_others(w, ts);
	}
	if (w->floating && !w->own_gil) {
		p_PyEval_SaveThread(); // ts is the thread's anchor, which stays
	} else if (w->own_gil) {
		// Waits for the interpreter's non-daemon threads, runs atexit
		// callbacks, then destroys the interpreter and ts (rule 4).
		p_Py_EndInterpreter(ts);
	} else {
		drop_current(ts);
	}
	free(w->big);
	free(w->err);
	free(w);
}

int tdm_worker_prepare_routes(tdm_worker *w, const char *routes_json) {
	free(w->err);
	w->err = NULL;
	if (attach(w) == NULL) {
		w->err = fmt_err("out of memory for a thread state");
		return -1;
	}
	if (w->next != NULL) {
		p_Py_DecRef(w->next);
		w->next = NULL;
	}
	// Modules the workers imported before come from sys.modules; new ones
	// are imported here, under this worker's GIL.
	PyObject *dispatch = new_dispatcher(w->module, routes_json, &w->err); // new
	w->next = dispatch;
	detach(w);
	if (dispatch == NULL) {
		if (w->err == NULL) {
			w->err = fmt_err("building the Python routes failed");
		}
		return -1;
	}
	return 0;
}

void tdm_worker_commit_routes(tdm_worker *w) {
	if (w->next == NULL) {
		return;
	}
	if (attach(w) == NULL) {
		return; // keeps the old routes: out of memory
	}
	PyObject *old = w->dispatch;
	w->dispatch = w->next;
	w->next = NULL;
	p_Py_DecRef(old); // may free the routes no dispatcher serves any more
	detach(w);
}

void tdm_worker_discard_routes(tdm_worker *w) {
	if (w->next == NULL) {
		return;
	}
	if (attach(w) == NULL) {
		return; // leaks the unused dispatcher: out of memory
	}
	p_Py_DecRef(w->next);
	w->next = NULL;
	detach(w);
}

int tdm_exec(tdm_worker *w, const char *src) {
	free(w->err);
	w->err = NULL;
	if (attach(w) == NULL) {
		w->err = fmt_err("out of memory for a thread state");
		return -1;
	}
	PyObject *code = p_Py_CompileString(src, "<tandem-exec>", TDM_FILE_INPUT); // new
	int rc = 0;
	if (code == NULL) {
		w->err = take_exception("compiling");
		rc = -1;
	} else {
		PyObject *main = p_PyImport_ImportModule("__main__"); // new
		PyObject *ns = main ? p_PyObject_GetAttrString(main, "__dict__") : NULL; // new
		if (ns == NULL) {
			w->err = take_exception("finding __main__");
			rc = -1;
		} else {
			// exec(code, __main__.__dict__) through the builtins module keeps
			// us clear of PyEval_EvalCode's version differences.
			PyObject *bi = p_PyImport_ImportModule("builtins"); // new
			PyObject *ex = bi ? p_PyObject_GetAttrString(bi, "exec") : NULL; // new
			PyObject *r = NULL;
			if (ex != NULL) {
				PyObject *args[2] = {code, ns};
				r = p_PyObject_Vectorcall(ex, args, 2, NULL); // new
			}
			if (r == NULL) {
				w->err = take_exception("running");
				rc = -1;
			} else {
				p_Py_DecRef(r);
			}
			if (ex) p_Py_DecRef(ex);
			if (bi) p_Py_DecRef(bi);
			p_Py_DecRef(ns);
		}
		if (main) p_Py_DecRef(main);
		p_Py_DecRef(code);
	}
	detach(w);
	return rc;
}

// --- the request call ------------------------------------------------------

// reader walks the meta buffer Go packed: little-endian u32 lengths.
typedef struct {
	const char *p;
	const char *end;
	int bad;
} reader;

static uint32_t rd_u32(reader *r) {
	if (r->end - r->p < 4) {
		r->bad = 1;
		return 0;
	}
	uint32_t v;
	memcpy(&v, r->p, 4);
	r->p += 4;
	return v;
}

// rd_str returns a new str decoded as UTF-8 with surrogateescape, so bytes
// that are not UTF-8 survive the round trip instead of failing the request.
static PyObject *rd_str(reader *r) {
	uint32_t n = rd_u32(r);
	if (r->bad || (uint64_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	PyObject *s = p_PyUnicode_DecodeUTF8(r->p, (Py_ssize_t)n, "surrogateescape"); // new
	r->p += n;
	return s;
}

// rd_pairs returns a new tuple of (str, str) tuples.
static PyObject *rd_pairs(reader *r) {
	uint32_t n = rd_u32(r);
	if (r->bad || n > (uint32_t)(r->end - r->p) / 8) {
		r->bad = 1;
		return NULL;
	}
	PyObject *t = p_PyTuple_New((Py_ssize_t)n); // new
	if (t == NULL) {
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++) {
		PyObject *pair = p_PyTuple_New(2); // new, stolen by SetItem below
		if (pair == NULL) {
			p_Py_DecRef(t);
			return NULL;
		}
		p_PyTuple_SetItem(t, (Py_ssize_t)i, pair);
		for (int k = 0; k < 2; k++) {
			PyObject *s = rd_str(r); // new, stolen by SetItem
			if (s == NULL) {
				p_Py_DecRef(t);
				return NULL;
			}
			p_PyTuple_SetItem(pair, k, s);
		}
	}
	return t;
}

// build_args fills args[0..4] with new references: route id, meta tuple,
// headers, params, body. Returns -1 on failure (all released).
static int build_args(const char *meta, size_t meta_len, const char *body, size_t body_len,
                      PyObject *args[5]) {
	reader r = {meta, meta + meta_len, 0};
	memset(args, 0, 5 * sizeof(PyObject *));
	uint32_t route = rd_u32(&r);
	uint32_t nmeta = rd_u32(&r);
	if (r.bad || nmeta > 64) {
		return -2;
	}
	args[0] = p_PyLong_FromLong((long)route);
	args[1] = p_PyTuple_New((Py_ssize_t)nmeta);
	if (args[0] == NULL || args[1] == NULL) {
		goto fail;
	}
	for (uint32_t i = 0; i < nmeta; i++) {
		PyObject *s = rd_str(&r);
		if (s == NULL) {
			goto fail;
		}
		p_PyTuple_SetItem(args[1], (Py_ssize_t)i, s);
	}
	if ((args[2] = rd_pairs(&r)) == NULL || (args[3] = rd_pairs(&r)) == NULL) {
		goto fail;
	}
	args[4] = p_PyBytes_FromStringAndSize(body_len ? body : "", (Py_ssize_t)body_len);
	if (args[4] == NULL) {
		goto fail;
	}
	return 0;
fail:
	for (int i = 0; i < 5; i++) {
		if (args[i]) p_Py_DecRef(args[i]);
		args[i] = NULL;
	}
	return r.bad ? -2 : -1;
}

// out_writer appends to the caller's buffer until it is full, then counts
// only; a second pass writes into the worker's big buffer.
typedef struct {
	char *buf;
	size_t cap;
	size_t n;
} out_writer;

static void put(out_writer *o, const void *p, size_t n) {
	if (o->buf != NULL && o->n + n <= o->cap) {
		memcpy(o->buf + o->n, p, n);
	}
	o->n += n;
}

static void put_u32(out_writer *o, uint32_t v) { put(o, &v, 4); }

// encode writes headers, log and body of a dispatcher result into o.
// Returns -1 (with a Python exception set) when the result is malformed.
static int encode(out_writer *o, PyObject *hdrs, PyObject *log, const char *body, size_t body_len,
                  tdm_result *res) {
	Py_ssize_t nh = p_PyTuple_Size(hdrs);
	if (nh < 0) {
		return -1;
	}
	for (Py_ssize_t i = 0; i < nh; i++) {
		PyObject *pair = p_PyTuple_GetItem(hdrs, i); // borrowed
		if (pair == NULL || p_PyTuple_Size(pair) != 2) {
			return -1;
		}
		for (int k = 0; k < 2; k++) {
			Py_ssize_t n = 0;
			const char *s = p_PyUnicode_AsUTF8AndSize(p_PyTuple_GetItem(pair, k), &n);
			if (s == NULL) {
				return -1;
			}
			put_u32(o, (uint32_t)n);
			put(o, s, (size_t)n);
		}
	}
	res->nheaders = (uint32_t)nh;
	res->hdr_len = (uint32_t)o->n;
	size_t before = o->n;
	if (log != py_none) {
		Py_ssize_t n = 0;
		const char *s = p_PyUnicode_AsUTF8AndSize(log, &n);
		if (s == NULL) {
			return -1;
		}
		put(o, s, (size_t)n);
	}
	res->log_len = (uint32_t)(o->n - before);
	put(o, body, body_len);
	res->body_len = body_len;
	return 0;
}

// call_attached is tdm_call's work, with w->tstate attached.
static int call_attached(tdm_worker *w, const char *meta, size_t meta_len, const char *body,
                         size_t body_len, char *out, size_t out_cap) {
	tdm_result *res = &w->res;
	PyObject *args[5];
	int rc = build_args(meta, meta_len, body, body_len, args);
	if (rc != 0) {
		w->err = rc == -2 ? fmt_err("malformed request metadata from Go")
		                  : take_exception("building the request");
		res->failed = 1;
		p_PyErr_Clear();
		return -1;
	}
	PyObject *r = p_PyObject_Vectorcall(w->dispatch, args, 5, NULL); // new
	for (int i = 0; i < 5; i++) {
		p_Py_DecRef(args[i]);
	}
	if (r == NULL) {
		w->err = take_exception("the tandem dispatcher raised");
		res->failed = 1;
		return -1;
	}

	// r is (status, headers, body, log).
	int ok = p_PyTuple_Size(r) == 4;
	PyObject *st = ok ? p_PyTuple_GetItem(r, 0) : NULL; // borrowed
	PyObject *hdrs = ok ? p_PyTuple_GetItem(r, 1) : NULL;
	PyObject *pbody = ok ? p_PyTuple_GetItem(r, 2) : NULL;
	PyObject *log = ok ? p_PyTuple_GetItem(r, 3) : NULL;
	char *bp = NULL;
	Py_ssize_t bn = 0;
	long status = ok ? p_PyLong_AsLong(st) : -1;
	if (!ok || status < 200 || status > 599 || p_PyBytes_AsStringAndSize(pbody, &bp, &bn) != 0) {
		goto bad;
	}
	res->status = (int32_t)status;

	out_writer o = {out, out_cap, 0};
	if (encode(&o, hdrs, log, bp, (size_t)bn, res) != 0) {
		goto bad;
	}
	if (o.n > out_cap) {
		if (o.n > w->big_cap) {
			char *nb = realloc(w->big, o.n);
			if (nb == NULL) {
				w->err = fmt_err("out of memory for a %zu-byte response", o.n);
				res->failed = 1;
				p_Py_DecRef(r);
				return -1;
			}
			w->big = nb;
			w->big_cap = o.n;
		}
		out_writer big = {w->big, w->big_cap, 0};
		encode(&big, hdrs, log, bp, (size_t)bn, res);
		res->overflow = 1;
	}
	p_Py_DecRef(r);
	return 0;

bad:
	if (p_PyErr_Occurred()) {
		w->err = take_exception("the tandem dispatcher returned a malformed result");
	} else {
		w->err = fmt_err("the tandem dispatcher returned a malformed result");
	}
	res->failed = 1;
	p_Py_DecRef(r);
	return -1;
}

// drain_interrupt runs at the end of a call that tdm_interrupt raised into,
// so that no HandlerTimeout stays pending for the thread's next call: the
// exception is raised at the next check of the eval breaker, and the call
// may have ended before one came (the handler had returned, or it was in C
// code). PyThreadState_SetAsyncExc(id, NULL) alone does not do: on 3.12 the
// interpreter-wide async_exc flag is reset only when an exception is
// delivered, so every later eval-breaker check would take the slow path. So
// the exception is armed once more and delivered: a Python function checks
// the eval breaker when it starts (RESUME), and _drain_interrupt is one.
// It returns 0, or -1 when the exception did not come and was cleared
// instead (which tests check never happens).
static int drain_interrupt(tdm_worker *w) {
	p_PyErr_Clear();
	p_PyThreadState_SetAsyncExc(w->thread_ident, (PyObject *)w->timeout_exc);
	PyObject *r = p_PyObject_Vectorcall((PyObject *)w->drain, NULL, 0, NULL); // new, or NULL: raised
	int rc = 0;
	if (r != NULL) {
		p_Py_DecRef(r);
		p_PyThreadState_SetAsyncExc(w->thread_ident, NULL);
		rc = -1;
	}
	p_PyErr_Clear();
	return rc;
}

int tdm_call(tdm_worker *w, int64_t job, const char *meta, size_t meta_len, const char *body,
             size_t body_len, char *out, size_t out_cap) {
	memset(&w->res, 0, sizeof w->res);
	if (w->err != NULL) {
		free(w->err);
		w->err = NULL;
	}
	if (attach(w) == NULL) {
		w->err = fmt_err("out of memory for a thread state");
		w->res.failed = 1;
		return -1;
	}
	w->running = job;
	int rc = call_attached(w, meta, meta_len, body, body_len, out, out_cap);
	// Cleared before draining: an interrupter that gets the GIL while the
	// drain runs Python must find the job over, or it would arm another.
	w->running = 0;
	if (job != 0 && w->interrupted == job) {
		w->res.interrupted = drain_interrupt(w) == 0 ? 1 : 2;
	}
	detach(w);
	return rc;
}

int tdm_interrupt(tdm_worker *w, int64_t job) {
	if (job == 0 || w->timeout_exc == NULL || w->drain == NULL) {
		return -1;
	}
	PyThreadState *ts = p_PyThreadState_New((PyInterpreterState *)w->interp);
	if (ts == NULL) {
		return -1;
	}
	// Waits for the interpreter's GIL (its own, or the main one in shared
	// mode); after the switch interval it asks the holder to drop it.
	p_PyEval_RestoreThread(ts);
	int rc = 0;
	if (w->running == job) {
		// The worker is on the job and cannot leave it without this GIL
		// (tdm_call clears running while holding it). The id is looked up
		// among the current interpreter's thread states.
		if (p_PyThreadState_SetAsyncExc(w->thread_ident, (PyObject *)w->timeout_exc) == 1) {
			w->interrupted = job;
			rc = 1;
		} else {
			rc = -1;
		}
	}
	drop_current(ts); // clears and deletes ts, releasing the GIL
	return rc;
}

// tdm_release_big frees the overflow buffer once it grew past keep bytes, so
// one huge response does not pin its memory for the worker's life.
void tdm_release_big(tdm_worker *w, size_t keep) {
	if (w->big_cap > keep) {
		free(w->big);
		w->big = NULL;
		w->big_cap = 0;
	}
}

// --- waiting for work ------------------------------------------------------

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int tdm_spin_wait(const volatile int32_t *pending, uint64_t ns) {
	uint64_t end = now_ns() + ns;
	for (unsigned i = 1;; i++) {
		if (__atomic_load_n(pending, __ATOMIC_ACQUIRE) > 0) {
			return 1;
		}
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#elif defined(__aarch64__)
		__asm__ __volatile__("yield");
#endif
		if ((i & 63) == 0 && now_ns() >= end) {
			return 0;
		}
	}
}
