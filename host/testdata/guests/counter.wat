;; counter is a handler that answers with how many requests this instance
;; has served, as one digit (0-9, then it wraps): instances keep state
;; between requests, but never share it.
(module
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $served (mut i32) (i32.const 0))
  (func (export "handle_request") (result i64)
    (global.set $served (i32.add (global.get $served) (i32.const 1)))
    (i32.store8 (i32.const 0)
      (i32.add (i32.const 48) (i32.rem_u (global.get $served) (i32.const 10)))) ;; '0' + served % 10
    (call $write_body (i32.const 1) (i32.const 0) (i32.const 1))
    (i64.const 0))
  (func (export "handle_response") (param i32 i32)))
