;; cpu is CPU-bound guest code for the benchmark of deadline enforcement:
;; a tight loop (termination checks at every loop header) and recursive
;; calls (checks at every function entry). handle_request runs the loop so
;; that the module is also a valid plugin.
(module
  (memory (export "memory") 1)
  ;; burn steps a 64-bit LCG n times.
  (func $burn (export "burn") (param $n i32) (result i64)
    (local $acc i64)
    (local.set $acc (i64.const 1))
    (block $done
      (loop $step
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc
          (i64.add (i64.mul (local.get $acc) (i64.const 6364136223846793005))
                   (i64.const 1442695040888963407)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $step)))
    (local.get $acc))
  ;; fib is the naive recursive Fibonacci: mostly calls.
  (func $fib (export "fib") (param $n i32) (result i64)
    (if (result i64) (i32.lt_u (local.get $n) (i32.const 2))
      (then (i64.extend_i32_u (local.get $n)))
      (else (i64.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "handle_request") (result i64)
    (drop (call $burn (i32.const 100000)))
    (i64.const 1))
  (func (export "handle_response") (param i32 i32)))
