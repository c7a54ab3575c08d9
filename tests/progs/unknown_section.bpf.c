// A program in a section no loader convention knows, and one in a tracepoint
// section with an attach target.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("my_custom_section")
int custom(void *ctx)
{
	return 42;
}

SEC("tracepoint/sched/sched_switch")
int on_switch(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
