# prime: how many primes are below 1000, by trial division with 32-bit modulo (mod32).
# No memory input.
# Expected r0: 168
mov %r0, 0
mov %r1, 2
next_n:
mov %r2, 2
try_d:
mov %r3, %r2
mul %r3, %r2
jgt %r3, %r1, is_prime
mov32 %r4, %r1
mod32 %r4, %r2
jeq %r4, 0, not_prime
add %r2, 1
ja try_d
is_prime:
add %r0, 1
not_prime:
add %r1, 1
jlt %r1, 1000, next_n
exit
