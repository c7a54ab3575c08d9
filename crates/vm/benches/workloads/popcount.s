# popcount: sum of the population counts of 256 little-endian u64 values at [r1, r1+2048),
# with the SWAR bit tricks (no per-bit loop): pairs, nibbles, bytes, then a multiply.
# Memory: 2048 bytes (see workloads/mod.rs, popcount_memory).
# Expected r0: 8316 (0x207c)
mov %r0, 0
lddw %r6, 0x5555555555555555
lddw %r7, 0x3333333333333333
lddw %r8, 0x0f0f0f0f0f0f0f0f
lddw %r9, 0x0101010101010101
mov %r5, %r1
add %r5, 2048
loop:
ldxdw %r2, [%r1+0]
mov %r3, %r2
rsh %r3, 1
and %r3, %r6
sub %r2, %r3
mov %r3, %r2
rsh %r3, 2
and %r3, %r7
and %r2, %r7
add %r2, %r3
mov %r3, %r2
rsh %r3, 4
add %r2, %r3
and %r2, %r8
mul %r2, %r9
rsh %r2, 56
add %r0, %r2
add %r1, 8
jlt %r1, %r5, loop
exit
