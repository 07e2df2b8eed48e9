;; imports_next imports http_handler.next, which older drafts of the ABI
;; had and the current one does not.
(module
  (import "http_handler" "next" (func))
  (memory (export "memory") 1)
  (func (export "handle_request") (result i64) (i64.const 1))
  (func (export "handle_response") (param i32 i32)))
