// Global variables in .data, .rodata, .bss and a custom .data.* section.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int counter = 7;                       /* .data */
const volatile int limit = 100;        /* .rodata */
const volatile char greeting[8] = "hello"; /* .rodata */
long total;                            /* .bss */
int hits[4];                           /* .bss */
int custom_val SEC(".data.custom") = 42;
static int static_val = 5;             /* .data, static */

SEC("xdp")
int use_globals(struct xdp_md *ctx)
{
	int len = ctx->data_end - ctx->data;

	counter++;
	static_val++;
	total += len;
	hits[len & 3]++;
	custom_val += greeting[1];
	if (len > limit)
		return XDP_DROP;
	return XDP_PASS + static_val - static_val;
}

char LICENSE[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0x050a00;
