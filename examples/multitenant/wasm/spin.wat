;; spin is a misbehaving handler: handle_request never returns. The sandbox
;; stops it at its time limit; the request gets 504 and the instance is
;; thrown away. Rebuild spin.wasm with: wat2wasm spin.wat -o spin.wasm
(module
  (memory (export "memory") 1)
  (func (export "handle_request") (result i64)
    (loop $forever (br $forever))
    (i64.const 0))
  (func (export "handle_response") (param i32 i32)))
