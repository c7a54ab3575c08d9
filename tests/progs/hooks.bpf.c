// Programs for the hook tests (crates/runtime/tests/hooks.rs, crates/events tests).
// `counts` slots: 0 deny_root runs, 1 deny_port runs, 2 sum of attach cookies,
// 3 order check (each program shifts in its id), 4..8 XDP verdicts, 9 socket filter runs,
// 10 perf_event runs, 11 last sample_period, 12 sum of (cpu + 1) over perf runs.
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct req {
	__u32 uid;
	__u32 port;
	__u64 seen;
};

static __always_inline void add(__u32 slot, __u64 v)
{
	__u64 *c = bpf_map_lookup_elem(&counts, &slot);
	if (c)
		__sync_fetch_and_add(c, v);
}

static __always_inline void order(__u64 id)
{
	__u32 slot = 3;
	__u64 *c = bpf_map_lookup_elem(&counts, &slot);
	if (c)
		*c = *c * 10 + id;
}

SEC("waggle/acl")
int deny_root(struct req *r)
{
	add(0, 1);
	order(1);
	return r->uid == 0 ? 13 : 0;
}

SEC("waggle/acl")
int deny_port(struct req *r)
{
	add(1, 1);
	order(2);
	return r->port == 23 ? 1 : 0;
}

SEC("perf_event")
int cookie(struct bpf_perf_event_data *ctx)
{
	add(2, bpf_get_attach_cookie(ctx));
	return 0;
}

// An application hook's program answers with its link's cookie (the runtime keeps one per
// link for every hook, so the plain type may call bpf_get_attach_cookie).
SEC("waggle/acl")
int answer_cookie(struct req *r)
{
	return bpf_get_attach_cookie(r);
}

SEC("waggle/acl")
int mark_seen(struct req *r)
{
	r->seen += 1;
	return 0;
}

// The verdict is the first payload byte (after the Ethernet header) modulo 5; passed packets
// lose their last 4 bytes (adjust_tail) and get 2 bytes of metadata (adjust_meta).
SEC("xdp")
int xdp_verdict(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	if ((void *)(p + 15) > end)
		return XDP_ABORTED;
	__u32 v = p[14] % 5;
	add(4 + v, 1);
	if (v == XDP_PASS) {
		if (bpf_xdp_adjust_tail(ctx, -4))
			return XDP_ABORTED;
		if (bpf_xdp_adjust_meta(ctx, -4))
			return XDP_ABORTED;
	}
	if (v == XDP_REDIRECT)
		return bpf_redirect(7, 0);
	return v;
}

// Drops IPv4 UDP datagrams to port 9999 (counted in slot 13), passes the rest.
SEC("xdp")
int xdp_udp9999(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if ((void *)(p + 38) > end)
		return XDP_PASS;
	if (p[12] != 0x08 || p[13] != 0x00 || p[23] != 17 || (p[14] & 0xf) != 5)
		return XDP_PASS;
	if (p[36] != 0x27 || p[37] != 0x0f)
		return XDP_PASS;
	add(13, 1);
	return XDP_DROP;
}

// Keeps the first 20 bytes of every packet.
SEC("socket")
int keep20(struct __sk_buff *skb)
{
	add(9, 1);
	return 20;
}

SEC("perf_event")
int tick(struct bpf_perf_event_data *ctx)
{
	__u32 slot = 11;
	/* Helpers take stack or map memory, not the context (as in Linux): copy it first. */
	__u64 period = ctx->sample_period;
	add(10, 1);
	bpf_map_update_elem(&counts, &slot, &period, BPF_ANY);
	add(12, bpf_get_smp_processor_id() + 1);
	return 0;
}

struct event {
	__u32 cpu;
	__u64 period;
	char tag[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

// Puts `struct event` in the BTF (locals' types are not), for decoding records.
const struct event *unused_event __attribute__((unused));

// One ring buffer record per firing (decoded by `waggle attach` through BTF).
SEC("perf_event")
int tick_event(struct bpf_perf_event_data *ctx)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->cpu = bpf_get_smp_processor_id();
	e->period = ctx->sample_period;
	__builtin_memcpy(e->tag, "tick", 5);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
