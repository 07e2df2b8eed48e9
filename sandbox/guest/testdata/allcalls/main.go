// Command allcalls is a guest that makes every call the SDK has, so that
// its binary imports every http_handler function: TestSDKImports checks
// each signature against the ABI. It is built by that test only.
package main

import "github.com/tandemhost/tandem/sandbox/guest"

func init() {
	guest.EnableFeatures(guest.FeatureBufferRequest | guest.FeatureBufferResponse | guest.FeatureTrailers)
	if guest.LogEnabled(guest.LevelDebug) {
		guest.Log(guest.LevelDebug, string(guest.Config()))
	}
	guest.HandleRequest(func(req guest.Request, resp guest.Response) (bool, uint32) {
		req.SetMethod(req.Method())
		req.SetURI(req.URI() + req.Protocol() + req.SourceAddr())
		for _, h := range []guest.Header{req.Header(), req.Trailer(), resp.Header(), resp.Trailer()} {
			for _, name := range h.Names() {
				h.Set(name, h.Get(name))
				h.Add(name, h.Values(name)[0])
				h.Del(name)
			}
		}
		req.Body().Write(req.Body().ReadAll())
		return true, 1
	})
	guest.HandleResponse(func(_ uint32, _ guest.Request, resp guest.Response, _ bool) {
		resp.SetStatusCode(resp.StatusCode())
		resp.Body().WriteString(string(resp.Body().ReadAll()))
	})
}

func main() {}
