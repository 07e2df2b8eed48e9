;; imports_env imports a function no http-wasm host provides.
(module
  (import "env" "abort" (func (param i32)))
  (memory (export "memory") 1)
  (func (export "handle_request") (result i64) (i64.const 1))
  (func (export "handle_response") (param i32 i32)))
