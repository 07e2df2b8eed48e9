;; oob breaks the ABI in a different way for each request, chosen by the
;; first letter of its X-Case header: pointers and lengths outside its
;; memory for every host function that takes one, and values no host
;; accepts. Every case must fail only its own request, with a 500. Without
;; the header it answers 200. The cases:
;;
;;   a: get_config
;;   b: log
;;   c: get_method
;;   d: set_method
;;   e: get_uri
;;   f: set_uri: length 4 GiB - 1
;;   g: get_protocol_version
;;   h: get_header_names
;;   i: get_header_values: the name
;;   j: get_header_values: the buffer
;;   k: set_header_value: the value
;;   l: add_header_value: the name
;;   m: remove_header: a name across the end of memory
;;   n: read_body: the request body
;;   o: write_body
;;   p: get_source_addr
;;   q: set_header_value: header kind 9
;;   r: set_status_code 1000
;;   s: read_body: buf_limit 0
;;   t: write_body: body kind 7
;;   u: get_header_names: a buffer across the end of memory
;;   v: log at level none
;;   w: get_header_values: length 4 GiB - 1
;;   x: set_method: a length past the end
(module
  (import "http_handler" "get_config" (func $get_config (param i32 i32) (result i32)))
  (import "http_handler" "log" (func $log (param i32 i32 i32)))
  (import "http_handler" "get_method" (func $get_method (param i32 i32) (result i32)))
  (import "http_handler" "set_method" (func $set_method (param i32 i32)))
  (import "http_handler" "get_uri" (func $get_uri (param i32 i32) (result i32)))
  (import "http_handler" "set_uri" (func $set_uri (param i32 i32)))
  (import "http_handler" "get_protocol_version" (func $get_protocol_version (param i32 i32) (result i32)))
  (import "http_handler" "get_header_names" (func $get_header_names (param i32 i32 i32) (result i64)))
  (import "http_handler" "get_header_values" (func $get_header_values (param i32 i32 i32 i32 i32) (result i64)))
  (import "http_handler" "set_header_value" (func $set_header_value (param i32 i32 i32 i32 i32)))
  (import "http_handler" "add_header_value" (func $add_header_value (param i32 i32 i32 i32 i32)))
  (import "http_handler" "remove_header" (func $remove_header (param i32 i32 i32)))
  (import "http_handler" "read_body" (func $read_body (param i32 i32 i32) (result i64)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (import "http_handler" "set_status_code" (func $set_status_code (param i32)))
  (import "http_handler" "get_source_addr" (func $get_source_addr (param i32 i32) (result i32)))
  (memory (export "memory") 1) ;; 64 KiB: [0, 65536)
  ;; far is 0xffffff00, far outside memory
  (global $far i32 (i32.const -256))
  (data (i32.const 0) "X-Case")
  (func (export "handle_request") (result i64)
    (local $case i32)
    ;; the first value of X-Case lands at 16; no header: answer 200
    (if (i64.eqz (call $get_header_values (i32.const 0) (i32.const 0) (i32.const 6) (i32.const 16) (i32.const 8)))
      (then (return (i64.const 0))))
    (local.set $case (i32.sub (i32.load8_u (i32.const 16)) (i32.const 97))) ;; 'a' is 0
    (block $done
    (block $c_x
    (block $c_w
    (block $c_v
    (block $c_u
    (block $c_t
    (block $c_s
    (block $c_r
    (block $c_q
    (block $c_p
    (block $c_o
    (block $c_n
    (block $c_m
    (block $c_l
    (block $c_k
    (block $c_j
    (block $c_i
    (block $c_h
    (block $c_g
    (block $c_f
    (block $c_e
    (block $c_d
    (block $c_c
    (block $c_b
    (block $c_a
      (br_table $c_a $c_b $c_c $c_d $c_e $c_f $c_g $c_h $c_i $c_j $c_k $c_l $c_m $c_n $c_o $c_p $c_q $c_r $c_s $c_t $c_u $c_v $c_w $c_x $done (local.get $case)))
    ;; a: get_config
    (drop (call $get_config (global.get $far) (i32.const 1024))) (br $done))
    ;; b: log
    (call $log (i32.const 0) (global.get $far) (i32.const 10)) (br $done))
    ;; c: get_method
    (drop (call $get_method (global.get $far) (i32.const 64))) (br $done))
    ;; d: set_method
    (call $set_method (global.get $far) (i32.const 4)) (br $done))
    ;; e: get_uri
    (drop (call $get_uri (global.get $far) (i32.const 1024))) (br $done))
    ;; f: set_uri: length 4 GiB - 1
    (call $set_uri (i32.const 0) (i32.const -1)) (br $done))
    ;; g: get_protocol_version
    (drop (call $get_protocol_version (global.get $far) (i32.const 64))) (br $done))
    ;; h: get_header_names
    (drop (call $get_header_names (i32.const 0) (global.get $far) (i32.const 4096))) (br $done))
    ;; i: get_header_values: the name
    (drop (call $get_header_values (i32.const 0) (global.get $far) (i32.const 6) (i32.const 16) (i32.const 8))) (br $done))
    ;; j: get_header_values: the buffer
    (drop (call $get_header_values (i32.const 0) (i32.const 0) (i32.const 6) (global.get $far) (i32.const 64))) (br $done))
    ;; k: set_header_value: the value
    (call $set_header_value (i32.const 1) (i32.const 0) (i32.const 6) (global.get $far) (i32.const 5)) (br $done))
    ;; l: add_header_value: the name
    (call $add_header_value (i32.const 1) (global.get $far) (i32.const 5) (i32.const 0) (i32.const 6)) (br $done))
    ;; m: remove_header: a name across the end of memory
    (call $remove_header (i32.const 0) (i32.const 65530) (i32.const 100)) (br $done))
    ;; n: read_body: the request body
    (drop (call $read_body (i32.const 0) (global.get $far) (i32.const 1024))) (br $done))
    ;; o: write_body
    (call $write_body (i32.const 1) (global.get $far) (i32.const 10)) (br $done))
    ;; p: get_source_addr
    (drop (call $get_source_addr (global.get $far) (i32.const 64))) (br $done))
    ;; q: set_header_value: header kind 9
    (call $set_header_value (i32.const 9) (i32.const 0) (i32.const 6) (i32.const 16) (i32.const 1)) (br $done))
    ;; r: set_status_code 1000
    (call $set_status_code (i32.const 1000)) (br $done))
    ;; s: read_body: buf_limit 0
    (drop (call $read_body (i32.const 0) (i32.const 16) (i32.const 0))) (br $done))
    ;; t: write_body: body kind 7
    (call $write_body (i32.const 7) (i32.const 0) (i32.const 1)) (br $done))
    ;; u: get_header_names: a buffer across the end of memory
    (drop (call $get_header_names (i32.const 0) (i32.const 65530) (i32.const -1))) (br $done))
    ;; v: log at level none
    (call $log (i32.const 3) (global.get $far) (i32.const 10)) (br $done))
    ;; w: get_header_values: length 4 GiB - 1
    (drop (call $get_header_values (i32.const 1) (i32.const 0) (i32.const -1) (i32.const 16) (i32.const 8))) (br $done))
    ;; x: set_method: a length past the end
    (call $set_method (i32.const 65535) (i32.const 2)))
    ;; still running: the host let it through
    (i64.const 0))
  (func (export "handle_response") (param i32 i32)))
