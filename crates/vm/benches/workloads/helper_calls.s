# helper_calls: 256 chained calls of helper 1, which the engine registers as r0 = r1 + 1.
# No memory input.
# Expected r0: 256
mov %r6, 256
mov %r1, 0
loop:
call 1
mov %r1, %r0
sub %r6, 1
jne %r6, 0, loop
exit
