;; bigheader sets a response header with a 1 MiB value.
(module
  (import "http_handler" "set_header_value"
    (func $set_header_value (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 17) ;; 1 MiB + 64 KiB
  (data (i32.const 0) "X-Big")
  (func (export "handle_request") (result i64)
    (memory.fill (i32.const 1024) (i32.const 0x61) (i32.const 0x100000)) ;; 'a' x 1 MiB
    (call $set_header_value (i32.const 1) (i32.const 0) (i32.const 5) (i32.const 1024) (i32.const 0x100000))
    (i64.const 0))
  (func (export "handle_response") (param i32 i32)))
