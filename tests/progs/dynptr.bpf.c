// Dynptrs (helpers and kfuncs), an open-coded numeric iterator and may_goto, as Linux
// verifies them: every program here is accepted by the kernel (6.9+) and by Waggle.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

// Not in the installed UAPI header (Linux 6.4+).
struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern int bpf_dynptr_from_xdp(struct xdp_md *x, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern int bpf_dynptr_from_skb(struct __sk_buff *s, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt,
			      __u32 buffer__szk) __ksym;
extern void *bpf_dynptr_slice_rdwr(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt,
				   __u32 buffer__szk) __ksym;
extern __u32 bpf_dynptr_size(const struct bpf_dynptr *p) __ksym;
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[4]);
} scratch SEC(".maps");

// The Ethernet type through a read-only slice of the packet: XDP_PASS for IPv4, else DROP.
SEC("xdp")
int xdp_eth_slice(struct xdp_md *ctx)
{
	struct bpf_dynptr pkt;
	unsigned char buf[14];
	unsigned char *eth;

	bpf_dynptr_from_xdp(ctx, 0, &pkt);
	eth = bpf_dynptr_slice(&pkt, 0, buf, sizeof(buf));
	if (!eth)
		return XDP_ABORTED;
	return eth[12] == 0x08 && eth[13] == 0x00 ? XDP_PASS : XDP_DROP;
}

// Swap the two MAC addresses through a writable slice and return the packet's size mod 256.
SEC("xdp")
int xdp_swap_macs(struct xdp_md *ctx)
{
	struct bpf_dynptr pkt;
	unsigned char *eth, tmp;
	int i;

	bpf_dynptr_from_xdp(ctx, 0, &pkt);
	eth = bpf_dynptr_slice_rdwr(&pkt, 0, NULL, 12);
	if (!eth)
		return XDP_ABORTED;
	for (i = 0; i < 6; i++) {
		tmp = eth[i];
		eth[i] = eth[i + 6];
		eth[i + 6] = tmp;
	}
	return XDP_TX;
}

// Copy the packet into a ring-buffer record 16 bytes at a time (libbpf-bootstrap's
// capture_xdp_data, smaller): ring-buffer dynptr, dynptr data, iterator, read and write.
SEC("xdp")
int xdp_capture(struct xdp_md *ctx)
{
	struct bpf_dynptr pkt, rec;
	struct bpf_iter_num it;
	unsigned char buf[16];
	__u32 size, off;
	__u32 *hdr;
	int *v;

	bpf_dynptr_from_xdp(ctx, 0, &pkt);
	size = bpf_dynptr_size(&pkt);
	if (size > 1024)
		size = 1024;
	if (bpf_ringbuf_reserve_dynptr(&events, 8 + size, 0, &rec))
		goto discard;
	hdr = bpf_dynptr_data(&rec, 0, 8);
	if (!hdr)
		goto discard;
	hdr[0] = size;
	hdr[1] = 0;
	bpf_iter_num_new(&it, 0, (size + 15) / 16);
	while ((v = bpf_iter_num_next(&it))) {
		off = *v * 16;
		if (off + 16 > size)
			break;
		if (bpf_dynptr_read(buf, 16, &pkt, off, 0))
			break;
		if (bpf_dynptr_write(&rec, 8 + off, buf, 16, 0))
			break;
	}
	bpf_iter_num_destroy(&it);
	bpf_ringbuf_submit_dynptr(&rec, 0);
	return XDP_PASS;
discard:
	bpf_ringbuf_discard_dynptr(&rec, 0);
	return XDP_PASS;
}

// A local dynptr over a map value: write 8 bytes at offset 8, read them back.
SEC("xdp")
int xdp_local(struct xdp_md *ctx)
{
	struct bpf_dynptr d;
	__u64 in = 0x1122334455667788ULL, out = 0;
	__u32 key = 0;
	__u64 *val;

	val = bpf_map_lookup_elem(&scratch, &key);
	if (!val)
		return XDP_ABORTED;
	bpf_dynptr_from_mem(val, 32, 0, &d);
	if (bpf_dynptr_write(&d, 8, &in, sizeof(in), 0))
		return XDP_ABORTED;
	if (bpf_dynptr_read(&out, sizeof(out), &d, 8, 0))
		return XDP_ABORTED;
	// Out of bounds: the helper refuses at run time (-E2BIG), the program sees it.
	if (!bpf_dynptr_read(&out, sizeof(out), &d, 28, 0))
		return XDP_ABORTED;
	return out == in ? XDP_PASS : XDP_DROP;
}

// A loop bounded only by the loop budget (may_goto, Linux 6.9+): sums the first bytes of a
// map value; terminates by construction.
SEC("xdp")
int xdp_may_goto(struct xdp_md *ctx)
{
	__u32 key = 0, i = 0;
	__u64 *val, sum = 0;

	val = bpf_map_lookup_elem(&scratch, &key);
	if (!val)
		return XDP_ABORTED;
	for (;;) {
		asm volatile goto("may_goto %l[out]" :::: out);
		if (i >= 1000)
			break;
		sum += val[i & 3];
		i++;
	}
out:
	return sum == 0 ? XDP_PASS : XDP_DROP;
}

// The IPv4 protocol byte through an skb dynptr (tc): TC_ACT_OK (0) for UDP, else
// TC_ACT_SHOT (2); TC_ACT_UNSPEC (-1) for what is not IPv4.
SEC("tc")
int tc_udp_only(struct __sk_buff *skb)
{
	struct bpf_dynptr pkt;
	unsigned char buf[24];
	unsigned char *h;

	if (bpf_dynptr_from_skb(skb, 0, &pkt))
		return -1;
	h = bpf_dynptr_slice(&pkt, 0, buf, sizeof(buf));
	if (!h || h[12] != 0x08 || h[13] != 0x00)
		return -1;
	return h[14 + 9] == 17 ? 0 : 2;
}
