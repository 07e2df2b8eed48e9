// Command rewrite is a tandem plugin: middleware that replaces strings in
// the bodies of text and JSON responses. It needs the whole response
// before the client gets any of it, so it enables FeatureBufferResponse.
// Configuration (the policy's plugins.NAME.config):
//
//	{"replace": [{"from": "Hello", "to": "Howdy"}],
//	 "types": ["text/", "application/json"]}
//
// types are prefixes of the Content-Type the rewrite applies to; the
// default is the two above. Compressed bodies are left alone.
package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/tandemhost/tandem/sandbox/guest"
)

type config struct {
	Replace []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"replace"`
	Types []string `json:"types"`
}

func init() { setup() }

func setup() {
	cfg := config{Types: []string{"text/", "application/json"}}
	if raw := guest.Config(); len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			panic("rewrite: config: " + err.Error())
		}
	}
	pairs := make([]string, 0, 2*len(cfg.Replace))
	for _, r := range cfg.Replace {
		if r.From == "" {
			panic(`rewrite: config: a "from" is empty`)
		}
		pairs = append(pairs, r.From, r.To)
	}
	if len(pairs) == 0 {
		guest.Log(guest.LevelWarn, "rewrite: nothing to replace")
		guest.HandleRequest(nil)
		guest.HandleResponse(nil)
		return
	}
	if guest.EnableFeatures(guest.FeatureBufferResponse)&guest.FeatureBufferResponse == 0 {
		panic("rewrite: the host cannot buffer responses")
	}
	replacer := strings.NewReplacer(pairs...)
	types := cfg.Types

	guest.HandleRequest(nil) // pass every request on
	guest.HandleResponse(func(_ uint32, _ guest.Request, resp guest.Response, isError bool) {
		if isError || !rewritable(resp.Header(), types) {
			return
		}
		body := string(resp.Body().ReadAll())
		out := replacer.Replace(body)
		if out == body {
			return // reading a buffered body leaves it in place
		}
		resp.Body().WriteString(out)
		resp.Header().Set("Content-Length", strconv.Itoa(len(out)))
	})
}

// rewritable reports whether a response's body is plain text of one of
// types.
func rewritable(h guest.Header, types []string) bool {
	if enc := h.Get("Content-Encoding"); enc != "" && enc != "identity" {
		return false
	}
	ct := strings.ToLower(h.Get("Content-Type"))
	for _, t := range types {
		if strings.HasPrefix(ct, t) {
			return true
		}
	}
	return false
}

func main() {}
