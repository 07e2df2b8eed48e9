;; trap_response passes the request on, then traps in handle_response,
;; after the next handler has answered.
(module
  (memory (export "memory") 1)
  (func (export "handle_request") (result i64)
    (i64.const 1))
  (func (export "handle_response") (param i32 i32)
    unreachable))
