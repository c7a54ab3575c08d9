// Two programs in one section (and a third in another).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	if (ctx->data_end - ctx->data > 1000)
		return XDP_PASS;
	return XDP_DROP;
}

SEC("kprobe/do_sys_open")
int trace_open(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
