// A queue and a stack of four u32 values. A packet whose first byte is not 0xff pushes
// `first byte | length << 8` to both (the queue with BPF_ANY, failing when full; the stack
// with BPF_EXIST, dropping its oldest value when full); 0xfe peeks; 0xff pops. Returns what
// happened: the push/pop/peek results and the values read, packed into the return value.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__type(value, __u32);
} fifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 4);
	__type(value, __u32);
} lifo SEC(".maps");

static __always_inline __u32 status(long r)
{
	/* 0 ok, 1 ENOENT, 2 E2BIG, 3 anything else */
	return r == 0 ? 0 : r == -2 ? 1 : r == -7 ? 2 : 3;
}

SEC("xdp")
int queue_stack(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data, b, v, q = 0, s = 0;
	long rq, rs;

	if (data + 1 > data_end)
		return XDP_ABORTED;
	b = *(__u8 *)data;
	if (b == 0xff) {
		rq = bpf_map_pop_elem(&fifo, &q);
		rs = bpf_map_pop_elem(&lifo, &s);
	} else if (b == 0xfe) {
		rq = bpf_map_peek_elem(&fifo, &q);
		rs = bpf_map_peek_elem(&lifo, &s);
	} else {
		v = b | len << 8;
		rq = bpf_map_push_elem(&fifo, &v, BPF_ANY);
		rs = bpf_map_push_elem(&lifo, &v, BPF_EXIST);
	}
	return status(rq) | status(rs) << 2 | (q & 0xff) << 8 | (s & 0xff) << 16 |
	       ((q >> 8) & 0x7f) << 24;
}

char LICENSE[] SEC("license") = "GPL";
