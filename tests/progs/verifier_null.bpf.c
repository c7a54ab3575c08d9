// Refused on purpose (the verifier's tests): the value bpf_map_lookup_elem returns is read
// without checking it against NULL.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int count_null(struct xdp_md *ctx)
{
	__u32 key = ctx->ingress_ifindex;
	__u64 *val;

	val = bpf_map_lookup_elem(&counts, &key);
	return *val > 100 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
