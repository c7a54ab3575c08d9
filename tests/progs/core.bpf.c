// CO-RE: reads through a preserve_access_index struct, field existence,
// enum values and type sizes, all relocated by the loader.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

enum core_state {
	CORE_IDLE = 0,
	CORE_BUSY = 7,
};

struct core_inner {
	int a;
	long b;
} __attribute__((preserve_access_index));

struct core_ctx {
	int pad;
	unsigned int len;
	struct core_inner inner;
	struct core_inner *next;
	int arr[4];
} __attribute__((preserve_access_index));

struct core_ctx___old {
	int pad;
	unsigned short legacy_len;
} __attribute__((preserve_access_index));

SEC("tp/syscalls/sys_enter_openat")
int core_prog(struct core_ctx *ctx)
{
	long ret = 0;

	ret += BPF_CORE_READ(ctx, inner.b);
	ret += BPF_CORE_READ(ctx, next, a);
	ret += ctx->len;
	ret += ctx->arr[2];
	if (bpf_core_field_exists(((struct core_ctx___old *)ctx)->legacy_len))
		ret += 1000;
	ret += bpf_core_enum_value(enum core_state, CORE_BUSY);
	ret += bpf_core_type_size(struct core_inner);
	if (bpf_core_type_exists(struct core_inner))
		ret += 1;
	return ret;
}

char LICENSE[] SEC("license") = "GPL";
