;; config_start traps in its start function when its config begins with
;; "!". Compile starts it with another config; a test then changes the
;; config under the plugin to make every later start fail, as a start can
;; after the one Compile checked.
(module
  (import "http_handler" "get_config" (func $get_config (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_initialize")
    (drop (call $get_config (i32.const 0) (i32.const 16)))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 33)) ;; "!"
      (then unreachable)))
  (func (export "handle_request") (result i64)
    (i64.const 1))
  (func (export "handle_response") (param i32 i32)))
