// Command addheader is a tandem plugin: middleware that sets headers on
// the request the rest of the chain gets and on the response the client
// gets. Configuration (the policy's plugins.NAME.config):
//
//	{"request":  {"X-Forwarded-By": "tandem"},
//	 "response": {"X-Frame-Options": "DENY", "Cache-Control": "no-store"}}
//
// Each value replaces any the header had.
package main

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/tandemhost/tandem/sandbox/guest"
)

type config struct {
	Request  map[string]string `json:"request"`
	Response map[string]string `json:"response"`
}

type field struct{ name, value string }

func init() { setup() }

func setup() {
	var cfg config
	if raw := guest.Config(); len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			panic("addheader: config: " + err.Error())
		}
	}
	request, response := fields(cfg.Request), fields(cfg.Response)
	guest.HandleRequest(func(req guest.Request, resp guest.Response) (bool, uint32) {
		for _, f := range request {
			req.Header().Set(f.name, f.value)
		}
		// Set before passing the request on, the response headers go out
		// with whatever the rest of the chain answers, without buffering it.
		for _, f := range response {
			resp.Header().Set(f.name, f.value)
		}
		return true, 0
	})
}

// fields puts a header map in a fixed order, so every request gets the
// same headers in the same order.
func fields(m map[string]string) []field {
	fs := make([]field, 0, len(m))
	for name, value := range m {
		fs = append(fs, field{name, value})
	}
	slices.SortFunc(fs, func(a, b field) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	return fs
}

func main() {}
