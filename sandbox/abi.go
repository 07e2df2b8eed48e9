package sandbox

import (
	"context"

	"github.com/tetratelabs/wazero/api"
)

// The http-wasm handler ABI's names and numbers
// (https://http-wasm.io/http-handler-abi/).
const (
	abiModule  = "http_handler"
	wasiModule = "wasi_snapshot_preview1"

	exportHandleRequest  = "handle_request"
	exportHandleResponse = "handle_response"
	exportMemory         = "memory"
)

// features is the ABI's feature bit flag.
type features uint32

const (
	featureBufferRequest  features = 1 << 0
	featureBufferResponse features = 1 << 1
	featureTrailers       features = 1 << 2

	// supportedFeatures is what enable_features reports: everything.
	supportedFeatures = featureBufferRequest | featureBufferResponse | featureTrailers
)

// headerKind is the first parameter of the header functions.
type headerKind uint32

const (
	headerRequest headerKind = iota
	headerResponse
	headerRequestTrailers
	headerResponseTrailers
)

// bodyKind is the first parameter of the body functions.
type bodyKind uint32

const (
	bodyRequest bodyKind = iota
	bodyResponse
)

// The ABI's log levels; anything else is not logged.
const (
	logLevelDebug int32 = -1
	logLevelInfo  int32 = 0
	logLevelWarn  int32 = 1
	logLevelError int32 = 2
	logLevelNone  int32 = 3
)

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// hostFunc is one function of the http_handler module: its signature, as
// the ABI defines it, and its implementation. Every implementation reads
// and writes guest memory only through the bounds-checked helpers of
// memory.go, and reports a broken rule by panicking with an *abiError,
// which wazero turns into a trap of the calling guest.
type hostFunc struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      func(x *exchange, mem api.Memory, stack []uint64)
}

// hostFuncs is the whole http_handler module. Compile refuses a guest that
// imports anything else from it, or any of these with another signature.
var hostFuncs = []hostFunc{
	{"enable_features", []api.ValueType{i32}, []api.ValueType{i32}, (*exchange).enableFeatures},
	{"get_config", []api.ValueType{i32, i32}, []api.ValueType{i32}, (*exchange).getConfig},
	{"log_enabled", []api.ValueType{i32}, []api.ValueType{i32}, (*exchange).logEnabled},
	{"log", []api.ValueType{i32, i32, i32}, nil, (*exchange).log},
	{"get_method", []api.ValueType{i32, i32}, []api.ValueType{i32}, (*exchange).getMethod},
	{"set_method", []api.ValueType{i32, i32}, nil, (*exchange).setMethod},
	{"get_uri", []api.ValueType{i32, i32}, []api.ValueType{i32}, (*exchange).getURI},
	{"set_uri", []api.ValueType{i32, i32}, nil, (*exchange).setURI},
	{"get_protocol_version", []api.ValueType{i32, i32}, []api.ValueType{i32}, (*exchange).getProtocolVersion},
	{"get_header_names", []api.ValueType{i32, i32, i32}, []api.ValueType{i64}, (*exchange).getHeaderNames},
	{"get_header_values", []api.ValueType{i32, i32, i32, i32, i32}, []api.ValueType{i64}, (*exchange).getHeaderValues},
	{"set_header_value", []api.ValueType{i32, i32, i32, i32, i32}, nil, (*exchange).setHeaderValue},
	{"add_header_value", []api.ValueType{i32, i32, i32, i32, i32}, nil, (*exchange).addHeaderValue},
	{"remove_header", []api.ValueType{i32, i32, i32}, nil, (*exchange).removeHeader},
	{"read_body", []api.ValueType{i32, i32, i32}, []api.ValueType{i64}, (*exchange).readBody},
	{"write_body", []api.ValueType{i32, i32, i32}, nil, (*exchange).writeBody},
	{"get_status_code", nil, []api.ValueType{i32}, (*exchange).getStatusCode},
	{"set_status_code", []api.ValueType{i32}, nil, (*exchange).setStatusCode},
	{"get_source_addr", []api.ValueType{i32, i32}, []api.ValueType{i32}, (*exchange).getSourceAddr},
}

// wasiFuncs are the wasi_snapshot_preview1 functions a guest may import:
// those Go's wasip1 runtime and syscall package import (TinyGo imports a
// subset). With the module configuration Plugin uses, the filesystem
// functions find no preopened directory, the socket functions no socket,
// environ_* and args_* return nothing, and the clocks are wazero's fake
// ones; a guest that needs none of them to start never calls them.
var wasiFuncs = map[string]bool{
	"args_get": true, "args_sizes_get": true,
	"clock_time_get": true,
	"environ_get":    true, "environ_sizes_get": true,
	"fd_close": true, "fd_fdstat_get": true, "fd_fdstat_set_flags": true,
	"fd_fdstat_set_rights": true, "fd_filestat_get": true, "fd_filestat_set_size": true,
	"fd_pread": true, "fd_prestat_dir_name": true, "fd_prestat_get": true,
	"fd_pwrite": true, "fd_read": true, "fd_readdir": true, "fd_seek": true,
	"fd_sync": true, "fd_write": true,
	"path_create_directory": true, "path_filestat_get": true,
	"path_filestat_set_times": true, "path_link": true, "path_open": true,
	"path_readlink": true, "path_remove_directory": true, "path_rename": true,
	"path_symlink": true, "path_unlink_file": true,
	"poll_oneoff": true, "proc_exit": true, "random_get": true, "sched_yield": true,
	"sock_accept": true, "sock_shutdown": true,
}

// goModuleFunc adapts a hostFunc to wazero. The exchange of the call in
// progress travels in the context given to the guest call (see callCtx).
func (f hostFunc) goModuleFunc() api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		x := exchangeFrom(ctx)
		if x == nil {
			// Only tandem calls into its guests, always with an exchange;
			// a call without one is a bug here, not in the guest.
			panic(&abiError{fn: f.name, msg: "called outside a tandem call"})
		}
		x.fn = f.name
		f.fn(x, mod.Memory(), stack)
	}
}
