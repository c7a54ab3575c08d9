// Dynptr and numeric iterator misuse: every program but local_overwrite_ok is refused by
// Linux (6.18), each for one mistake; crates/verifier/tests/dynptr.rs checks our messages.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct bpf_iter_num { __u64 __opaque[1]; } __attribute__((aligned(8)));
extern int bpf_dynptr_from_xdp(struct xdp_md *x, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern int bpf_dynptr_from_skb(struct __sk_buff *x, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt, __u32 buffer__szk) __ksym;
extern void *bpf_dynptr_slice_rdwr(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt, __u32 buffer__szk) __ksym;
extern __u32 bpf_dynptr_size(const struct bpf_dynptr *p) __ksym;
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64[4]); } scratch SEC(".maps");

SEC("xdp") int uninit_size(struct xdp_md *ctx) { struct bpf_dynptr d; return bpf_dynptr_size(&d); }
SEC("xdp") int slice_null_deref(struct xdp_md *ctx) { struct bpf_dynptr d; bpf_dynptr_from_xdp(ctx, 0, &d); unsigned char *p = bpf_dynptr_slice(&d, 0, NULL, 4); return p[0]; }
SEC("xdp") int slice_oob(struct xdp_md *ctx) { struct bpf_dynptr d; bpf_dynptr_from_xdp(ctx, 0, &d); unsigned char *p = bpf_dynptr_slice(&d, 0, NULL, 4); if (!p) return 0; return p[4]; }
SEC("xdp") int slice_ro_write(struct xdp_md *ctx) { struct bpf_dynptr d; bpf_dynptr_from_xdp(ctx, 0, &d); unsigned char *p = bpf_dynptr_slice(&d, 0, NULL, 4); if (!p) return 0; p[0] = 1; return 0; }
SEC("tc") int skb_from_xdp(struct __sk_buff *ctx) { struct bpf_dynptr d; bpf_dynptr_from_xdp((void *)ctx, 0, &d); return 0; }
SEC("xdp") int ringbuf_leak(struct xdp_md *ctx) { struct bpf_dynptr d; bpf_ringbuf_reserve_dynptr(&events, 8, 0, &d); return 0; }
SEC("xdp") int ringbuf_overwrite(struct xdp_md *ctx) { struct bpf_dynptr d; bpf_ringbuf_reserve_dynptr(&events, 8, 0, &d); *(volatile __u64 *)&d = 0; bpf_ringbuf_discard_dynptr(&d, 0); return 0; }
SEC("xdp") int ringbuf_reinit(struct xdp_md *ctx) { struct bpf_dynptr d; bpf_ringbuf_reserve_dynptr(&events, 8, 0, &d); bpf_dynptr_from_xdp(ctx, 0, &d); bpf_ringbuf_discard_dynptr(&d, 0); return 0; }
SEC("xdp") int submit_xdp(struct xdp_md *ctx) { struct bpf_dynptr d; bpf_dynptr_from_xdp(ctx, 0, &d); bpf_ringbuf_submit_dynptr(&d, 0); return 0; }
SEC("xdp") int read_slot(struct xdp_md *ctx) { struct bpf_dynptr d; bpf_dynptr_from_xdp(ctx, 0, &d); return *(volatile __u32 *)&d; }
SEC("xdp") int data_after_submit(struct xdp_md *ctx) { struct bpf_dynptr d; __u32 *p; bpf_ringbuf_reserve_dynptr(&events, 8, 0, &d); p = bpf_dynptr_data(&d, 0, 4); if (!p) { bpf_ringbuf_discard_dynptr(&d, 0); return 0; } bpf_ringbuf_submit_dynptr(&d, 0); return *p; }
SEC("xdp") int data_oob(struct xdp_md *ctx) { struct bpf_dynptr d; __u32 *p; bpf_ringbuf_reserve_dynptr(&events, 8, 0, &d); p = bpf_dynptr_data(&d, 0, 4); if (p) p[1] = 0; bpf_ringbuf_discard_dynptr(&d, 0); return 0; }
SEC("xdp") int local_overwrite_ok(struct xdp_md *ctx) { struct bpf_dynptr d; __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&scratch, &k); if (!v) return 0; bpf_dynptr_from_mem(v, 32, 0, &d); *(volatile __u64 *)&d = 0; return 0; }
SEC("xdp") int local_use_after_overwrite(struct xdp_md *ctx) { struct bpf_dynptr d; __u32 k = 0; __u64 x; __u64 *v = bpf_map_lookup_elem(&scratch, &k); if (!v) return 0; bpf_dynptr_from_mem(v, 32, 0, &d); *(volatile __u64 *)&d = 0; return bpf_dynptr_read(&x, 8, &d, 0, 0); }
SEC("xdp") int iter_leak(struct xdp_md *ctx) { struct bpf_iter_num it; bpf_iter_num_new(&it, 0, 3); return 0; }
SEC("xdp") int iter_next_uninit(struct xdp_md *ctx) { struct bpf_iter_num it; bpf_iter_num_next(&it); return 0; }
SEC("xdp") int iter_double_new(struct xdp_md *ctx) { struct bpf_iter_num it; bpf_iter_num_new(&it, 0, 3); bpf_iter_num_new(&it, 0, 3); bpf_iter_num_destroy(&it); return 0; }
SEC("xdp") int iter_write_val(struct xdp_md *ctx) { struct bpf_iter_num it; int *v; bpf_iter_num_new(&it, 0, 3); v = bpf_iter_num_next(&it); if (v) *v = 1; bpf_iter_num_destroy(&it); return 0; }
SEC("xdp") int iter_overwrite(struct xdp_md *ctx) { struct bpf_iter_num it; bpf_iter_num_new(&it, 0, 3); *(volatile __u64 *)&it = 0; bpf_iter_num_destroy(&it); return 0; }
SEC("socket") int rdwr_socket(struct __sk_buff *ctx) { struct bpf_dynptr d; bpf_dynptr_from_skb(ctx, 0, &d); void *p = bpf_dynptr_slice_rdwr(&d, 0, NULL, 4); return p != 0; }
