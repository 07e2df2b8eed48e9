// Command hello is a tandem plugin used as a handler: it never passes the
// request on. GET /anything?name=x answers {"hello":"x"}; without a name,
// {"hello":"world"}. Other methods get 405.
package main

import (
	"encoding/json"
	"net/url"

	"github.com/tandemhost/tandem/sandbox/guest"
)

func init() { guest.HandleRequest(hello) }

func hello(req guest.Request, resp guest.Response) (bool, uint32) {
	resp.Header().Set("Content-Type", "application/json")
	if m := req.Method(); m != "GET" && m != "HEAD" {
		resp.Header().Set("Allow", "GET, HEAD") // headers before the status: a host may send them with it
		resp.SetStatusCode(405)
		resp.Body().WriteString(`{"error":"method not allowed","status":405}`)
		return false, 0
	}
	name := "world"
	if u, err := url.ParseRequestURI(req.URI()); err == nil {
		if n := u.Query().Get("name"); n != "" {
			name = n
		}
	}
	body, _ := json.Marshal(struct {
		Hello string `json:"hello"`
	}{name})
	resp.Body().Write(body)
	return false, 0
}

func main() {}
