;; noop is the smallest middleware: it passes every request on and changes
;; nothing. The overhead benchmark and the pool tests use it.
(module
  (memory (export "memory") 1)
  (func (export "handle_request") (result i64)
    (i64.const 1)) ;; next=1, no request context
  (func (export "handle_response") (param $req_ctx i32) (param $is_error i32)))
