// bpf_timer misuse Linux (6.18) refuses, one mistake per program; crates/verifier/tests/dynptr.rs
// checks our messages against its.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct elem { __u64 fired; struct bpf_timer t; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct elem); } timers SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct elem); } other SEC(".maps");
static int fire1(void *map, __u32 *key, struct elem *val) { return 1; }
SEC("xdp") int ret1(struct xdp_md *ctx) { __u32 key = 0; struct elem *e = bpf_map_lookup_elem(&timers, &key); if (!e) return 0; bpf_timer_init(&e->t, &timers, 1); bpf_timer_set_callback(&e->t, fire1); return 0; }
SEC("xdp") int direct(struct xdp_md *ctx) { __u32 key = 0; struct elem *e = bpf_map_lookup_elem(&timers, &key); if (!e) return 0; return *(volatile __u64 *)&e->t; }
SEC("xdp") int othermap(struct xdp_md *ctx) { __u32 key = 0; struct elem *e = bpf_map_lookup_elem(&timers, &key); if (!e) return 0; bpf_timer_init(&e->t, &other, 1); return 0; }
SEC("kprobe/x") int kp(void *ctx) { __u32 key = 0; struct elem *e = bpf_map_lookup_elem(&timers, &key); if (!e) return 0; bpf_timer_init(&e->t, &timers, 1); return 0; }
