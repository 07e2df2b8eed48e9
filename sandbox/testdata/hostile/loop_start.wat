;; loop_start never returns from its start function: only the start's
;; deadline stops it.
(module
  (memory (export "memory") 1)
  (func (export "_initialize")
    (loop $forever (br $forever)))
  (func (export "handle_request") (result i64)
    (i64.const 1))
  (func (export "handle_response") (param i32 i32)))
