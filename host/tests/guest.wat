;; A minimal waPC guest speaking the Kubewarden calling convention, hand-written for the host's
;; tests. Memory: the operation name at 0, constants at 512..1024, the request payload at 1024, the
;; host's answers at 65536.
;;
;; Operations (dispatched on their first letter):
;;   protocol_version   -> "v1"
;;   validate_settings  -> valid for the payload `{}` only
;;   validate           -> accepts, mutating the object into a Pod named "mutated", with a warning
;;   echo               -> the payload
;;   host               -> payload = len+binding, len+namespace, len+operation, data: makes that
;;                         host call and answers with the host's answer, or fails with its error
;;   spin               -> loops forever (for timeouts)
;;   trap               -> traps
;;   fail               -> fails with a guest error
;;   grow               -> grows the memory by 2048 pages (128 MiB), trapping if it cannot, as an
;;                         allocator that runs out of memory does
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call"
    (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 528) "\"v1\"")
  (data (i32.const 544) "{\"valid\":true,\"message\":null}")
  (data (i32.const 592) "{\"valid\":false,\"message\":\"the test guest accepts only {}\"}")
  (data (i32.const 672) "{\"accepted\":true,\"message\":null,\"code\":null,\"mutated_object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"mutated\"}},\"audit_annotations\":null,\"warnings\":[\"from the test guest\"]}")
  (data (i32.const 864) "the test guest failed on purpose")
  (data (i32.const 912) "the test guest does not know this operation")

  (func $respond (param $ptr i32) (param $len i32) (result i32)
    (call $guest_response (local.get $ptr) (local.get $len))
    (i32.const 1))

  (func $fail (param $ptr i32) (param $len i32) (result i32)
    (call $guest_error (local.get $ptr) (local.get $len))
    (i32.const 0))

  (func (export "__guest_call") (param $op_len i32) (param $req_len i32) (result i32)
    (local $c i32) (local $bl i32) (local $nptr i32) (local $nl i32)
    (local $optr i32) (local $ol i32) (local $dptr i32)
    (call $guest_request (i32.const 0) (i32.const 1024))
    (local.set $c (i32.load8_u (i32.const 0)))
    ;; p: protocol_version
    (if (i32.eq (local.get $c) (i32.const 0x70))
      (then (return (call $respond (i32.const 528) (i32.const 4)))))
    ;; v: validate_settings (17 letters) or validate
    (if (i32.eq (local.get $c) (i32.const 0x76))
      (then
        (if (i32.eq (local.get $op_len) (i32.const 17))
          (then
            (if (i32.eq (local.get $req_len) (i32.const 2))
              (then (return (call $respond (i32.const 544) (i32.const 29))))
              (else (return (call $respond (i32.const 592) (i32.const 58)))))))
        (return (call $respond (i32.const 672) (i32.const 166)))))
    ;; g: grow
    (if (i32.eq (local.get $c) (i32.const 0x67))
      (then
        (if (i32.eq (memory.grow (i32.const 2048)) (i32.const -1)) (then unreachable))
        (return (call $respond (i32.const 528) (i32.const 4)))))
    ;; e: echo
    (if (i32.eq (local.get $c) (i32.const 0x65))
      (then (return (call $respond (i32.const 1024) (local.get $req_len)))))
    ;; s: spin
    (if (i32.eq (local.get $c) (i32.const 0x73))
      (then (loop $forever (br $forever))))
    ;; t: trap
    (if (i32.eq (local.get $c) (i32.const 0x74))
      (then unreachable))
    ;; h: host call
    (if (i32.eq (local.get $c) (i32.const 0x68))
      (then
        (local.set $bl (i32.load8_u (i32.const 1024)))
        (local.set $nptr (i32.add (i32.const 1026) (local.get $bl)))
        (local.set $nl (i32.load8_u (i32.sub (local.get $nptr) (i32.const 1))))
        (local.set $optr (i32.add (i32.add (local.get $nptr) (local.get $nl)) (i32.const 1)))
        (local.set $ol (i32.load8_u (i32.sub (local.get $optr) (i32.const 1))))
        (local.set $dptr (i32.add (local.get $optr) (local.get $ol)))
        (if (call $host_call
              (i32.const 1025) (local.get $bl)
              (local.get $nptr) (local.get $nl)
              (local.get $optr) (local.get $ol)
              (local.get $dptr)
              (i32.sub (i32.add (i32.const 1024) (local.get $req_len)) (local.get $dptr)))
          (then
            (call $host_response (i32.const 65536))
            (return (call $respond (i32.const 65536) (call $host_response_len))))
          (else
            (call $host_error (i32.const 65536))
            (return (call $fail (i32.const 65536) (call $host_error_len)))))))
    ;; f: fail
    (if (i32.eq (local.get $c) (i32.const 0x66))
      (then (return (call $fail (i32.const 864) (i32.const 32)))))
    (call $fail (i32.const 912) (i32.const 43))))
