;; grow asks for memory until it is refused, then traps: the memory limit,
;; not the host's RAM, decides where it stops.
(module
  (memory (export "memory") 1)
  (func (export "handle_request") (result i64)
    (block $refused
      (loop $more
        ;; memory.grow returns -1 once the limit is reached
        (br_if $refused (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
        (br $more)))
    unreachable)
  (func (export "handle_response") (param i32 i32)))
