# Example: iterative Fibonacci, fib(90) = 2880067194370816120 (0x27f80ddaa1ba7878) in r0.
# Run:   waggle exec examples/fibonacci.s
# No memory input. Change the `mov %r3, 90` line for another N (fib(93) is the last that fits
# in 64 bits; past that the adds wrap). Same program as the `fibonacci` benchmark
# (crates/vm/benches/workloads/fibonacci.s).
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
