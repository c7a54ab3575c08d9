// bpf_timer (Linux 5.15+, helpers 169-172): the verifier checks the timer's place in the
// value (from BTF) and verifies each callback on its own; the runtime runs them.
// - arm_timer/cancel_timer: the plain pattern.
// - arm/stop: a timer in an array value whose callback counts its firings in another map
//   and re-arms itself until it has fired FIRES times, then tries to cancel itself.
// - errors: the helpers' error returns, stored in `results` (compared with Linux's).
// - arm_hash: a timer in a hash element (deleting the element frees it).
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

#define CLOCK_REALTIME 0
#define CLOCK_PROCESS_CPUTIME_ID 2
#define CLOCK_BOOTTIME 7
#define FIRES 5
#define EDEADLK 35

struct telem {
	__u64 pad;
	struct bpf_timer t;
	__u64 armed_at;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct telem);
} ctimers SEC(".maps");

// Timers for the error cases: element 0 initialised, element 1 never (bad clocks).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct telem);
} spare SEC(".maps");

// A hash map with timers: its element goes away with its timer.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct telem);
} htimers SEC(".maps");

// [0] callback runs, [1] the callback's bpf_timer_cancel of its own timer (-EDEADLK).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counter SEC(".maps");

// Return values of the helpers: `errors` fills 0..=18 in order, `stop` 23.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 24);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

static void put(__u32 i, __s64 v)
{
	__s64 *slot = bpf_map_lookup_elem(&results, &i);

	if (slot)
		*slot = v;
}

static int count_and_rearm(void *map, __u32 *key, struct telem *value)
{
	__u32 k = 0, d = 1;
	__u64 *c = bpf_map_lookup_elem(&counter, &k);
	__u64 *dead = bpf_map_lookup_elem(&counter, &d);
	__u64 n;

	if (!c || !dead)
		return 0;
	n = __sync_fetch_and_add(c, 1) + 1;
	if (n < FIRES) {
		bpf_timer_start(&value->t, 1000, 0);
	} else {
		// A callback cannot wait for itself to finish.
		if (bpf_timer_cancel(&value->t) == -EDEADLK)
			*dead = 1;
	}
	return 0;
}

static int never(void *map, __u32 *key, struct telem *value)
{
	return 0;
}

// Arms the counting timer: init, set_callback, start (1 us). Returns 0 if all succeeded.
SEC("xdp")
int arm(struct xdp_md *ctx)
{
	__u32 k = 0;
	struct telem *e = bpf_map_lookup_elem(&ctimers, &k);
	long r1, r2, r3;

	if (!e)
		return XDP_ABORTED;
	r1 = bpf_timer_init(&e->t, &ctimers, CLOCK_MONOTONIC);
	r2 = bpf_timer_set_callback(&e->t, count_and_rearm);
	r3 = bpf_timer_start(&e->t, 1000, 0);
	e->armed_at = 1;
	return (r1 == 0 || r1 == -16) && r2 == 0 && r3 == 0 ? XDP_PASS : XDP_DROP;
}

// Cancels the counting timer: 1 if it was armed, 0 if not.
SEC("xdp")
int stop(struct xdp_md *ctx)
{
	__u32 k = 0;
	struct telem *e = bpf_map_lookup_elem(&ctimers, &k);

	if (!e)
		return XDP_ABORTED;
	put(23, bpf_timer_cancel(&e->t));
	return XDP_PASS;
}

// The helpers' return values in the error cases (deterministic: the timer armed here is
// cancelled before it can fire).
SEC("xdp")
int errors(struct xdp_md *ctx)
{
	__u32 k0 = 0, k1 = 1;
	struct telem *e = bpf_map_lookup_elem(&spare, &k0);
	struct telem *u = bpf_map_lookup_elem(&spare, &k1);

	if (!e || !u)
		return XDP_ABORTED;
	put(0, bpf_timer_init(&e->t, &spare, CLOCK_MONOTONIC));
	put(1, bpf_timer_init(&e->t, &spare, CLOCK_MONOTONIC));	// -EBUSY
	put(2, bpf_timer_start(&e->t, 1000, 0));		// -EINVAL: no callback
	put(3, bpf_timer_cancel(&e->t));			// 0: not armed
	put(4, bpf_timer_init(&u->t, &spare, CLOCK_PROCESS_CPUTIME_ID)); // -EINVAL
	put(5, bpf_timer_init(&u->t, &spare, 16));		// -EINVAL: flags >= MAX_CLOCKS
	put(6, bpf_timer_cancel(&u->t));			// -EINVAL: not initialised
	put(7, bpf_timer_set_callback(&u->t, never));		// -EINVAL: not initialised
	put(8, bpf_timer_set_callback(&e->t, never));		// 0
	put(9, bpf_timer_start(&e->t, 1000, 4));		// -EINVAL: unknown flag
	put(10, bpf_timer_start(&e->t, 3600000000000ULL, 2));	// 0: in an hour, CPU pinned
	put(11, bpf_timer_cancel(&e->t));			// 1: was armed
	put(12, bpf_timer_cancel(&e->t));			// 0
	put(13, bpf_timer_start(&e->t, 1000, 0));		// -EINVAL: cancel dropped the callback
	put(14, bpf_timer_cancel(&e->t));			// 0
	put(16, bpf_timer_set_callback(&e->t, never));		// 0
	put(17, bpf_timer_start(&e->t, 1ULL << 62, 1));		// 0: absolute, far away
	put(18, bpf_timer_cancel(&e->t));			// 1
	return XDP_PASS;
}

// A timer in a hash element, armed for an hour: deleting the element frees it.
SEC("xdp")
int arm_hash(struct xdp_md *ctx)
{
	__u32 k = 7;
	struct telem init = {};
	struct telem *e;

	bpf_map_update_elem(&htimers, &k, &init, BPF_ANY);
	e = bpf_map_lookup_elem(&htimers, &k);
	if (!e)
		return XDP_ABORTED;
	if (bpf_timer_init(&e->t, &htimers, CLOCK_BOOTTIME) ||
	    bpf_timer_set_callback(&e->t, never) ||
	    bpf_timer_start(&e->t, 3600000000000ULL, 0))
		return XDP_DROP;
	return XDP_PASS;
}

