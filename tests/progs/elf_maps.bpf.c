// iproute2's struct bpf_elf_map (9 x u32) in a "maps" section, with an
// array-of-maps whose inner map is found through inner_id.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_elf_map {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
	__u32 inner_id;
	__u32 inner_idx;
};

#define PIN_GLOBAL_NS 2

struct bpf_elf_map SEC("maps") tc_counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = 4,
	.size_value = 8,
	.max_elem = 64,
	.pinning = PIN_GLOBAL_NS,
};

struct bpf_elf_map SEC("maps") inner_proto = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = 4,
	.size_value = 4,
	.max_elem = 1,
	.id = 42,
	.inner_idx = 0,
};

struct bpf_elf_map SEC("maps") outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.size_key = 4,
	.size_value = 4,
	.max_elem = 2,
	.inner_id = 42,
};

SEC("classifier")
int tc_count(struct __sk_buff *skb)
{
	__u32 key = skb->queue_mapping & 63;
	__u64 *v = bpf_map_lookup_elem(&tc_counts, &key);

	if (v)
		*v += 1;
	key = 0;
	return bpf_map_lookup_elem(&outer, &key) ? 0 : -1;
}

char LICENSE[] SEC("license") = "GPL";
