package guest

import "github.com/tandemhost/tandem/sandbox/guest/internal/abi"

// Config returns the plugin's configuration: the bytes of the policy's
// plugins.NAME.config (a YAML mapping arrives as JSON), or nil when there
// is none. It is the same for every request, so read it once, from init:
// a guest that panics there never starts, so a bad configuration fails
// before any request reaches the guest, with the panic's message in the
// host's log.
func Config() []byte {
	b, _ := fetch(abi.Current.GetConfig)
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// LogLevel is the level of a log message. Its values are the ABI's.
type LogLevel int32

// The levels a guest logs at, from the most verbose.
const (
	LevelDebug LogLevel = -1
	LevelInfo  LogLevel = 0
	LevelWarn  LogLevel = 1
	LevelError LogLevel = 2
)

// Log writes msg to the host's log at level; the host adds which plugin
// and request it came from, and drops messages below its own level.
func Log(level LogLevel, msg string) {
	abi.Current.Log(int32(level), msg)
}

// LogEnabled reports whether the host keeps messages at level, so that a
// guest can skip building a message nobody reads.
func LogEnabled(level LogLevel) bool {
	return abi.Current.LogEnabled(int32(level)) == 1
}

// Features is a set of optional host behaviours, as bits.
type Features uint32

// The features a guest can ask for.
const (
	// FeatureBufferRequest keeps the request body the guest reads, so the
	// rest of the chain still gets all of it.
	FeatureBufferRequest = Features(abi.FeatureBufferRequest)
	// FeatureBufferResponse holds the response of the rest of the chain
	// until the response handler returns, so that it can read and change
	// the status, headers and body.
	FeatureBufferResponse = Features(abi.FeatureBufferResponse)
	// FeatureTrailers gives access to request and response trailers.
	FeatureTrailers = Features(abi.FeatureTrailers)
)

// EnableFeatures asks the host for features and returns every feature now
// enabled; check it for those the guest cannot work without. Called from
// init, it enables them for every request; called from the request
// handler, only for that request. Buffering costs the host memory and
// delays the response, so ask only for what the guest uses.
func EnableFeatures(features Features) Features {
	return Features(abi.Current.EnableFeatures(uint32(features)))
}
