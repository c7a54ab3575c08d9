# memcpy: byte-wise copy of [r1, r1+1024) to [r1+1024, r1+2048); returns the last byte copied.
# Memory: 2048 bytes (see workloads/mod.rs, memcpy_memory).
# Expected r0: 77 (0x4d)
mov %r6, %r1
add %r6, 1024
loop:
ldxb %r3, [%r1+0]
stxb [%r1+1024], %r3
add %r1, 1
jlt %r1, %r6, loop
mov %r0, %r3
exit
