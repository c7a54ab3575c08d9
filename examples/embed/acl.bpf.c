// The embedding example's policy: an application hook "connect" whose context is the
// application's `struct conn` (examples/embed/src/main.rs). Denies telnet (port 23) and
// anyone but root on privileged ports; counts requests per uid in `per_uid`.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct conn {
	__u32 uid;
	__u16 port;
	__u16 flags;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} per_uid SEC(".maps");

enum { ALLOW = 0, DENY = 1 };

SEC("waggle/connect")
int check_conn(struct conn *c)
{
	__u32 uid = c->uid;
	__u64 one = 1, *n = bpf_map_lookup_elem(&per_uid, &uid);
	/* Another thread may insert the key between the lookup and the update: then the
	 * update fails with EEXIST and the count goes to the element it inserted. */
	if (!n && bpf_map_update_elem(&per_uid, &uid, &one, BPF_NOEXIST) != 0)
		n = bpf_map_lookup_elem(&per_uid, &uid);
	if (n)
		__sync_fetch_and_add(n, 1);
	if (c->port == 23)
		return DENY;
	if (c->port < 1024 && c->uid != 0)
		return DENY;
	return ALLOW;
}

char LICENSE[] SEC("license") = "GPL";
