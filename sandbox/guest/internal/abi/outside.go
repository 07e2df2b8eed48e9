//go:build !wasip1

package abi

// platform, outside a wasm guest, is a host with no configuration, no
// features and no request. It lets a guest's init run in go test and go vet
// on the build machine; anything that needs a request panics.
var platform Host = outside{}

type outside struct{}

const noRequest = "guest: there is no request here: the http_handler host functions exist only in a wasm guest (GOOS=wasip1 GOARCH=wasm); to test a guest with go test, serve it with guesttest"

func (outside) EnableFeatures(uint32) uint32                  { return 0 }
func (outside) GetConfig([]byte) uint32                       { return 0 }
func (outside) LogEnabled(int32) uint32                       { return 0 }
func (outside) Log(int32, string)                             {}
func (outside) GetMethod([]byte) uint32                       { panic(noRequest) }
func (outside) SetMethod(string)                              { panic(noRequest) }
func (outside) GetURI([]byte) uint32                          { panic(noRequest) }
func (outside) SetURI(string)                                 { panic(noRequest) }
func (outside) GetProtocolVersion([]byte) uint32              { panic(noRequest) }
func (outside) GetHeaderNames(uint32, []byte) uint64          { panic(noRequest) }
func (outside) GetHeaderValues(uint32, string, []byte) uint64 { panic(noRequest) }
func (outside) SetHeaderValue(uint32, string, string)         { panic(noRequest) }
func (outside) AddHeaderValue(uint32, string, string)         { panic(noRequest) }
func (outside) RemoveHeader(uint32, string)                   { panic(noRequest) }
func (outside) ReadBody(uint32, []byte) uint64                { panic(noRequest) }
func (outside) WriteBody(uint32, []byte)                      { panic(noRequest) }
func (outside) GetStatusCode() uint32                         { panic(noRequest) }
func (outside) SetStatusCode(uint32)                          { panic(noRequest) }
func (outside) GetSourceAddr([]byte) uint32                   { panic(noRequest) }
