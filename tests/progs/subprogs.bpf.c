// A program calling two static subprograms (one calls the other), a global
// function, and a bpf_loop callback (BPF_PSEUDO_FUNC load).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __noinline int square(int x)
{
	return x * x;
}

static __noinline int sum_squares(int a, int b)
{
	return square(a) + square(b);
}

static __noinline int add_one(int x)
{
	return x + 1;
}

__noinline int global_double(int x)
{
	return x * 2;
}

static int loop_cb(__u32 index, void *ctx)
{
	int *acc = ctx;

	*acc += index;
	return 0;
}

SEC("tc")
int calls(struct __sk_buff *skb)
{
	int acc = 0;

	bpf_loop(4, loop_cb, &acc, 0);
	return sum_squares(skb->len, 2) + add_one(acc) + global_double(3);
}

SEC("tc")
int calls_other(struct __sk_buff *skb)
{
	return add_one(skb->len);
}

char LICENSE[] SEC("license") = "GPL";
