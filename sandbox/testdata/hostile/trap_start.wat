;; trap_start traps in its start function: no instance ever starts.
(module
  (memory (export "memory") 1)
  (func $boom unreachable)
  (start $boom)
  (func (export "handle_request") (result i64)
    (i64.const 1))
  (func (export "handle_response") (param i32 i32)))
