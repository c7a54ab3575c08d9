// Linked numbers: clang copies a length, bounds the original and uses the copy (or the other
// way round). The verifier must know that a bound learnt on one register holds for every copy
// of it, as Linux does (`sync_linked_regs`).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SNAP 128
#define ETH_HLEN 14

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} samples SEC(".maps");

// The first min(len, SNAP) bytes after the Ethernet header of every packet, to a ring buffer,
// after a 4-byte header with their full length.
SEC("xdp")
int xdp_snap_head(struct xdp_md *ctx)
{
	__u8 buf[SNAP + 4];
	__u32 len = bpf_xdp_get_buff_len(ctx) - ETH_HLEN;
	__u32 n = len < SNAP ? len : SNAP;

	if (len < 20 || len > 0xffff) /* no IPv4 header, or wrapped */
		return XDP_PASS;
	*(__u32 *)buf = len;
	if (bpf_xdp_load_bytes(ctx, ETH_HLEN, buf + 4, n))
		return XDP_PASS;
	bpf_ringbuf_output(&samples, buf, n + 4, 0);
	return XDP_PASS;
}

extern int bpf_dynptr_from_xdp(struct xdp_md *x, __u64 flags, struct bpf_dynptr *ptr) __ksym;

// The whole packet, SNAP bytes at a time: each chunk is min(left, SNAP) bytes.
SEC("xdp")
int xdp_snap_chunks(struct xdp_md *ctx)
{
	struct bpf_dynptr pkt;
	__u8 buf[SNAP];
	__u32 len, off = 0;

	if (bpf_dynptr_from_xdp(ctx, 0, &pkt))
		return XDP_PASS;
	len = bpf_xdp_get_buff_len(ctx);
	for (int i = 0; i < 16 && off < len; i++) {
		__u32 left = len - off;
		__u32 chunk = left < SNAP ? left : SNAP;

		// Full chunks straight from the packet when they are contiguous there.
		if (left >= SNAP && bpf_xdp_load_bytes(ctx, off, buf, SNAP) == 0) {
			bpf_ringbuf_output(&samples, buf, SNAP, 0);
			off += SNAP;
			continue;
		}
		if (bpf_dynptr_read(buf, chunk, &pkt, off, 0))
			break;
		bpf_ringbuf_output(&samples, buf, chunk, 0);
		off += chunk;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
