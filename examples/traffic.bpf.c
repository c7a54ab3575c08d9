// Traffic summary, the README's main job:
//   waggle attach examples/traffic.bpf.o --pcap examples/traffic.pcap
// An XDP program that counts packets and bytes per protocol, bytes per destination port
// (TCP and UDP, IPv4 and IPv6) and a log2 histogram of packet sizes. It passes every packet.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// Keys of `per_proto`: IP protocol numbers, and non-IP frames apart. An enum so that
// `waggle attach` prints the names (it decodes keys with the object's BTF).
enum proto {
	ICMP = 1,
	TCP = 6,
	UDP = 17,
	ICMPv6 = 58,
	OTHER_IP = 255,
	ARP = 256,
	OTHER_ETHERTYPE = 257,
};

struct counters {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, enum proto);
	__type(value, struct counters);
} per_proto SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u16); // destination port
	__type(value, __u64); // bytes
} bytes_per_port SEC(".maps");

// Slot i counts packets of 2^i to 2^(i+1)-1 bytes.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} size_hist SEC(".maps");

static __always_inline void count(enum proto p, __u64 len)
{
	struct counters *c = bpf_map_lookup_elem(&per_proto, &p);
	if (c) {
		__sync_fetch_and_add(&c->packets, 1);
		__sync_fetch_and_add(&c->bytes, len);
	} else {
		struct counters n = { 1, len };
		bpf_map_update_elem(&per_proto, &p, &n, BPF_NOEXIST);
	}
}

static __always_inline void port_bytes(__u16 port, __u64 len)
{
	__u64 *b = bpf_map_lookup_elem(&bytes_per_port, &port);
	if (b)
		__sync_fetch_and_add(b, len);
	else
		bpf_map_update_elem(&bytes_per_port, &port, &len, BPF_NOEXIST);
}

static __always_inline __u32 log2(__u64 v)
{
	__u32 r = 0;
#pragma unroll
	for (int i = 0; i < 16; i++)
		if (v >> (r + 1))
			r++;
	return r;
}

// The L4 header at `l4`: count the destination port of TCP and UDP.
static __always_inline void l4(__u8 proto, void *l4, void *end, __u64 len)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *t = l4;
		if ((void *)(t + 1) <= end)
			port_bytes(bpf_ntohs(t->dest), len);
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *u = l4;
		if ((void *)(u + 1) <= end)
			port_bytes(bpf_ntohs(u->dest), len);
	}
}

SEC("xdp")
int traffic(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 len = end - data;
	struct ethhdr *eth = data;

	__u32 slot = log2(len);
	__u64 *h = bpf_map_lookup_elem(&size_hist, &slot);
	if (h)
		__sync_fetch_and_add(h, 1);

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	__u16 type = bpf_ntohs(eth->h_proto);
	if (type == ETH_P_IP) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end)
			return XDP_PASS;
		__u8 p = ip->protocol;
		count(p == IPPROTO_ICMP || p == IPPROTO_TCP || p == IPPROTO_UDP ? p : OTHER_IP,
		      len);
		l4(p, (void *)ip + ip->ihl * 4, end, len);
	} else if (type == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		__u8 p = ip6->nexthdr;
		count(p == IPPROTO_ICMPV6 || p == IPPROTO_TCP || p == IPPROTO_UDP ? p : OTHER_IP,
		      len);
		l4(p, ip6 + 1, end, len);
	} else if (type == ETH_P_ARP) {
		count(ARP, len);
	} else {
		count(OTHER_ETHERTYPE, len);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
