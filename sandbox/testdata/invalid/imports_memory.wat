;; imports_memory imports its memory instead of defining one, and exports
;; none.
(module
  (import "env" "memory" (memory 1))
  (func (export "handle_request") (result i64) (i64.const 1))
  (func (export "handle_response") (param i32 i32)))
