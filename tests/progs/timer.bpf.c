// A bpf_timer in a map value (Linux 5.15+): the verifier checks the timer's place in the
// value (from BTF) and verifies the callback on its own. Linux accepts both programs; Waggle
// verifies them (its runtime does not run timers yet, so loading them is refused).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct elem {
	__u64 fired;
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct elem);
} timers SEC(".maps");

#define CLOCK_MONOTONIC 1

static int fire(void *map, __u32 *key, struct elem *val)
{
	val->fired++;
	return 0;
}

SEC("xdp")
int arm_timer(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct elem *e = bpf_map_lookup_elem(&timers, &key);

	if (!e)
		return XDP_PASS;
	bpf_timer_init(&e->t, &timers, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&e->t, fire);
	bpf_timer_start(&e->t, 1000000, 0);
	return XDP_PASS;
}

SEC("xdp")
int cancel_timer(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct elem *e = bpf_map_lookup_elem(&timers, &key);

	if (e)
		bpf_timer_cancel(&e->t);
	return XDP_PASS;
}
