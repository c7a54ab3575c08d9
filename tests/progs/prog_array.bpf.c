// A prog array whose slots are initialised from BTF `values` (tail calls).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int tail_0(struct __sk_buff *skb);
int tail_2(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} jump_table SEC(".maps") = {
	.values = {
		[0] = (void *)&tail_0,
		[2] = (void *)&tail_2,
	},
};

SEC("socket")
int tail_0(struct __sk_buff *skb)
{
	return 10;
}

SEC("socket")
int tail_2(struct __sk_buff *skb)
{
	return 12;
}

SEC("socket")
int entry(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &jump_table, skb->len & 3);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
