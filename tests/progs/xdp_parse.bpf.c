// XDP parser for Ethernet / 802.1Q and 802.1ad VLAN (up to two tags) / IPv4 / IPv6 / TCP /
// UDP, with every header bounds-checked against data_end. Counts packets per class in
// `proto_count` and packets and bytes per L4 destination port in `port_bytes`; drops
// malformed packets and packets to `blocked_port` (a .rodata constant), passes the rest.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum {
	CLASS_OTHER_L4 = 0,
	CLASS_TCP = 1,
	CLASS_UDP = 2,
	CLASS_ICMP = 3,
	CLASS_NON_IP = 4,
	CLASS_MALFORMED = 5,
	CLASS_VLAN = 6,
	CLASS_IPV6 = 7,
};

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct port_stat {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} proto_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct port_stat);
} port_bytes SEC(".maps");

const volatile __u16 blocked_port = 9999;

static __always_inline void count(__u32 class)
{
	__u64 *v = bpf_map_lookup_elem(&proto_count, &class);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("xdp")
int xdp_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u64 len = data_end - data;
	struct port_stat *ps, init = { 1, 0 };
	__u32 dport, class;
	__u16 proto;
	__u8 l4;
	void *cur;

	if ((void *)(eth + 1) > data_end) {
		count(CLASS_MALFORMED);
		return XDP_DROP;
	}
	proto = eth->h_proto;
	cur = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
			struct vlan_hdr *vh = cur;

			if ((void *)(vh + 1) > data_end) {
				count(CLASS_MALFORMED);
				return XDP_DROP;
			}
			if (i == 0)
				count(CLASS_VLAN);
			proto = vh->proto;
			cur = vh + 1;
		}
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cur;

		if ((void *)(ip + 1) > data_end || ip->ihl < 5) {
			count(CLASS_MALFORMED);
			return XDP_DROP;
		}
		l4 = ip->protocol;
		cur = (void *)ip + ip->ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;

		if ((void *)(ip6 + 1) > data_end) {
			count(CLASS_MALFORMED);
			return XDP_DROP;
		}
		count(CLASS_IPV6);
		l4 = ip6->nexthdr;
		cur = ip6 + 1;
	} else {
		count(CLASS_NON_IP);
		return XDP_PASS;
	}

	if (l4 == IPPROTO_TCP) {
		struct tcphdr *th = cur;

		if ((void *)(th + 1) > data_end) {
			count(CLASS_MALFORMED);
			return XDP_DROP;
		}
		dport = bpf_ntohs(th->dest);
		class = CLASS_TCP;
	} else if (l4 == IPPROTO_UDP) {
		struct udphdr *uh = cur;

		if ((void *)(uh + 1) > data_end) {
			count(CLASS_MALFORMED);
			return XDP_DROP;
		}
		dport = bpf_ntohs(uh->dest);
		class = CLASS_UDP;
	} else if (l4 == IPPROTO_ICMP || l4 == IPPROTO_ICMPV6) {
		count(CLASS_ICMP);
		return XDP_PASS;
	} else {
		count(CLASS_OTHER_L4);
		return XDP_PASS;
	}
	count(class);

	ps = bpf_map_lookup_elem(&port_bytes, &dport);
	if (ps) {
		__sync_fetch_and_add(&ps->packets, 1);
		__sync_fetch_and_add(&ps->bytes, len);
	} else {
		init.bytes = len;
		bpf_map_update_elem(&port_bytes, &dport, &init, BPF_NOEXIST);
	}
	if (dport == blocked_port)
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
