;; bad_signatures imports get_uri and exports handle_request with the
;; wrong types, and exports no handle_response.
(module
  (import "http_handler" "get_uri" (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "handle_request") (result i32) (i32.const 1)))
