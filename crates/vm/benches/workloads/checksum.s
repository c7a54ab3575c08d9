# checksum: RFC 1071 internet checksum (16-bit one's complement of the one's complement sum)
# of the 512 little-endian u16 words at [r1, r1+1024).
# Memory: 1024 bytes (see workloads/mod.rs, checksum_memory).
# Expected r0: 60244 (0xeb54)
mov %r0, 0
mov %r6, %r1
add %r6, 1024
loop:
ldxh %r3, [%r1+0]
add %r0, %r3
add %r1, 2
jlt %r1, %r6, loop
fold:
mov %r3, %r0
rsh %r3, 16
jeq %r3, 0, done
and %r0, 0xffff
add %r0, %r3
ja fold
done:
xor %r0, 0xffff
exit
