// Bloom filter: a packet starting with 1 adds the u32 at bytes 1..5 (bpf_map_push_elem);
// any other packet of at least 5 bytes checks it (bpf_map_peek_elem). Counts adds, maybe-
// present and absent answers in `bloom_stats`. Returns XDP_DROP for values the filter may
// hold, XDP_PASS otherwise (XDP_ABORTED when shorter than 5 bytes).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 64);
	__type(value, __u32);
	__uint(map_extra, 3);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} bloom_stats SEC(".maps");

static __always_inline void add(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&bloom_stats, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("xdp")
int bloom_check(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	__u32 value;

	if (data + 5 > data_end)
		return XDP_ABORTED;
	value = p[1] | p[2] << 8 | p[3] << 16 | (__u32)p[4] << 24;
	if (p[0] == 1) {
		if (bpf_map_push_elem(&seen, &value, BPF_ANY) == 0)
			add(0);
		return XDP_PASS;
	}
	if (bpf_map_peek_elem(&seen, &value) == 0) {
		add(1);
		return XDP_DROP;
	}
	add(2);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
