# log2: sum of ilog2(v) over 256 little-endian u64 values at [r1, r1+2048), computed by a
# branchy binary search as the kernel's fls64 does (ilog2(0) taken as 0).
# Memory: 2048 bytes (see workloads/mod.rs, log2_memory).
# Expected r0: 7852 (0x1eac)
mov %r0, 0
lddw %r7, 0x100000000
mov %r6, %r1
add %r6, 2048
loop:
ldxdw %r2, [%r1+0]
mov %r3, 0
jlt %r2, %r7, b16
rsh %r2, 32
add %r3, 32
b16:
jlt %r2, 0x10000, b8
rsh %r2, 16
add %r3, 16
b8:
jlt %r2, 0x100, b4
rsh %r2, 8
add %r3, 8
b4:
jlt %r2, 0x10, b2
rsh %r2, 4
add %r3, 4
b2:
jlt %r2, 4, b1
rsh %r2, 2
add %r3, 2
b1:
jlt %r2, 2, next
add %r3, 1
next:
add %r0, %r3
add %r1, 8
jlt %r1, %r6, loop
exit
