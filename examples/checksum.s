# Example: the RFC 1071 internet checksum of the memory region (r1 = start, r2 = length in
# bytes, even), e.g. of an IPv4 header whose checksum field (bytes 10-11) is zero:
# Run:   waggle exec examples/checksum.s --mem-hex "45 00 00 73 00 00 40 00 40 11 00 00 c0 a8 00 01 c0 a8 00 c7"
# r0 = 0xb861: the checksum to store in bytes 10-11 (b8 61). With those bytes filled in, the
# same run gives 0. The `checksum` benchmark (crates/vm/benches/workloads/checksum.s) is this
# program over a fixed 1 KiB; here the length comes from r2, and the final `be16` turns the
# little-endian word sum into the big-endian (network order) value.
mov %r0, 0
mov %r6, %r1
add %r6, %r2
jge %r1, %r6, fold
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
be16 %r0
exit
