;; gate is middleware for the host tests: a request without an X-Pass
;; header is answered 401 "denied" here; one with it is passed on with
;; the request header X-Gate: passed, and its response gets X-Gate: passed
;; too.
(module
  (import "http_handler" "get_header_values"
    (func $get_header_values (param i32 i32 i32 i32 i32) (result i64)))
  (import "http_handler" "set_header_value"
    (func $set_header_value (param i32 i32 i32 i32 i32)))
  (import "http_handler" "set_status_code" (func $set_status_code (param i32)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "x-pass")  ;; 6 bytes
  (data (i32.const 16) "X-Gate") ;; 6 bytes
  (data (i32.const 32) "passed") ;; 6 bytes
  (data (i32.const 48) "denied") ;; 6 bytes
  (func (export "handle_request") (result i64)
    ;; count of X-Pass values: the high 32 bits (buffer limit 0: nothing copied)
    (if (i64.eqz (i64.shr_u
          (call $get_header_values (i32.const 0) (i32.const 0) (i32.const 6) (i32.const 1024) (i32.const 0))
          (i64.const 32)))
      (then
        (call $set_status_code (i32.const 401))
        (call $write_body (i32.const 1) (i32.const 48) (i32.const 6))
        (return (i64.const 0))))
    (call $set_header_value (i32.const 0) (i32.const 16) (i32.const 6) (i32.const 32) (i32.const 6))
    (i64.const 1))
  (func (export "handle_response") (param i32 i32)
    (call $set_header_value (i32.const 1) (i32.const 16) (i32.const 6) (i32.const 32) (i32.const 6))))
