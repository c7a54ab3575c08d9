# strcmp: C strcmp of the NUL-terminated strings at r1 and r1+1024 (1023 chars each, equal but
# for the last char); returns c1 - c2 of the first difference as a wrapping u64, 0 if equal.
# Memory: 2048 bytes (see workloads/mod.rs, strcmp_memory).
# Expected r0: 0xffffffffffffffff (-1)
loop:
ldxb %r3, [%r1+0]
ldxb %r4, [%r1+1024]
jne %r3, %r4, differ
jeq %r3, 0, equal
add %r1, 1
ja loop
differ:
mov %r0, %r3
sub %r0, %r4
exit
equal:
mov %r0, 0
exit
