// BTF-typed kernel pointers (PTR_TO_BTF_ID): tracing arguments, iterator context fields and
// bpf_get_current_task_btf(), read field by field. Built against the running kernel's
// vmlinux.h (scripts/build-progs.sh generates it with bpftool; it is not committed).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_switch")
int BPF_PROG(switch_pids, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	/* Arguments and the pointers read from their fields need no NULL check. */
	return (prev->pid + next->real_parent->tgid) & 1;
}

SEC("iter/task")
int iter_tgid(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;
	return task->tgid == ctx->meta->seq_num ? 1 : 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int current_btf(void *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();

	return t->tgid & 1;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(refused_write, bool preempt, struct task_struct *prev)
{
	/* Kernel objects are read-only. */
	prev->prio = 1;
	return 0;
}

SEC("iter/task")
int refused_unchecked(struct bpf_iter__task *ctx)
{
	/* task is NULL after the last one: a check is required. */
	return ctx->task->tgid & 1;
}
