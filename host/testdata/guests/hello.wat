;; hello is the smallest handler: it answers every request itself with a
;; text body and never passes it on.
(module
  (import "http_handler" "set_header_value"
    (func $set_header_value (param i32 i32 i32 i32 i32)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "Content-Type")     ;; 12 bytes
  (data (i32.const 16) "text/plain")      ;; 10 bytes
  (data (i32.const 32) "hello from wasm") ;; 15 bytes
  (func (export "handle_request") (result i64)
    ;; response (kind 1) header, then the body
    (call $set_header_value (i32.const 1) (i32.const 0) (i32.const 12) (i32.const 16) (i32.const 10))
    (call $write_body (i32.const 1) (i32.const 32) (i32.const 15))
    (i64.const 0)) ;; next=0: answered here
  (func (export "handle_response") (param i32 i32)))
