;; header_after_next changes a request header in handle_response, after the
;; request was passed on: an ABI violation.
(module
  (import "http_handler" "set_header_value"
    (func $set_header_value (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "X-Late")
  (data (i32.const 16) "1")
  (func (export "handle_request") (result i64)
    (i64.const 1))
  (func (export "handle_response") (param i32 i32)
    ;; kind 0: the request
    (call $set_header_value (i32.const 0) (i32.const 0) (i32.const 6) (i32.const 16) (i32.const 1))))
