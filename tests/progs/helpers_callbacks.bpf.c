// Callbacks (bpf_loop, bpf_for_each_map_elem), a spin lock, a ring buffer and tail calls:
// the helpers that need the runtime's run state, as clang emits them (BPF_PSEUDO_FUNC).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counter {
	struct bpf_spin_lock lock;
	__u32 hits;
	__u64 sum;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counter);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

int tail_target(void *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} jumps SEC(".maps") = {
	.values = {
		[1] = (void *)&tail_target,
	},
};

struct loop_ctx {
	__u64 sum;
	__u32 stop_at;
};

static long add_index(__u64 index, void *data)
{
	struct loop_ctx *c = data;

	c->sum += index;
	return index == c->stop_at ? 1 : 0;
}

static long add_value(void *map, __u32 *key, __u64 *value, void *data)
{
	__u64 *total = data;

	*total += *value;
	*value += 1;
	return 0;
}

struct event {
	__u64 loop_sum;
	__u64 map_sum;
	__u32 loops;
	__u32 elems;
};

// r0 = iterations of bpf_loop; the counter, the values and an event record the rest. A tc
// program: Linux refuses maps holding a spin lock in socket filters and tracing programs.
SEC("tc")
int callbacks(struct __sk_buff *skb)
{
	struct loop_ctx c = { .sum = 0, .stop_at = 6 };
	__u64 total = 0;
	__u32 zero = 0;
	struct counter *cnt;
	struct event *e;
	long loops, elems;

	loops = bpf_loop(10, add_index, &c, 0);
	elems = bpf_for_each_map_elem(&values, add_value, &total, 0);

	cnt = bpf_map_lookup_elem(&counters, &zero);
	if (cnt) {
		bpf_spin_lock(&cnt->lock);
		cnt->hits++;
		cnt->sum += c.sum;
		bpf_spin_unlock(&cnt->lock);
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->loop_sum = c.sum;
		e->map_sum = total;
		e->loops = loops;
		e->elems = elems;
		bpf_ringbuf_submit(e, 0);
	}
	return loops;
}

SEC("socket")
int tail_target(void *ctx)
{
	return 42;
}

SEC("socket")
int tail_entry(void *ctx)
{
	bpf_tail_call(ctx, &jumps, 1);
	return 7;
}

char LICENSE[] SEC("license") = "GPL";
