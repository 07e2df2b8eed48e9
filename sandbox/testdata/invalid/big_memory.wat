;; big_memory starts with 32 MiB of memory, over the default 16 MiB limit.
(module
  (memory (export "memory") 512)
  (func (export "handle_request") (result i64) (i64.const 1))
  (func (export "handle_response") (param i32 i32)))
