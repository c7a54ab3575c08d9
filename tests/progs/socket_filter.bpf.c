// Socket filter: accept IPv4 packets (truncated to 64 bytes), drop the rest.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int accept_ipv4(struct __sk_buff *skb)
{
	if (skb->protocol == __builtin_bswap16(ETH_P_IP))
		return 64;
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
