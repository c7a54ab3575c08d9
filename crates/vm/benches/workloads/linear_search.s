# linear_search: index of the first little-endian u32 equal to the key among 256 u32 values at
# [r1, r1+1024); the key is the u32 at r1+1024. Returns 256 if the key is absent.
# Memory: 1032 bytes (see workloads/mod.rs, linear_search_memory; the key is element 250).
# Expected r0: 250
ldxw %r2, [%r1+1024]
mov %r0, 0
loop:
ldxw %r3, [%r1+0]
jeq %r3, %r2, done
add %r1, 4
add %r0, 1
jlt %r0, 256, loop
done:
exit
