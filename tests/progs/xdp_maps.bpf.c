// XDP program with a BTF-defined hash map and an array map: counts packets per
// (first byte of the payload) in `counts` and totals in `stats`.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} counts SEC(".maps");

struct stat {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__type(value, struct stat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 key = 0;
	__u64 one = 1, *val;
	struct stat *st;

	if (data + 1 > data_end)
		return XDP_DROP;
	key = *(__u8 *)data;
	val = bpf_map_lookup_elem(&counts, &key);
	if (val)
		__sync_fetch_and_add(val, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);

	key = 0;
	st = bpf_map_lookup_elem(&stats, &key);
	if (st) {
		st->packets++;
		st->bytes += data_end - data;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
