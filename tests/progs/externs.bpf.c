// Externs left for the loader: a kfunc call (__ksym) and a Kconfig variable (__kconfig).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern int LINUX_KERNEL_VERSION __kconfig;

SEC("tp_btf/sched_switch")
int with_externs(void *ctx)
{
	bpf_rcu_read_lock();
	bpf_rcu_read_unlock();
	return LINUX_KERNEL_VERSION > 0x050f00;
}

char LICENSE[] SEC("license") = "GPL";
