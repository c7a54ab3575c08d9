// Per-CPU and LRU counters keyed by the first byte of the packet: a percpu_array (by the
// byte's low two bits), a percpu_hash, an lru_hash and an lru_percpu_hash (packets and
// bytes), plus a bpf_map_lookup_percpu_elem read of CPU 0's slot.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} pc_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} pc_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} lru_bytes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} lru_pc SEC(".maps");

SEC("xdp")
int count_percpu(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data, one = 1, *v;
	__u32 key, slot;

	if (data + 1 > data_end)
		return XDP_DROP;
	key = *(__u8 *)data;
	slot = key & 3;

	v = bpf_map_lookup_elem(&pc_array, &slot);
	if (v)
		*v += 1;
	v = bpf_map_lookup_elem(&pc_hash, &key);
	if (v)
		*v += len;
	else
		bpf_map_update_elem(&pc_hash, &key, &len, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&lru_bytes, &key);
	if (v)
		__sync_fetch_and_add(v, len);
	else
		bpf_map_update_elem(&lru_bytes, &key, &len, BPF_ANY);
	v = bpf_map_lookup_elem(&lru_pc, &key);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&lru_pc, &key, &one, BPF_ANY);
	if (key == 0xee)
		bpf_map_delete_elem(&pc_hash, &key);

	/* CPU 0 always exists: the lookup never fails. */
	v = bpf_map_lookup_percpu_elem(&pc_array, &slot, 0);
	return v ? XDP_PASS : XDP_ABORTED;
}

char LICENSE[] SEC("license") = "GPL";
