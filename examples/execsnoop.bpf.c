// Every new program, from the process connector's exec events:
//   waggle attach examples/execsnoop.bpf.o --exec-events
// Each exec becomes a ring buffer record (pid, comm, filename); `execs_per_comm` counts execs
// per program name and `exits` counts task exits.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// The records of the sched tracepoints (see
// /sys/kernel/tracing/events/sched/sched_process_{exec,exit}/format).
struct exec_args {
	__u64 common;
	__u32 __data_loc_filename; // offset | length << 16
	__s32 pid;
	__s32 old_pid;
};

struct exit_args {
	__u64 common;
	char comm[16];
	__s32 pid;
	__s32 prio;
};

struct event {
	__u32 pid;
	char comm[16];
	char filename[96];
};

const struct event *unused_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} execs SEC(".maps");

struct comm_key {
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct comm_key);
	__type(value, __u64);
} execs_per_comm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} exits SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct exec_args *ctx)
{
	struct event *e = bpf_ringbuf_reserve(&execs, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = ctx->pid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	unsigned off = ctx->__data_loc_filename & 0xffff;
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + off);

	struct comm_key k = {};
	__builtin_memcpy(k.comm, e->comm, sizeof(k.comm));
	__u64 one = 1, *n = bpf_map_lookup_elem(&execs_per_comm, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&execs_per_comm, &k, &one, BPF_NOEXIST);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_exit(struct exit_args *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&exits, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
