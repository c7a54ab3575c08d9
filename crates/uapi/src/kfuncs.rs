//! Kernel functions (kfuncs) Waggle knows by name.
//!
//! In Linux a kfunc call (`call` with `src_reg = BPF_PSEUDO_KFUNC_CALL`) names the function
//! by its BTF id in the kernel's BTF, which libbpf fills in from the `__ksym` extern's name.
//! User space has no kernel BTF, so Waggle's loader gives each known kfunc the number of
//! this table instead ([`Kfunc::id`], never 0: a call left at 0 names nothing), and the
//! runtime runs the call as the helper [`Kfunc::helper_id`].

/// One kfunc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kfunc {
    /// The C name (`bpf_dynptr_slice`).
    pub name: &'static str,
    /// Waggle's number for it, in place of a BTF id.
    pub id: u32,
}

/// Helper ids at and above this run kfuncs (`KFUNC_HELPER_BASE + id`): above every kernel
/// helper id, and small, since helper tables are indexed by id.
pub const KFUNC_HELPER_BASE: u32 = 0x100;

impl Kfunc {
    /// The helper id the runtime runs this kfunc as.
    pub const fn helper_id(&self) -> u32 {
        KFUNC_HELPER_BASE + self.id
    }
}

const fn k(id: u32, name: &'static str) -> Kfunc {
    Kfunc { name, id }
}

/// Every known kfunc (`kernel/bpf/helpers.c`, `net/core/filter.c`, `kernel/bpf/bpf_iter.c`).
pub const KFUNCS: &[Kfunc] = &[
    k(1, "bpf_rcu_read_lock"),
    k(2, "bpf_rcu_read_unlock"),
    k(3, "bpf_dynptr_from_xdp"),
    k(4, "bpf_dynptr_from_skb"),
    k(5, "bpf_dynptr_slice"),
    k(6, "bpf_dynptr_slice_rdwr"),
    k(7, "bpf_dynptr_adjust"),
    k(8, "bpf_dynptr_is_null"),
    k(9, "bpf_dynptr_is_rdonly"),
    k(10, "bpf_dynptr_size"),
    k(11, "bpf_dynptr_clone"),
    k(12, "bpf_iter_num_new"),
    k(13, "bpf_iter_num_next"),
    k(14, "bpf_iter_num_destroy"),
];

/// The kfunc called `name`.
pub fn kfunc_by_name(name: &str) -> Option<&'static Kfunc> {
    KFUNCS.iter().find(|k| k.name == name)
}

/// The kfunc numbered `id` ([`Kfunc::id`]).
pub fn kfunc(id: u32) -> Option<&'static Kfunc> {
    KFUNCS.iter().find(|k| k.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_nonzero_and_below_the_helper_table_limit() {
        for (i, a) in KFUNCS.iter().enumerate() {
            assert_ne!(a.id, 0, "{}", a.name);
            assert!(a.helper_id() < 0x200, "{}", a.name);
            assert_eq!(kfunc(a.id), Some(a));
            assert_eq!(kfunc_by_name(a.name), Some(a));
            for b in &KFUNCS[i + 1..] {
                assert_ne!((a.id, a.name), (b.id, b.name));
                assert_ne!(a.id, b.id);
            }
        }
        assert_eq!(kfunc_by_name("bpf_obj_new_impl"), None);
        assert_eq!(kfunc(0), None);
    }
}
