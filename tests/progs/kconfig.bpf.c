// `__kconfig` externs, which libbpf places in a read-only `.kconfig` map (BPF_KSYSCALL reads
// LINUX_HAS_SYSCALL_WRAPPER the same way).
#include <linux/bpf.h>
#include <linux/version.h>
#include <bpf/bpf_helpers.h>

extern int LINUX_KERNEL_VERSION __kconfig;
extern _Bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;

SEC("xdp")
int kconfig_prog(struct xdp_md *ctx)
{
    if (LINUX_KERNEL_VERSION < KERNEL_VERSION(4, 0, 0))
        return XDP_ABORTED;
    return LINUX_HAS_SYSCALL_WRAPPER ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
