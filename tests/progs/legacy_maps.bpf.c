// Legacy map definitions in a "maps" section (libbpf's old struct bpf_map_def),
// as older samples and projects wrote them.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 256,
	.map_flags = 0,
};

struct bpf_map_def SEC("maps") legacy_array = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = 16,
	.max_entries = 8,
	.map_flags = 0,
};

SEC("socket")
int legacy_prog(struct __sk_buff *skb)
{
	__u32 key = skb->len & 7;
	__u64 init = 1, *v;
	void *a;

	v = bpf_map_lookup_elem(&legacy_hash, &key);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&legacy_hash, &key, &init, BPF_ANY);
	a = bpf_map_lookup_elem(&legacy_array, &key);
	return a ? 1 : 0;
}

char LICENSE[] SEC("license") = "GPL";
