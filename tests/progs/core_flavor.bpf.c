// CO-RE through a `___flavor` type, the pattern of libbpf-tools' core_fixes.bpf.h: the program
// reads the same kernel struct through its real name and through a flavor that describes an
// older layout. Resolved against the object's own BTF (no kernel BTF given), the flavor must
// not count as a candidate: a kernel's BTF never has flavored names, so libbpf matches
// `task___old` only against `task`.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task {
    long pad;
    int pid;
    unsigned int state;
} __attribute__((preserve_access_index));

// The older layout: `state` is at offset 0 there; the target has it at offset 12.
struct task___old {
    unsigned int state;
} __attribute__((preserve_access_index));

SEC("tracepoint/sched/sched_switch")
int core_flavor(void *ctx)
{
    struct task *t = (void *)bpf_get_current_task();
    struct task___old *o = (void *)t;
    unsigned int state = 0;
    int pid = 0;
    bpf_probe_read_kernel(&pid, sizeof(pid), &t->pid);
    if (bpf_core_field_exists(o->state))
        bpf_probe_read_kernel(&state, sizeof(state), &o->state);
    return pid + state;
}

char LICENSE[] SEC("license") = "GPL";
