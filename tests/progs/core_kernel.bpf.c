// CO-RE against real kernel types: a minimal local `task_struct` whose fields are
// relocated to the running kernel's layout when a vmlinux BTF is given.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
} __attribute__((preserve_access_index));

SEC("kprobe/do_exit")
int parent_tgid(struct task_struct *task)
{
	int pid = BPF_CORE_READ(task, pid);
	int ppid = BPF_CORE_READ(task, real_parent, tgid);

	return pid + ppid;
}

char LICENSE[] SEC("license") = "GPL";
