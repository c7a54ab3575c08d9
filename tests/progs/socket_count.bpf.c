// Socket filter: counts packets and bytes (skb->len) and IPv4 packets per IP protocol, and
// keeps: nothing of non-IPv4 packets, the IPv4 total length (at most skb->len) of UDP and
// other packets, at most 96 bytes of TCP packets. Reads the packet with the legacy
// BPF_LD_ABS / BPF_LD_IND loads (which end the program with 0 when out of bounds).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} sock_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} ip_proto_packets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} udp_ports SEC(".maps");

static __always_inline void add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&sock_stats, &idx);

	if (v)
		__sync_fetch_and_add(v, n);
}

SEC("socket")
int socket_count(struct __sk_buff *skb)
{
	__u32 len = skb->len, proto, ihl, tot, saddr, dport;
	__u64 one = 1, *v;

	add(0, 1);
	add(1, len);
	if (skb->protocol != bpf_htons(ETH_P_IP) || len < 20)
		return 0;
	if ((load_byte(skb, 0) >> 4) != 4)
		return 0;
	add(2, 1);
	proto = load_byte(skb, 9);
	v = bpf_map_lookup_elem(&ip_proto_packets, &proto);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&ip_proto_packets, &proto, &one, BPF_NOEXIST);
	tot = load_half(skb, 2);
	saddr = load_word(skb, 12);
	add(3, saddr);
	if (proto == IPPROTO_TCP)
		return len < 96 ? len : 96;
	if (proto == IPPROTO_UDP) {
		ihl = (load_byte(skb, 0) & 15) * 4;
		/* BPF_LD_IND: a truncated UDP header ends the program with 0. */
		dport = load_half(skb, ihl + 2);
		bpf_map_update_elem(&udp_ports, &dport, &len, BPF_ANY);
	}
	return tot < len ? tot : len;
}

char LICENSE[] SEC("license") = "GPL";
