// Helper families otherwise covered only from assembler, from C (crates/runtime/tests/
// helper_families.rs runs them end to end; kernel_diff.rs compares them with the kernel):
// - perf_output: bpf_perf_event_output of a record built from the packet to a
//   PERF_EVENT_ARRAY (BPF_F_CURRENT_CPU); its return value in results[0].
// - strings: bpf_strtol, bpf_strtoul and bpf_trace_printk on the first 16 bytes of the
//   packet; results in results[]. (bpf_strncmp and bpf_snprintf take a constant string,
//   which our verifier does not model yet: they are in verifier_gaps/strings_const.bpf.c.)
// - adjust: bpf_xdp_adjust_head (push 4 bytes), bpf_xdp_adjust_meta (8 bytes of metadata),
//   bpf_xdp_adjust_tail (trim 2 bytes), each step checked through the new pointers.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

// results: 0 perf_event_output's return, 1 strtol's return, 2 strtol's value, 3 strtoul's
// return, 4 strtoul's value, 8 trace_printk's return, 9 adjust steps passed.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

static __always_inline void set(__u32 slot, __s64 v)
{
	__s64 *r = bpf_map_lookup_elem(&results, &slot);
	if (r)
		*r = v;
}

struct record {
	__u32 len;
	__u32 magic;
	__u8 head[8];
};

SEC("xdp")
int perf_output(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct record r = { .len = ctx->data_end - ctx->data, .magic = 0xfeedbeef };
	if (data + 8 > end)
		return XDP_ABORTED;
	__builtin_memcpy(r.head, data, 8);
	set(0, bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &r, sizeof(r)));
	return XDP_PASS;
}

SEC("xdp")
int strings(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	char buf[16];
	long l = 0;
	unsigned long ul = 0;
	if (data + 16 > end)
		return XDP_ABORTED;
	__builtin_memcpy(buf, data, 16);
	// The packet: "hello" then a signed number from byte 6, an unsigned one from byte 11.
	set(1, bpf_strtol(buf + 6, 5, 0, &l));
	set(2, l);
	set(3, bpf_strtoul(buf + 11, 5, 16, &ul));
	set(4, ul);
	set(8, bpf_printk("strings: l=%ld ul=%lu", l, ul));
	return XDP_PASS;
}

SEC("xdp")
int adjust(struct xdp_md *ctx)
{
	__s64 steps = 0;
	if (bpf_xdp_adjust_head(ctx, -4))
		goto out;
	__u8 *p = (void *)(long)ctx->data;
	if ((void *)(p + 4) > (void *)(long)ctx->data_end)
		goto out;
	p[0] = 0xde;
	p[1] = 0xad;
	p[2] = 0xbe;
	p[3] = 0xef;
	steps++;

	if (bpf_xdp_adjust_meta(ctx, -8))
		goto out;
	__u64 *meta = (void *)(long)ctx->data_meta;
	if ((void *)(meta + 1) > (void *)(long)ctx->data)
		goto out;
	*meta = 0x0123456789abcdefULL;
	steps++;

	if (bpf_xdp_adjust_tail(ctx, -2))
		goto out;
	steps++;
	// Growing the head past the headroom fails and leaves the packet alone.
	if (bpf_xdp_adjust_head(ctx, -4096) == 0)
		goto out;
	steps++;
out:
	set(9, steps);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
