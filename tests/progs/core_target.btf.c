// Not a program: a stand-in "kernel" whose BTF is the CO-RE target for core.bpf.c.
// scripts/build-progs.sh extracts its .BTF section as raw BTF into core_target.btf,
// the format of /sys/kernel/btf/vmlinux. Layouts differ from core.bpf.c on purpose.
enum core_state {
	CORE_IDLE = 0,
	CORE_BUSY = 9,
};

struct core_inner {
	long b;
	int a;
};

struct core_ctx {
	unsigned long long len;
	int pad;
	int arr[4];
	struct core_inner *next;
	struct core_inner inner;
	unsigned short legacy_len;
};

struct core_ctx ctx_instance;
enum core_state state_instance;
