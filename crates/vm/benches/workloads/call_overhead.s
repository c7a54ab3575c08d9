# call_overhead: the smallest program, to measure the fixed cost of one run.
# Expected r0: 0
mov %r0, 0
exit
