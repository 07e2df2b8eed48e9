package native

/*
#cgo CFLAGS: -O2 -std=c11 -D_GNU_SOURCE -Wall -Wno-unused-function
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"time"
	"unsafe"
)

// The functions in this file are the only place Go crosses into C. Each one
// states which OS thread it must run on; the callers in runtime.go and
// worker.go keep to that.

// cLoad dlopens libpython. Any thread; once per process.
func cLoad(lib string) error {
	cs := C.CString(lib)
	defer C.free(unsafe.Pointer(cs))
	var buf [1024]C.char
	if C.tdm_load(cs, &buf[0], C.size_t(len(buf))) != 0 {
		return errors.New(C.GoString(&buf[0]))
	}
	return nil
}

// cVersion is the loaded runtime's Py_GetVersion().
func cVersion() string { return C.GoString(C.tdm_version()) }

// cHasSubinterpreters reports whether the runtime has Py_NewInterpreterFromConfig.
func cHasSubinterpreters() bool { return C.tdm_has_subinterpreters() != 0 }

// takeErr converts a malloc'd C message to Go and frees it.
func takeErr(p *C.char, fallback string) error {
	if p == nil {
		return errors.New(fallback)
	}
	defer C.free(unsafe.Pointer(p))
	return errors.New(C.GoString(p))
}

// cInitialize starts the runtime. The calling OS thread must call cFinalize
// and cExecMain later: it owns the main thread state.
func cInitialize(home, executable string) error {
	var ch, ce *C.char
	if home != "" {
		ch = C.CString(home)
		defer C.free(unsafe.Pointer(ch))
	}
	if executable != "" {
		ce = C.CString(executable)
		defer C.free(unsafe.Pointer(ce))
	}
	var cerr *C.char
	if C.tdm_initialize(ch, ce, &cerr) != 0 {
		return takeErr(cerr, "initializing Python failed")
	}
	return nil
}

// cFinalize ends the runtime, on the thread that called cInitialize.
func cFinalize() int { return int(C.tdm_finalize()) }

// cExecMain runs source in the main interpreter, on the initializing thread.
func cExecMain(src string) error {
	cs := C.CString(src)
	defer C.free(unsafe.Pointer(cs))
	var cerr *C.char
	if C.tdm_exec_main(cs, &cerr) != 0 {
		return takeErr(cerr, "running code in the main interpreter failed")
	}
	return nil
}

// cWorker is a worker's C state; only its own OS thread may use it, or,
// when it floats, one thread at a time.
type cWorker = C.tdm_worker

// cWorkerNew creates an interpreter (or a main-interpreter thread state) on
// the calling OS thread, which must stay locked for the worker's life unless
// the worker floats (see tdm_worker_new).
func cWorkerNew(ownGIL, floating bool, src, setupJSON, routesJSON string) (*cWorker, error) {
	csrc := C.CString(src)
	defer C.free(unsafe.Pointer(csrc))
	csetup := C.CString(setupJSON)
	defer C.free(unsafe.Pointer(csetup))
	croutes := C.CString(routesJSON)
	defer C.free(unsafe.Pointer(croutes))
	own := C.int(0)
	if ownGIL {
		own = 1
	}
	fl := C.int(0)
	if floating {
		fl = 1
	}
	var cerr *C.char
	w := C.tdm_worker_new(own, fl, csrc, csetup, croutes, &cerr)
	if w == nil {
		return nil, takeErr(cerr, "creating the worker failed")
	}
	return w, nil
}

// cWorkerEnd ends the worker on its own thread.
func cWorkerEnd(w *cWorker) { C.tdm_worker_end(w) }

// cInterpID is the worker's interpreter id (0 is the main interpreter).
func cInterpID(w *cWorker) int64 { return int64(w.interp_id) }

// cExec runs Python source in the worker's interpreter, on its thread.
func cExec(w *cWorker, src string) error {
	cs := C.CString(src)
	defer C.free(unsafe.Pointer(cs))
	if C.tdm_exec(w, cs) != 0 {
		return errors.New(C.GoString(w.err))
	}
	return nil
}

// cPrepareRoutes builds a dispatcher for routesJSON on the worker's thread
// and keeps it aside for cCommitRoutes or cDiscardRoutes. The error is the
// problem text tandem found in the routes, as cWorkerNew reports it.
func cPrepareRoutes(w *cWorker, routesJSON string) error {
	cs := C.CString(routesJSON)
	defer C.free(unsafe.Pointer(cs))
	if C.tdm_worker_prepare_routes(w, cs) != 0 {
		return takeWorkerErr(w, "building the Python routes failed")
	}
	return nil
}

// cCommitRoutes makes the dispatcher cPrepareRoutes built the worker's own,
// on its thread; without one it does nothing.
func cCommitRoutes(w *cWorker) { C.tdm_worker_commit_routes(w) }

// cDiscardRoutes drops the dispatcher cPrepareRoutes built, on the worker's
// thread; without one it does nothing.
func cDiscardRoutes(w *cWorker) { C.tdm_worker_discard_routes(w) }

// takeWorkerErr returns w->err as an error and clears it.
func takeWorkerErr(w *cWorker, fallback string) error {
	if w.err == nil {
		return errors.New(fallback)
	}
	err := errors.New(C.GoString(w.err))
	C.free(unsafe.Pointer(w.err))
	w.err = nil
	return err
}

// callResult is what one call produced; data aliases out or the worker's
// overflow buffer and is valid until the worker's next call.
type callResult struct {
	status   int
	nheaders int
	hdrLen   int
	logLen   int
	bodyLen  int
	data     []byte
}

// cCall runs one request through the dispatcher on the worker's thread.
// meta, body and out are Go memory that holds no Go pointers, as cgo's
// pointer rules require; C does not keep them after returning. job numbers
// the request for cInterrupt (0: not interruptible).
func cCall(w *cWorker, job uint64, meta, body, out []byte) (callResult, error) {
	var mp, bp, op *C.char
	if len(meta) > 0 {
		mp = (*C.char)(unsafe.Pointer(&meta[0]))
	}
	if len(body) > 0 {
		bp = (*C.char)(unsafe.Pointer(&body[0]))
	}
	if cap(out) > 0 {
		op = (*C.char)(unsafe.Pointer(unsafe.SliceData(out)))
	}
	rc := C.tdm_call(w, C.int64_t(job), mp, C.size_t(len(meta)), bp, C.size_t(len(body)), op, C.size_t(cap(out)))
	res := &w.res
	if rc != 0 || res.failed != 0 {
		msg := "the Python call failed"
		if w.err != nil {
			msg = C.GoString(w.err)
		}
		return callResult{}, errors.New(msg)
	}
	r := callResult{
		status:   int(res.status),
		nheaders: int(res.nheaders),
		hdrLen:   int(res.hdr_len),
		logLen:   int(res.log_len),
		bodyLen:  int(res.body_len),
	}
	total := r.hdrLen + r.logLen + r.bodyLen
	if res.overflow != 0 {
		r.data = unsafe.Slice((*byte)(unsafe.Pointer(w.big)), total)
	} else {
		r.data = out[:total]
	}
	return r, nil
}

// cInterrupted reports whether cInterrupt raised HandlerTimeout into the
// worker's last call, and whether tdm_call then failed to take a copy still
// pending in the usual way (it cleared it instead); the worker's thread
// reads it after cCall.
func cInterrupted(w *cWorker) (interrupted, drainFailed bool) {
	return w.res.interrupted != 0, w.res.interrupted == 2
}

// cInterrupt raises HandlerTimeout in the worker's thread if it is still
// running job: 1 when it did, 0 when the worker had left the job, -1 when it
// could not. It runs on a locked thread of its own, which it leaves without
// a thread state, and blocks until it gets the worker interpreter's GIL,
// forever if C code holds it forever. The worker must not end until it
// returns.
func cInterrupt(w *cWorker, job uint64) int { return int(C.tdm_interrupt(w, C.int64_t(job))) }

// cReleaseBig frees the worker's overflow buffer when it grew beyond keep.
func cReleaseBig(w *cWorker, keep int) { C.tdm_release_big(w, C.size_t(keep)) }

// cSpinWait polls *pending (C memory the pool allocated) for up to d.
func cSpinWait(pending *int32, d time.Duration) bool {
	return C.tdm_spin_wait((*C.int32_t)(unsafe.Pointer(pending)), C.uint64_t(d)) != 0
}

// cAllocCounter returns a zeroed int32 in C memory, so that C code may poll
// it while Go code updates it atomically.
func cAllocCounter() *int32 { return (*int32)(C.calloc(1, 4)) }

// cFreeCounter frees a counter from cAllocCounter.
func cFreeCounter(p *int32) { C.free(unsafe.Pointer(p)) }
