;; grow is a handler that wants 10 MiB of linear memory (160 pages of
;; 64 KiB). It grows its memory to that size if it is smaller, then answers
;; 200 when it got it and 507 when memory.grow refused: the tenant's memory
;; limit, not the machine, decides. Rebuild grow.wasm with:
;; wat2wasm grow.wat -o grow.wasm
(module
  (import "http_handler" "set_header_value"
    (func $set_header_value (param i32 i32 i32 i32 i32)))
  (import "http_handler" "set_status_code" (func $set_status_code (param i32)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "Content-Type")                                   ;; 12 bytes
  (data (i32.const 16) "text/plain; charset=utf-8")                     ;; 25 bytes
  (data (i32.const 64) "got 10 MiB of memory\n")                        ;; 21 bytes
  (data (i32.const 128) "memory.grow refused: 10 MiB is over the limit\n") ;; 46 bytes
  (func (export "handle_request") (result i64)
    (local $got i32)
    ;; got = memory.size >= 160, or the grow to 160 pages succeeded
    (local.set $got (i32.const 1))
    (if (i32.lt_u (memory.size) (i32.const 160))
      (then
        (if (i32.eq (memory.grow (i32.sub (i32.const 160) (memory.size))) (i32.const -1))
          (then (local.set $got (i32.const 0))))))
    ;; response (kind 1) header first, then the status and the body
    (call $set_header_value (i32.const 1) (i32.const 0) (i32.const 12) (i32.const 16) (i32.const 25))
    (if (local.get $got)
      (then
        (call $write_body (i32.const 1) (i32.const 64) (i32.const 21)))
      (else
        (call $set_status_code (i32.const 507))
        (call $write_body (i32.const 1) (i32.const 128) (i32.const 46))))
    (i64.const 0)) ;; next=0: answered here
  (func (export "handle_response") (param i32 i32)))
