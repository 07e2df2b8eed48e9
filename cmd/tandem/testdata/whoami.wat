;; whoami is a handler for the tenant-isolation test (isolation_test.go):
;; it answers "FIRST CURRENT N", where FIRST is the Host of the first
;; request this instance served, CURRENT the Host of this request and N how
;; many requests this instance has served, this one included. An instance
;; is never shared between tenants, so FIRST is always a Host of the
;; tenant CURRENT belongs to, and each instance counts only its own
;; tenant's requests.
(module
  (import "http_handler" "get_header_values"
    (func $get_header_values (param i32 i32 i32 i32 i32) (result i64)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "host") ;; 4 bytes
  ;; 1024: the first Host (256 bytes at most); 2048: this request's Host;
  ;; 4096: the answer.
  (global $served (mut i32) (i32.const 0))
  (global $firstLen (mut i32) (i32.const 0))

  ;; host writes the request's Host at buf and returns its length, without
  ;; the NUL the host function ends each value with (0 when it has none or
  ;; it is longer than 255 bytes).
  (func $host (param $buf i32) (result i32)
    (local $r i64)
    (local.set $r (call $get_header_values
      (i32.const 0) (i32.const 0) (i32.const 4) (local.get $buf) (i32.const 256)))
    (if (i64.ne (i64.shr_u (local.get $r) (i64.const 32)) (i64.const 1))
      (then (return (i32.const 0))))
    (if (i32.gt_u (i32.wrap_i64 (local.get $r)) (i32.const 256))
      (then (return (i32.const 0))))
    (i32.sub (i32.wrap_i64 (local.get $r)) (i32.const 1)))

  ;; copy copies n bytes from src to dst and returns dst+n.
  (func $copy (param $dst i32) (param $src i32) (param $n i32) (result i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (i32.store8 (local.get $dst) (i32.load8_u (local.get $src)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $dst))

  ;; itoa writes v in decimal at dst and returns the end.
  (func $itoa (param $dst i32) (param $v i32) (result i32)
    (local $digits i32) (local $t i32) (local $end i32)
    ;; count the digits
    (local.set $digits (i32.const 1))
    (local.set $t (local.get $v))
    (block $done
      (loop $more
        (br_if $done (i32.lt_u (local.get $t) (i32.const 10)))
        (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
        (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
        (br $more)))
    (local.set $end (i32.add (local.get $dst) (local.get $digits)))
    (local.set $t (local.get $end))
    (loop $write
      (local.set $t (i32.sub (local.get $t) (i32.const 1)))
      (i32.store8 (local.get $t)
        (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $write (i32.gt_u (local.get $t) (local.get $dst))))
    (local.get $end))

  (func (export "handle_request") (result i64)
    (local $cur i32) (local $p i32)
    (global.set $served (i32.add (global.get $served) (i32.const 1)))
    (if (i32.eq (global.get $served) (i32.const 1))
      (then (global.set $firstLen (call $host (i32.const 1024)))))
    (local.set $cur (call $host (i32.const 2048)))
    (local.set $p (call $copy (i32.const 4096) (i32.const 1024) (global.get $firstLen)))
    (i32.store8 (local.get $p) (i32.const 32))
    (local.set $p (call $copy (i32.add (local.get $p) (i32.const 1)) (i32.const 2048) (local.get $cur)))
    (i32.store8 (local.get $p) (i32.const 32))
    (local.set $p (call $itoa (i32.add (local.get $p) (i32.const 1)) (global.get $served)))
    (call $write_body (i32.const 1) (i32.const 4096) (i32.sub (local.get $p) (i32.const 4096)))
    (i64.const 0)) ;; next=0: answered here
  (func (export "handle_response") (param i32 i32)))
