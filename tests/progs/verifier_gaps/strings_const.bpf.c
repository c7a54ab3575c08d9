// The string helpers that take a constant string (ARG_PTR_TO_CONST_STR: a read-only map
// value, here .rodata): bpf_strncmp and bpf_snprintf, on the first 16 bytes of the packet.
// crates/runtime/tests/helper_families.rs runs it (this folder: see README.md).
// results: 0 strncmp with "hello", 1 strncmp with "help!", 2 snprintf's return; text[0]: what
// snprintf wrote.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

struct line {
	char s[48];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct line);
} text SEC(".maps");

static __always_inline void set(__u32 slot, __s64 v)
{
	__s64 *r = bpf_map_lookup_elem(&results, &slot);
	if (r)
		*r = v;
}

static const char hello[] = "hello";
static const char help[] = "help!";

SEC("xdp")
int strings_const(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	char buf[16];
	if (data + 16 > end)
		return XDP_ABORTED;
	__builtin_memcpy(buf, data, 16);
	set(0, bpf_strncmp(buf, 5, hello));
	set(1, bpf_strncmp(buf, 5, help));

	__u32 zero = 0;
	struct line *t = bpf_map_lookup_elem(&text, &zero);
	if (!t)
		return XDP_ABORTED;
	// Built from the packet at run time: a constant array would go to .rodata with a data
	// relocation for the string pointer, which BPF loaders do not apply.
	__u64 args[3];
	args[0] = 1234 + buf[0] - 'h';
	args[1] = 0xff12 + buf[1] - 'e';
	args[2] = (__u64)(long)hello;
	set(2, bpf_snprintf(t->s, sizeof(t->s), "n=%d x=%x s=%s", args, sizeof(args)));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
