// System calls of a command, counted per name, and every file it opens:
//   waggle trace examples/syscalls.bpf.o -- ls /
// `syscalls` counts entries per system call number (waggle prints the names), `failed`
// counts negative returns, and each openat's path goes to the `opens` ring buffer, read
// from the traced process with bpf_probe_read_user_str.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// The records of the raw_syscalls tracepoints (see
// /sys/kernel/tracing/events/raw_syscalls/sys_{enter,exit}/format).
struct sys_enter_args {
	__u64 common;
	long id;
	unsigned long args[6];
};

struct sys_exit_args {
	__u64 common;
	long id;
	long ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u64);
} syscalls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u64);
} failed_syscalls SEC(".maps");

struct event {
	__u32 pid;
	char comm[16];
	char path[96];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} opens SEC(".maps");

// Puts `struct event` in the BTF, for `waggle` to decode the records.
const struct event *unused_event __attribute__((unused));

#define NR_OPENAT 257

static __always_inline void bump(void *map, __u32 id)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(map, &id);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(map, &id, &one, BPF_NOEXIST);
}

SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter(struct sys_enter_args *ctx)
{
	bump(&syscalls, ctx->id);
	if (ctx->id == NR_OPENAT) {
		struct event *e = bpf_ringbuf_reserve(&opens, sizeof(*e), 0);
		if (!e)
			return 0;
		e->pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)ctx->args[1]);
		bpf_ringbuf_submit(e, 0);
	}
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int sys_exit(struct sys_exit_args *ctx)
{
	if (ctx->ret < 0)
		bump(&failed_syscalls, ctx->id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
