;; trap is middleware that traps on every request (an `unreachable`): the
;; soak's slice of failing plugins, each answered 500 with the instance
;; thrown away and a fresh one started for the next request.
(module
  (memory (export "memory") 1)
  (func (export "handle_request") (result i64)
    unreachable)
  (func (export "handle_response") (param i32 i32)))
