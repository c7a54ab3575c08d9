# fibonacci: iterative fib(90) on u64 (wrapping adds; fib(90) still fits).
# No memory input.
# Expected r0: 2880067194370816120 (0x27f80ddaa1ba7878)
mov %r0, 0
mov %r2, 1
mov %r3, 90
loop:
mov %r4, %r0
add %r4, %r2
mov %r0, %r2
mov %r2, %r4
sub %r3, 1
jne %r3, 0, loop
exit
