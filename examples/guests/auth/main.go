// Command auth is a tandem plugin: API-key authentication middleware.
//
// It passes on a request whose key header holds one of the configured
// keys, and answers any other with 401 and a JSON error. Configuration
// (the policy's plugins.NAME.config):
//
//	{"header": "X-Api-Key", "keys": ["k1", "k2"]}
//
// header defaults to X-Api-Key. With no keys every request is refused.
package main

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"

	"github.com/tandemhost/tandem/sandbox/guest"
)

type config struct {
	Header string   `json:"header"`
	Keys   []string `json:"keys"`
}

func init() { setup() }

// setup reads the configuration and registers the handler; a bad
// configuration stops the guest from starting.
func setup() {
	cfg := config{Header: "X-Api-Key"}
	if raw := guest.Config(); len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			panic("auth: config: " + err.Error())
		}
	}
	if cfg.Header == "" {
		panic(`auth: config: "header" is empty`)
	}
	if len(cfg.Keys) == 0 {
		guest.Log(guest.LevelWarn, "auth: no keys configured: every request is refused")
	}
	keys := make([][]byte, len(cfg.Keys))
	for i, k := range cfg.Keys {
		keys[i] = []byte(k)
	}
	// The two refusals never change: encode them once, not per request.
	missing, invalid := refusal("missing API key in "+cfg.Header), refusal("invalid API key")
	guest.HandleRequest(func(req guest.Request, resp guest.Response) (bool, uint32) {
		key := req.Header().Get(cfg.Header)
		switch {
		case key == "":
			refuse(resp, missing)
		case !known(keys, []byte(key)):
			refuse(resp, invalid)
		default:
			return true, 0
		}
		return false, 0
	})
}

// known compares key with every configured key, in time that does not
// depend on where they differ.
func known(keys [][]byte, key []byte) bool {
	found := 0
	for _, k := range keys {
		found |= subtle.ConstantTimeCompare(k, key)
	}
	return found == 1
}

// refusal is the body of a 401, in tandem's JSON error shape.
func refusal(msg string) []byte {
	body, _ := json.Marshal(struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}{msg, 401})
	return body
}

// refuse answers 401 with body. Headers go first: a host may send them
// with the status.
func refuse(resp guest.Response, body []byte) {
	resp.Header().Set("Content-Type", "application/json")
	resp.SetStatusCode(401)
	resp.Body().Write(body)
}

func main() {}
