//! The table of verifier cases, shared by `cases.rs` (our verdicts and messages) and
//! `kernel_diff.rs` (the kernel's verdicts).

#![allow(dead_code)]

use waggle_uapi::MapType;
use waggle_verifier::{InnerMap, MapDesc};

pub type Expect = Option<&'static str>;
pub const OK: Expect = None;

pub struct Case {
    pub name: &'static str,
    pub prog_type: &'static str,
    pub unpriv: bool,
    pub asm: &'static str,
    pub expect: Expect,
}

const fn c(name: &'static str, prog_type: &'static str, asm: &'static str, expect: Expect) -> Case {
    Case {
        name,
        prog_type,
        unpriv: false,
        asm,
        expect,
    }
}

const fn u(name: &'static str, prog_type: &'static str, asm: &'static str, expect: Expect) -> Case {
    Case {
        name,
        prog_type,
        unpriv: true,
        asm,
        expect,
    }
}

const fn e(m: &'static str) -> Expect {
    Some(m)
}

pub fn maps() -> Vec<MapDesc> {
    let m = MapDesc::new;
    vec![
        m(MapType::Hash, 4, 8, 16, 0),          // 0
        m(MapType::Array, 4, 16, 4, 0),         // 1
        m(MapType::Ringbuf, 0, 0, 4096, 0),     // 2
        m(MapType::Array, 4, 16, 1, 0),         // 3: global data
        m(MapType::ProgArray, 4, 4, 4, 0),      // 4
        m(MapType::PerfEventArray, 4, 4, 4, 0), // 5
        m(MapType::Queue, 0, 8, 16, 0),         // 6
        m(MapType::Array, 4, 8, 4, 1 << 7),     // 7: read-only for programs
        MapDesc {
            spin_lock_off: Some(0),
            ..m(MapType::Array, 4, 16, 4, 0)
        }, // 8: value { struct bpf_spin_lock; u32; u64 }
        MapDesc {
            inner: Some(InnerMap {
                map_type: MapType::Hash,
                key_size: 4,
                value_size: 8,
                max_entries: 16,
                flags: 0,
            }),
            ..m(MapType::ArrayOfMaps, 4, 4, 4, 0)
        }, // 9: array of hash maps 4 -> 8
        m(MapType::ArrayOfMaps, 4, 4, 4, 0),    // 10: no inner map description
        m(MapType::Array, 4, 16, 1, 1 << 7),    // 11: .rodata (frozen, read-only)
        m(MapType::DevmapHash, 4, 8, 4, 0),     // 12: struct bpf_devmap_val by ifindex
        MapDesc {
            timer_off: Some(8),
            ..m(MapType::Array, 4, 24, 4, 0)
        }, // 13: value { u64; struct bpf_timer }
    ]
}

// Common prologues.
/// r2 = &key (fp-4, initialised to 0); r1 = map 0 (hash 4 -> 8).
macro_rules! lookup0 {
    () => {
        "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 0; call 1"
    };
}
/// Same with map 1 (array 4 -> 16).
macro_rules! lookup1 {
    () => {
        "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1"
    };
}
/// XDP: r2 = data, r3 = data_end.
macro_rules! xdp_pkt {
    () => {
        "ldxw %r2, [%r1]; ldxw %r3, [%r1+4]"
    };
}

/// XDP: r2 = an unknown u32 (ingress_ifindex), then `$ops`, then r2 indexes a 16-byte map value.
macro_rules! idx {
    ($ops:literal) => {
        concat!(
            "mov %r7, %r1; ",
            lookup1!(),
            "; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; ldxw %r2, [%r7+12]; ",
            $ops,
            "; add %r6, %r2; ldxb %r0, [%r6]; mov %r0, 0; exit"
        )
    };
}

/// r6 = value of map 8 (lock at 0), not locked.
macro_rules! lookup8_nolock {
    () => {
        "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 8; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0"
    };
}
/// r6 = value of map 8, its lock taken.
macro_rules! lookup8 {
    () => {
        concat!(lookup8_nolock!(), "; mov %r1, %r6; call 93")
    };
}

macro_rules! cat {
    ($($s:expr),* $(,)?) => { concat!($($s, "; "),*) };
}

#[rustfmt::skip]
pub const CASES: &[Case] = &[
    // ---- registers ----
    c("mov0_exit", "unspec", "mov %r0, 0; exit", OK),
    // Plain programs (application hooks): scalar context bytes at aligned constant offsets.
    c("plain_ctx_read", "unspec", "ldxw %r0, [%r1+4]; exit", OK),
    c("plain_ctx_write", "unspec", "stdw [%r1+8], 1; mov %r0, 0; exit", OK),
    c("plain_ctx_negative", "unspec", "ldxw %r0, [%r1-4]; exit", e("invalid bpf_context access off=-4")),
    c("plain_ctx_misaligned", "unspec", "ldxw %r0, [%r1+2]; exit", e("invalid bpf_context access off=2")),
    c("plain_ctx_too_far", "unspec", "ldxb %r0, [%r1+4096]; exit", e("invalid bpf_context access off=4096")),
    c("exit_without_r0", "unspec", "exit", e("R0 !read_ok")),
    c("read_uninit_r2", "unspec", "mov %r0, %r2; exit", e("R2 !read_ok")),
    c("add_uninit_src", "unspec", "mov %r0, 1; add %r0, %r3; exit", e("R3 !read_ok")),
    c("add_uninit_dst", "unspec", "add %r4, 1; mov %r0, 0; exit", e("R4 !read_ok")),
    c("r1_is_ctx", "unspec", "mov %r0, %r1; exit", OK),
    c("r10_readable", "unspec", "mov %r0, %r10; exit", OK),
    c("r10_write_refused", "unspec", "mov %r10, 1; mov %r0, 0; exit", e("r10")),
    c("r0_set_on_one_path_only", "xdp", "ldxw %r2, [%r1+12]; jeq %r2, 0, +1; mov %r0, 1; exit", e("!read_ok")),
    c("r0_set_on_both_paths", "xdp", "ldxw %r2, [%r1+16]; mov %r0, 2; jeq %r2, 0, +1; mov %r0, 1; exit", OK),
    c("r1_clobbered_by_call", "xdp", "call 5; mov %r0, %r1; exit", e("R1 !read_ok")),
    c("r5_clobbered_by_call", "xdp", "mov %r5, 1; call 5; mov %r0, %r5; exit", e("R5 !read_ok")),
    c("r6_kept_over_call", "xdp", "mov %r6, 1; call 5; mov %r0, %r6; exit", OK),
    c("r0_set_by_call", "xdp", "call 5; exit", OK),
    c("lddw_imm", "unspec", "lddw %r0, 0x1122334455667788; exit", OK),
    // ---- scalar arithmetic ----
    c("alu_all_ops", "unspec", "mov %r0, 7; add %r0, 3; sub %r0, 1; mul %r0, 3; div %r0, 2; mod %r0, 5; or %r0, 8; and %r0, 12; xor %r0, 1; lsh %r0, 2; rsh %r0, 1; arsh %r0, 1; neg %r0; exit", OK),
    c("alu32_all_ops", "unspec", "mov32 %r0, 7; add32 %r0, 3; sub32 %r0, 1; mul32 %r0, 3; div32 %r0, 2; mod32 %r0, 5; or32 %r0, 8; and32 %r0, 12; xor32 %r0, 1; lsh32 %r0, 2; rsh32 %r0, 1; arsh32 %r0, 1; neg32 %r0; exit", OK),
    c("div_by_imm_zero_refused", "unspec", "mov %r0, 1; div %r0, 0; exit", e("div by zero")),
    c("mod32_by_imm_zero_refused", "unspec", "mov %r0, 1; mod32 %r0, 0; exit", e("div by zero")),
    c("div_by_zero_is_defined", "unspec", "mov %r0, 1; mov %r1, 0; div %r0, %r1; exit", OK),
    c("shift_imm_too_large", "unspec", "mov %r0, 1; lsh %r0, 64; exit", e("invalid shift 64")),
    c("shift32_imm_too_large", "unspec", "mov %r0, 1; rsh32 %r0, 32; exit", e("invalid shift 32")),
    c("shift_negative_imm", "unspec", "mov %r0, 1; arsh %r0, -1; exit", e("invalid shift")),
    c("shift_by_reg_ok", "unspec", "mov %r0, 1; mov %r2, 70; lsh %r0, %r2; exit", OK),
    c("endian_ops", "unspec", "mov %r0, 0x1234; be16 %r0; le32 %r0; bswap64 %r0; exit", OK),
    c("movsx_ops", "unspec", "mov %r2, 0xff; movsx864 %r0, %r2; movsx1632 %r0, %r2; movsx3264 %r0, %r0; exit", OK),
    c("sdiv_smod", "unspec", "mov %r0, -7; sdiv %r0, 2; smod %r0, 3; exit", OK),
    // const tracking proven through memory bounds below
    c("const_tracking_add", "unspec", cat!(lookup1!(), "jeq %r0, 0, +4", "mov %r1, 4", "add %r1, 4", "add %r0, %r1", "ldxdw %r0, [%r0]", "mov %r0, 0", "exit"), OK),
    // ---- more corners ----
    c("callee_stack_ptr_into_caller_stack", "unspec", "mov %r1, %r10; add %r1, -8; call local f; mov %r0, 0; exit; f: mov %r2, %r10; add %r2, -8; stxdw [%r1], %r2; mov %r0, 0; exit", e("callee's stack in a caller's stack")),
    c("caller_stack_ptr_into_callee_stack", "unspec", "mov %r1, %r10; add %r1, -8; call local f; mov %r0, 0; exit; f: stxdw [%r10-8], %r1; mov %r0, 0; exit", OK),
    c("global_data_on_multi_entry_array", "unspec", "lddw map_idx_value %r1, 1; mov %r0, 0; exit", e("direct value access")),
    c("cgroup_ret_pointer", "cgroup_sock", "mov %r0, %r10; exit", e("R0 is a pointer")),
    c("jset_same_reg_const_dead_branch", "unspec", "mov %r2, 1; jset %r2, %r2, +2; ldxdw %r0, [%r2]; exit; mov %r0, 0; exit", OK),
    c("jset_same_reg_zero_live_branch", "unspec", "mov %r2, 0; jset %r2, %r2, +2; ldxdw %r0, [%r2]; exit; mov %r0, 0; exit", e("invalid mem access 'scalar'")),
    c("jset32_dead_branch", "unspec", "lddw %r2, 0x100000000; jset32 %r2, -1, +2; mov %r0, 0; exit; ldxdw %r0, [%r2]; exit", OK),
    c("jset64_live_branch", "unspec", "lddw %r2, 0x100000000; jset %r2, -1, +2; mov %r0, 0; exit; ldxdw %r0, [%r2]; exit", e("invalid mem access 'scalar'")),
    c("map_value_as_helper_buffer", "kprobe", cat!(lookup1!(), "jeq %r0, 0, +4", "mov %r1, %r0", "mov %r2, 16", "mov %r3, 0", "call 4", "mov %r0, 0", "exit"), OK),
    c("map_value_as_helper_buffer_too_small", "kprobe", cat!(lookup1!(), "jeq %r0, 0, +4", "mov %r1, %r0", "mov %r2, 17", "mov %r3, 0", "call 4", "mov %r0, 0", "exit"), e("invalid access to map value")),
    c("helper_null_buffer_zero_size", "kprobe", "mov %r1, 0; mov %r2, 0; mov %r3, 0; call 4; mov %r0, 0; exit", e("expected=fp")),
    c("update_elem_key_from_packet", "xdp", cat!(xdp_pkt!(), "mov %r4, %r2", "add %r4, 4", "jgt %r4, %r3, +7", "stdw [%r10-16], 0", "mov %r3, %r10", "add %r3, -16", "mov %r4, 0", "lddw map_idx %r1, 0", "call 2", "mov %r0, 2", "exit"), OK),
    c("spilled_null_ptr_checked_through_reg", "xdp", cat!(lookup0!(), "stxdw [%r10-16], %r0", "jeq %r0, 0, +2", "ldxdw %r1, [%r10-16]", "ldxdw %r0, [%r1]", "mov %r0, 0", "exit"), OK),
    // An array lookup with a constant key below max_entries needs no NULL check (Linux
    // 6.14+, get_constant_map_key): zero bytes or a spill of exactly the key's size.
    c("array_lookup_const_key_unchecked", "xdp", cat!(lookup1!(), "ldxdw %r1, [%r0]", "mov %r0, 0", "exit"), OK),
    // Needs CAP_BPF: refused here (no capability), accepted by Linux and by us for the
    // CAP_BPF-only loader the kernel diff compares with.
    u("array_lookup_const_key_needs_cap_bpf", "socket_filter", cat!(lookup1!(), "ldxdw %r1, [%r0]", "mov %r0, 0", "exit"), e("R0 may be NULL")),
    c("array_lookup_spilled_key_in_range", "xdp", "stw [%r10-8], 3; mov %r2, %r10; add %r2, -8; lddw map_idx %r1, 1; call 1; ldxdw %r1, [%r0]; mov %r0, 0; exit", OK),
    c("array_lookup_spilled_key_out_of_range", "xdp", "stw [%r10-8], 4; mov %r2, %r10; add %r2, -8; lddw map_idx %r1, 1; call 1; ldxdw %r1, [%r0]; mov %r0, 0; exit", e("R0 may be NULL")),
    c("array_lookup_spilled_key_negative", "xdp", "stw [%r10-8], -1; mov %r2, %r10; add %r2, -8; lddw map_idx %r1, 1; call 1; ldxdw %r1, [%r0]; mov %r0, 0; exit", e("R0 may be NULL")),
    c("array_lookup_reg_spilled_key", "xdp", "mov %r1, 2; stxw [%r10-8], %r1; mov %r2, %r10; add %r2, -8; lddw map_idx %r1, 1; call 1; ldxdw %r1, [%r0]; mov %r0, 0; exit", OK),
    c("array_lookup_zero_reg_key", "xdp", "mov %r1, 0; stxw [%r10-4], %r1; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; ldxdw %r1, [%r0]; mov %r0, 0; exit", OK),
    c("array_lookup_unaligned_const_key", "xdp", "stw [%r10-4], 1; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; ldxdw %r1, [%r0]; mov %r0, 0; exit", e("R0 may be NULL")),
    c("array_lookup_key_partly_zero", "xdp", "stw [%r10-4], 7; sth [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; ldxdw %r1, [%r0]; mov %r0, 0; exit", e("R0 may be NULL")),
    c("array_lookup_key_8_byte_spill", "xdp", "stdw [%r10-8], 0; mov %r2, %r10; add %r2, -8; lddw map_idx %r1, 1; call 1; ldxdw %r1, [%r0]; mov %r0, 0; exit", e("R0 may be NULL")),
    c("array_lookup_key_high_half_of_spill", "xdp", "stdw [%r10-8], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; ldxdw %r1, [%r0]; mov %r0, 0; exit", OK),
    c("array_lookup_key_var_offset", "xdp", "stdw [%r10-8], 0; ldxw %r3, [%r1+12]; and %r3, 4; mov %r2, %r10; add %r2, -8; add %r2, %r3; lddw map_idx %r1, 1; call 1; ldxdw %r1, [%r0]; mov %r0, 0; exit", e("R0 may be NULL")),
    c("array_lookup_key_helper_written", "kprobe", "stw [%r10-4], 0; mov %r1, %r10; add %r1, -4; mov %r2, 4; mov %r3, 0; call 4; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; ldxdw %r1, [%r0]; mov %r0, 0; exit", e("R0 may be NULL")),
    c("hash_lookup_const_key_unchecked", "xdp", cat!(lookup0!(), "ldxdw %r1, [%r0]", "mov %r0, 0", "exit"), e("R0 may be NULL")),
    c("array_lookup_const_key_prunes_apart", "xdp", "ldxw %r3, [%r1+12]; stw [%r10-4], 0; jeq %r3, 0, +1; stw [%r10-4], 9; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; ldxdw %r1, [%r0]; mov %r0, 0; exit", e("R0 may be NULL")),
    // Narrow fills give back narrow constant spills and zero bytes.
    c("fill_narrow_const_spill", "socket_filter", "stw [%r10-8], 5; ldxw %r1, [%r10-8]; jeq %r1, 5, +1; ldxdw %r0, [%r9]; mov %r0, 0; exit", OK),
    c("fill_zero_bytes", "socket_filter", "sth [%r10-2], 0; ldxh %r1, [%r10-2]; jeq %r1, 0, +1; ldxdw %r0, [%r9]; mov %r0, 0; exit", OK),
    c("fill_partly_zero_bytes", "socket_filter", "stw [%r10-4], 7; sth [%r10-4], 0; ldxw %r1, [%r10-4]; jeq %r1, 0, +1; ldxdw %r0, [%r9]; mov %r0, 0; exit", e("R9 !read_ok")),
    c("fill_byte_of_const_spill", "socket_filter", "stdw [%r10-8], 0x100; ldxb %r1, [%r10-8]; jeq %r1, 0, +1; ldxdw %r0, [%r9]; mov %r0, 0; exit", OK),
    c("fill_upper_bytes_of_spill", "socket_filter", "stdw [%r10-8], 0; ldxw %r1, [%r10-4]; jeq %r1, 0, +1; ldxdw %r0, [%r9]; mov %r0, 0; exit", OK),
    c("fill_upper_bytes_of_nonzero_spill", "socket_filter", "stdw [%r10-8], 1; ldxw %r1, [%r10-4]; jeq %r1, 0, +1; ldxdw %r0, [%r9]; mov %r0, 0; exit", e("R9 !read_ok")),
    u("fill_narrow_spill_unpriv", "socket_filter", "stw [%r10-8], 5; ldxw %r1, [%r10-8]; jeq %r1, 5, +1; ldxdw %r0, [%r9]; mov %r0, 0; exit", e("R9 !read_ok")),
    c("spilled_null_ptr_unchecked", "xdp", cat!(lookup0!(), "stxdw [%r10-16], %r0", "ldxdw %r1, [%r10-16]", "ldxdw %r0, [%r1]", "mov %r0, 0", "exit"), e("R1 may be NULL")),
    c("two_lookups_distinct_ids", "xdp", cat!(lookup0!(), "mov %r6, %r0", "stw [%r10-4], 0", "mov %r2, %r10", "add %r2, -4", "lddw map_idx %r1, 0", "call 1", "jeq %r0, 0, +2", "ldxdw %r1, [%r6]", "mov %r0, 0", "mov %r0, 0", "exit"), e("R6 may be NULL")),
    // ---- scalar bounds through every ALU op and comparison, proved by a map access ----
    c("idx_unbounded", "xdp", idx!("mov %r3, 0"), e("map_value")),
    c("idx_and15", "xdp", idx!("and %r2, 15"), OK),
    c("idx_and16", "xdp", idx!("and %r2, 16"), e("invalid access to map value")),
    c("idx_and7_add8", "xdp", idx!("and %r2, 7; add %r2, 8"), OK),
    c("idx_and7_add9", "xdp", idx!("and %r2, 7; add %r2, 9"), e("invalid access to map value")),
    c("idx_mul5", "xdp", idx!("and %r2, 3; mul %r2, 5"), OK),
    c("idx_mul6", "xdp", idx!("and %r2, 3; mul %r2, 6"), e("invalid access to map value")),
    c("idx_rsh28", "xdp", idx!("rsh %r2, 28"), OK),
    c("idx_rsh27", "xdp", idx!("rsh %r2, 27"), e("invalid access to map value")),
    c("idx_lsh_rsh", "xdp", idx!("lsh %r2, 60; rsh %r2, 60"), OK),
    c("idx_mod16", "xdp", idx!("mod %r2, 16"), e("unbounded min value")),
    c("idx_mod17", "xdp", idx!("mod %r2, 17"), e("unbounded min value")),
    c("idx_div", "xdp", idx!("div %r2, 0x10000000"), e("unbounded min value")),
    c("idx_div_small", "xdp", idx!("div %r2, 0x1000000"), e("unbounded min value")),
    c("idx_mod_then_and", "xdp", idx!("mod %r2, 16; and %r2, 15"), OK),
    c("idx_and_rsh", "xdp", idx!("and %r2, 0xf0; rsh %r2, 4"), OK),
    c("idx_or_and", "xdp", idx!("or %r2, 0xf; and %r2, 0xf"), OK),
    c("idx_xor_and", "xdp", idx!("xor %r2, 0xff; and %r2, 15"), OK),
    c("idx_and_xor16", "xdp", idx!("and %r2, 15; xor %r2, 16"), e("invalid access to map value")),
    c("idx_neg", "xdp", idx!("and %r2, 15; neg %r2"), e("min value is negative")),
    c("idx_sub_may_underflow", "xdp", idx!("and %r2, 15; sub %r2, 1"), e("min value is negative")),
    c("idx_arsh", "xdp", idx!("and %r2, 15; arsh %r2, 1"), OK),
    c("idx_arsh_negative", "xdp", idx!("lsh %r2, 32; arsh %r2, 60"), e("min value is negative")),
    c("idx_and32", "xdp", idx!("mov32 %r2, %r2; and32 %r2, 15"), OK),
    c("idx_alu32_zero_extends", "xdp", idx!("lddw %r3, 0x100000000; or %r2, %r3; and32 %r2, 15"), OK),
    c("idx_or_high_bit", "xdp", idx!("lddw %r3, 0x100000000; and %r2, 15; or %r2, %r3"), e("unbounded max value")),
    c("idx_add32_wraps", "xdp", idx!("and %r2, 15; add32 %r2, -1"), e("unbounded max value")),
    c("idx_movsx_and", "xdp", idx!("movsx864 %r2, %r2; and %r2, 15"), OK),
    c("idx_movsx_negative", "xdp", idx!("and %r2, 0xff; movsx864 %r2, %r2"), e("min value is negative")),
    c("idx_be16", "xdp", idx!("and %r2, 0xff; be16 %r2"), e("invalid access to map value")),
    c("idx_le16_and", "xdp", idx!("le16 %r2; and %r2, 15"), OK),
    c("idx_jle", "xdp", idx!("jle %r2, 15, +2; mov %r0, 0; exit"), OK),
    c("idx_jlt16", "xdp", idx!("jlt %r2, 16, +2; mov %r0, 0; exit"), OK),
    c("idx_jlt17", "xdp", idx!("jlt %r2, 17, +2; mov %r0, 0; exit"), e("invalid access to map value")),
    c("idx_jge_fall", "xdp", idx!("jge %r2, 16, +1; ja +2; mov %r0, 0; exit"), OK),
    c("idx_signed_both", "xdp", idx!("jsgt %r2, 15, +2; jslt %r2, 0, +1; ja +2; mov %r0, 0; exit"), OK),
    c("idx_jle32", "xdp", idx!("jle32 %r2, 15, +2; mov %r0, 0; exit"), OK),
    c("idx_jle32_upper_unknown", "xdp", idx!("lddw %r3, 0x100000000; or %r2, %r3; jle32 %r2, 15, +2; mov %r0, 0; exit"), e("unbounded max value")),
    c("idx_jne_useless", "xdp", idx!("jne %r2, 0, +2; mov %r0, 0; exit"), e("map_value")),
    c("idx_jset_clear", "xdp", idx!("jset %r2, -16, +1; ja +2; mov %r0, 0; exit"), OK),
    c("idx_jset_taken", "xdp", idx!("jset %r2, -16, +2; mov %r0, 0; exit"), e("map_value")),
    c("idx_jeq_const", "xdp", idx!("jeq %r2, 3, +2; mov %r0, 0; exit"), OK),
    c("idx_reg_bound", "xdp", idx!("mov %r3, 15; jgt %r2, %r3, +1; ja +2; mov %r0, 0; exit"), OK),
    c("idx_spill_fill_keeps_bounds", "xdp", idx!("and %r2, 15; stxdw [%r10-16], %r2; ldxdw %r2, [%r10-16]"), OK),
    c("idx_fill32_of_spill", "xdp", idx!("and %r2, 15; stxdw [%r10-16], %r2; ldxw %r2, [%r10-16]"), OK),
    c("idx_fill8_of_spill", "xdp", idx!("and %r2, 15; stxdw [%r10-16], %r2; ldxh %r2, [%r10-16]"), OK),
    c("idx_fill8_of_wide_spill", "xdp", idx!("and %r2, 0x1ffff; stxdw [%r10-16], %r2; ldxh %r2, [%r10-16]"), e("invalid access to map value")),
    c("idx_fill_high_half_of_spill", "xdp", idx!("and %r2, 15; stxdw [%r10-16], %r2; ldxh %r2, [%r10-14]"), e("invalid access to map value")),
    // ---- pointer arithmetic ----
    c("ptr_plus_const", "unspec", "mov %r2, %r10; add %r2, -8; stdw [%r2], 1; ldxdw %r0, [%r2]; exit", OK),
    c("const_plus_ptr", "unspec", "mov %r2, -8; add %r2, %r10; stdw [%r2], 1; ldxdw %r0, [%r2]; exit", OK),
    c("ptr_alu32_refused", "unspec", "mov %r2, %r10; add32 %r2, -8; mov %r0, 0; exit", e("32-bit pointer arithmetic prohibited")),
    c("ptr_mul_refused", "unspec", "mov %r2, %r10; mul %r2, 2; mov %r0, 0; exit", e("pointer arithmetic with mul operator prohibited")),
    c("ptr_and_refused", "unspec", "mov %r2, %r10; and %r2, 7; mov %r0, 0; exit", e("prohibited")),
    c("ptr_plus_ptr_refused", "unspec", "mov %r2, %r10; add %r2, %r10; mov %r0, 0; exit", e("pointer add pointer prohibited")),
    u("ptr_minus_ptr_stack_refused", "unspec", "mov %r2, %r10; sub %r2, %r10; mov %r0, 0; exit", e("pointer sub pointer prohibited")),
    c("ptr_minus_ptr_stack_privileged", "unspec", "mov %r2, %r10; sub %r2, %r10; mov %r0, 0; exit", OK),
    c("scalar_minus_ptr_refused", "unspec", "mov %r2, 1; sub %r2, %r10; mov %r0, 0; exit", e("subtract pointer from scalar")),
    u("neg_ptr_refused", "unspec", "mov %r2, %r10; neg %r2; mov %r0, 0; exit", e("prohibited")),
    c("neg_ptr_privileged", "unspec", "mov %r2, %r10; neg %r2; mov %r0, 0; exit", OK),
    u("endian_ptr_refused", "unspec", "mov %r2, %r10; be16 %r2; mov %r0, 0; exit", e("prohibited")),
    c("endian_ptr_privileged", "unspec", "mov %r2, %r10; be16 %r2; mov %r0, 0; exit", OK),
    c("mov32_ptr_priv_is_scalar", "unspec", "mov32 %r2, %r10; mov %r0, 0; exit", OK),
    u("mov32_ptr_unpriv_refused", "socket_filter", "mov32 %r2, %r10; mov %r0, 0; exit", e("partial copy of pointer")),
    c("ptr_unbounded_add_refused", "xdp", cat!(lookup1!(), "jeq %r0, 0, +3", "mov %r6, %r0", "call 7", "add %r6, %r0", "mov %r0, 0", "exit"), e("unbounded min value")),
    c("map_value_or_null_arith_refused", "xdp", cat!(lookup0!(), "add %r0, 1", "mov %r0, 0", "exit"), e("map_value_or_null prohibited")),
    c("map_ptr_arith_refused", "xdp", "lddw map_idx %r1, 0; add %r1, 8; mov %r0, 0; exit", e("pointer arithmetic on map_ptr prohibited")),
    c("pkt_end_arith_refused", "xdp", cat!(xdp_pkt!(), "add %r3, 1", "mov %r0, 0", "exit"), e("pointer arithmetic on pkt_end prohibited")),
    c("ptr_huge_const_refused", "unspec", "mov %r2, %r10; lddw %r3, 0x40000000; add %r2, %r3; mov %r0, 0; exit", e("out of bounds")),
    c("pkt_minus_pkt_ok", "xdp", cat!(xdp_pkt!(), "mov %r0, %r3", "sub %r0, %r2", "mov %r0, 0", "exit"), OK),
    // ---- stack ----
    c("stack_write_read", "unspec", "stdw [%r10-8], 5; ldxdw %r0, [%r10-8]; exit", OK),
    u("stack_read_uninit", "unspec", "ldxdw %r0, [%r10-8]; exit", e("invalid read from stack R10 off -8 size 8 (uninitialised)")),
    u("stack_read_partially_init", "unspec", "stw [%r10-8], 5; ldxdw %r0, [%r10-8]; exit", e("uninitialised")),
    c("stack_read_partially_init_priv", "xdp", "stw [%r10-8], 5; ldxdw %r0, [%r10-8]; mov %r0, 0; exit", OK),
    c("stack_read_narrow_ok", "unspec", "stdw [%r10-8], 5; ldxb %r0, [%r10-3]; exit", OK),
    c("stack_out_of_bounds_low", "unspec", "stdw [%r10-520], 5; mov %r0, 0; exit", e("invalid write to stack")),
    c("stack_out_of_bounds_high", "unspec", "stdw [%r10], 5; mov %r0, 0; exit", e("invalid write to stack")),
    c("stack_read_above_fp", "unspec", "ldxb %r0, [%r10+1]; exit", e("invalid read to stack")),
    c("stack_bottom_ok", "unspec", "stdw [%r10-512], 5; ldxdw %r0, [%r10-512]; exit", OK),
    c("stack_misaligned", "unspec", "stdw [%r10-12], 5; mov %r0, 0; exit", e("misaligned stack access")),
    c("stack_misaligned_w", "unspec", "stw [%r10-6], 5; mov %r0, 0; exit", e("misaligned stack access")),
    c("spill_fill_ptr", "xdp", "stxdw [%r10-8], %r1; ldxdw %r2, [%r10-8]; ldxw %r0, [%r2]; mov %r0, 0; exit", OK),
    c("spill_fill_scalar_const", "unspec", cat!(lookup1!(), "jeq %r0, 0, +5", "stdw [%r10-16], 8", "ldxdw %r1, [%r10-16]", "add %r0, %r1", "ldxdw %r0, [%r0]", "mov %r0, 0", "mov %r0, 0", "exit"), OK),
    c("spill_partial_overwrite_ptr", "xdp", "stxdw [%r10-8], %r1; stb [%r10-8], 0; ldxdw %r2, [%r10-8]; ldxw %r0, [%r2]; exit", e("invalid mem access 'scalar'")),
    c("spill_ptr_narrow_refused", "xdp", "stxw [%r10-8], %r1; mov %r0, 0; exit", e("invalid size of register spill")),
    c("fill_narrow_from_ptr_refused", "xdp", "stxdw [%r10-8], %r1; ldxw %r2, [%r10-8]; ldxw %r0, [%r2]; exit", e("invalid size of register fill")),
    c("stack_var_offset_read_ok", "xdp", "stdw [%r10-16], 0; stdw [%r10-8], 0; ldxw %r2, [%r1+12]; and %r2, 8; mov %r3, %r10; add %r3, -16; add %r3, %r2; ldxdw %r0, [%r3]; mov %r0, 0; exit", OK),
    c("stack_var_offset_uninit", "xdp", "stdw [%r10-16], 0; ldxw %r2, [%r1+12]; and %r2, 8; mov %r3, %r10; add %r3, -16; add %r3, %r2; ldxdw %r0, [%r3]; mov %r0, 0; exit", OK),
    // Without CAP_PERFMON, pointer arithmetic must keep the pointer in its object on every
    // path with one masking limit per instruction (Linux's sanitize_ptr_alu).
    u("unpriv_map_value_add_out_of_range", "socket_filter", cat!(lookup1!(), "jne %r0, 0, +2", "mov %r0, 0", "exit", "add %r0, 16", "mov %r0, 0", "exit"), e("pointer arithmetic of map value goes out of range")),
    u("unpriv_map_value_add_in_range", "socket_filter", cat!(lookup1!(), "jne %r0, 0, +2", "mov %r0, 0", "exit", "add %r0, 15", "ldxb %r0, [%r0]", "mov %r0, 0", "exit"), OK),
    u("unpriv_map_value_mixed_sign_offset", "socket_filter", cat!(lookup1!(), "jne %r0, 0, +2", "mov %r0, 0", "exit", "ldxw %r1, [%r0]", "and %r1, 7", "sub %r1, 3", "add %r0, %r1", "mov %r0, 0", "exit"), e("mixed signed bounds")),
    u("unpriv_map_value_bounded_offset", "socket_filter", cat!(lookup1!(), "jne %r0, 0, +2", "mov %r0, 0", "exit", "ldxw %r1, [%r0]", "and %r1, 7", "add %r0, %r1", "ldxb %r0, [%r0]", "mov %r0, 0", "exit"), OK),
    u("unpriv_stack_ptr_past_frame", "socket_filter", "mov %r1, %r10; add %r1, 8; mov %r0, 0; exit", e("stack pointer arithmetic goes out of range")),
    u("unpriv_ptr_alu_different_paths", "socket_filter", cat!(lookup1!(), "jne %r0, 0, +2", "mov %r0, 0", "exit", "mov %r6, %r0", "ldxw %r1, [%r6]", "ldxw %r2, [%r6+4]", "and %r1, 3", "jeq %r2, 0, +1", "and %r1, 1", "mov %r3, %r6", "add %r3, %r1", "mov %r0, 0", "exit"), e("from different maps, paths or scalars")),
    u("stack_var_offset_uninit_unpriv", "socket_filter", "stdw [%r10-16], 0; ldxw %r2, [%r1+0]; and %r2, 8; mov %r3, %r10; add %r3, -16; add %r3, %r2; ldxdw %r0, [%r3]; mov %r0, 0; exit", e("variable stack access prohibited for !root")),
    c("stack_uninit_read_is_unknown", "xdp", "ldxdw %r2, [%r10-8]; mov %r3, %r10; add %r3, %r2; mov %r0, 0; exit", e("unbounded min value")),
    c("stack_uninit_read_bounded_use", "xdp", "ldxdw %r2, [%r10-8]; and %r2, 7; mov %r3, %r10; add %r3, -16; add %r3, %r2; stb [%r3], 0; mov %r0, 0; exit", OK),
    u("stack_uninit_read_unpriv", "socket_filter", "ldxdw %r0, [%r10-8]; mov %r0, 0; exit", e("uninitialised")),
    c("stack_var_offset_oob", "xdp", "ldxw %r2, [%r1+12]; and %r2, 16; mov %r3, %r10; add %r3, -8; add %r3, %r2; stdw [%r3], 0; mov %r0, 0; exit", e("invalid write to stack")),
    c("stack_var_misaligned", "xdp", "stdw [%r10-16], 0; stdw [%r10-8], 0; ldxw %r2, [%r1+12]; and %r2, 4; mov %r3, %r10; add %r3, -16; add %r3, %r2; ldxdw %r0, [%r3]; mov %r0, 0; exit", e("misaligned")),
    c("stack_deref_scalar", "unspec", "mov %r2, 0; ldxdw %r0, [%r2]; exit", e("invalid mem access 'scalar'")),
    c("stack_var_write_keeps_uninit", "xdp", "ldxw %r2, [%r1+12]; and %r2, 8; mov %r3, %r10; add %r3, -16; add %r3, %r2; stdw [%r3], 0; ldxdw %r0, [%r10-16]; mov %r0, 0; exit", OK),
    u("stack_var_write_keeps_uninit_unpriv", "socket_filter", "ldxw %r2, [%r1+0]; and %r2, 8; mov %r3, %r10; add %r3, -16; add %r3, %r2; stdw [%r3], 0; ldxdw %r0, [%r10-16]; mov %r0, 0; exit", e("variable stack access prohibited for !root")),
    // ---- context ----
    u("ctx_xdp_read_data", "xdp", "ldxw %r0, [%r1]; exit", e("leaks addr as return value")),
    c("ctx_xdp_read_ingress", "xdp", "ldxw %r0, [%r1+12]; mov %r0, 2; exit", OK),
    c("ctx_xdp_out_of_bounds", "xdp", "ldxw %r0, [%r1+64]; exit", e("invalid bpf_context access off=64 size=4")),
    c("ctx_xdp_write_refused", "xdp", "stw [%r1], 0; mov %r0, 0; exit", e("invalid bpf_context access")),
    c("ctx_misaligned", "xdp", "ldxw %r0, [%r1+2]; exit", e("invalid bpf_context access")),
    c("ctx_modified_ptr", "xdp", "add %r1, 4; ldxw %r0, [%r1]; exit", e("dereference of modified ctx ptr")),
    c("ctx_skb_mark_write", "sched_cls", "stw [%r1+8], 1; mov %r0, 0; exit", OK),
    c("ctx_skb_len_write_refused", "sched_cls", "stw [%r1], 1; mov %r0, 0; exit", e("invalid bpf_context access")),
    c("ctx_skb_narrow_len", "socket_filter", "ldxb %r0, [%r1]; exit", OK),
    c("ctx_unspec_modified_ptr", "unspec", "add %r1, 4; ldxw %r0, [%r1]; exit", e("dereference of modified ctx ptr")),
    c("ctx_kprobe_read", "kprobe", "ldxdw %r0, [%r1+8]; mov %r0, 0; exit", OK),
    c("ctx_kprobe_write_refused", "kprobe", "stdw [%r1+8], 0; mov %r0, 0; exit", e("invalid bpf_context access")),
    c("ctx_store_ptr_privileged", "sched_cls", "stxw [%r1+8], %r10; mov %r0, 0; exit", OK),
    u("ctx_store_ptr_refused", "socket_filter", "stxw [%r1+48], %r10; mov %r0, 0; exit", e("leaks addr into ctx")),
    c("ctx_cb_any_size", "sched_cls", "stb [%r1+48], 1; ldxh %r0, [%r1+48]; mov %r0, 0; exit", OK),
    // ---- map values ----
    c("map_lookup_null_checked", "xdp", cat!(lookup0!(), "jeq %r0, 0, +1", "ldxdw %r0, [%r0]", "mov %r0, 0", "exit"), OK),
    c("map_lookup_not_null_checked", "xdp", cat!(lookup0!(), "ldxdw %r0, [%r0]", "mov %r0, 0", "exit"), e("R0 may be NULL")),
    c("map_lookup_jne_check", "xdp", cat!(lookup0!(), "jne %r0, 0, +2", "mov %r0, 0", "exit", "ldxdw %r1, [%r0]", "mov %r0, 0", "exit"), OK),
    c("map_lookup_copy_shares_id", "xdp", cat!(lookup0!(), "mov %r6, %r0", "jeq %r0, 0, +1", "ldxdw %r1, [%r6]", "mov %r0, 0", "exit"), OK),
    c("map_lookup_null_branch_deref", "xdp", cat!(lookup0!(), "jne %r0, 0, +1", "ldxdw %r1, [%r0]", "mov %r0, 0", "exit"), e("invalid mem access 'scalar'")),
    c("map_value_oob_read", "xdp", cat!(lookup0!(), "jeq %r0, 0, +1", "ldxdw %r0, [%r0+8]", "mov %r0, 0", "exit"), e("invalid access to map value, value_size=8 off=8 size=8")),
    c("map_value_last_byte", "xdp", cat!(lookup0!(), "jeq %r0, 0, +1", "ldxb %r0, [%r0+7]", "mov %r0, 0", "exit"), OK),
    c("map_value_negative_off", "xdp", cat!(lookup0!(), "jeq %r0, 0, +1", "ldxb %r0, [%r0-1]", "mov %r0, 0", "exit"), e("invalid access to map value")),
    c("map_value_write", "xdp", cat!(lookup1!(), "jeq %r0, 0, +1", "stdw [%r0+8], 1", "mov %r0, 0", "exit"), OK),
    c("map_value_write_oob", "xdp", cat!(lookup1!(), "jeq %r0, 0, +1", "stdw [%r0+12], 1", "mov %r0, 0", "exit"), e("value_size=16 off=12 size=8")),
    c("map_value_var_off_bounded", "xdp", cat!(lookup1!(), "jeq %r0, 0, +4", "call 7", "and %r0, 7", "mov %r0, %r0", "mov %r0, 0", "mov %r0, 0", "exit"), OK),
    c("map_value_var_index_masked", "xdp", cat!(lookup1!(), "jeq %r0, 0, +5", "mov %r6, %r0", "call 7", "and %r0, 8", "add %r6, %r0", "ldxdw %r0, [%r6]", "mov %r0, 0", "exit"), OK),
    c("map_value_var_index_too_big", "xdp", cat!(lookup1!(), "jeq %r0, 0, +5", "mov %r6, %r0", "call 7", "and %r0, 15", "add %r6, %r0", "ldxdw %r0, [%r6]", "mov %r0, 0", "exit"), e("invalid access to map value")),
    c("map_value_var_index_checked", "xdp", cat!(lookup1!(), "jeq %r0, 0, +6", "mov %r6, %r0", "call 7", "jgt %r0, 8, +3", "add %r6, %r0", "ldxdw %r0, [%r6]", "mov %r0, 0", "mov %r0, 0", "exit"), OK),
    c("map_value_var_index_checked_off_by_one", "xdp", cat!(lookup1!(), "jeq %r0, 0, +6", "mov %r6, %r0", "call 7", "jgt %r0, 9, +3", "add %r6, %r0", "ldxdw %r0, [%r6]", "mov %r0, 0", "mov %r0, 0", "exit"), e("invalid access to map value")),
    c("map_value_signed_index_refused", "xdp", cat!(lookup1!(), "jeq %r0, 0, +6", "mov %r6, %r0", "call 7", "jsgt %r0, 8, +3", "add %r6, %r0", "ldxdw %r0, [%r6]", "mov %r0, 0", "mov %r0, 0", "exit"), e("unbounded min value")),
    c("map_value_signed_index_checked", "xdp", cat!(lookup1!(), "jeq %r0, 0, +7", "mov %r6, %r0", "call 7", "jsgt %r0, 8, +4", "jslt %r0, 0, +3", "add %r6, %r0", "ldxdw %r0, [%r6]", "mov %r0, 0", "mov %r0, 0", "exit"), OK),
    c("map_value_negative_var", "xdp", cat!(lookup1!(), "jeq %r0, 0, +7", "mov %r6, %r0", "call 7", "jsgt %r0, 8, +4", "jslt %r0, -4, +3", "add %r6, %r0", "ldxdw %r0, [%r6]", "mov %r0, 0", "mov %r0, 0", "exit"), e("min value is negative")),
    c("devmap_hash_lookup_reads_the_value", "xdp", cat!("stw [%r10-4], 0", "mov %r2, %r10", "add %r2, -4", "lddw map_idx %r1, 12", "call 1", "jeq %r0, 0, +1", "ldxw %r0, [%r0]", "mov %r0, 2", "exit"), OK),
    c("devmap_hash_value_write_refused", "xdp", cat!("stw [%r10-4], 0", "mov %r2, %r10", "add %r2, -4", "lddw map_idx %r1, 12", "call 1", "jeq %r0, 0, +1", "stw [%r0], 1", "mov %r0, 2", "exit"), e("write into map forbidden")),
    c("devmap_hash_update_refused", "xdp", cat!("stw [%r10-4], 0", "stdw [%r10-16], 0", "mov %r2, %r10", "add %r2, -4", "mov %r3, %r10", "add %r3, -16", "mov %r4, 0", "lddw map_idx %r1, 12", "call 2", "mov %r0, 2", "exit"), e("cannot pass map_type 25 into func bpf_map_update_elem")),
    c("map_readonly_write_refused", "xdp", cat!("stw [%r10-4], 0", "mov %r2, %r10", "add %r2, -4", "lddw map_idx %r1, 7", "call 1", "jeq %r0, 0, +1", "stdw [%r0], 1", "mov %r0, 0", "exit"), e("write into map forbidden")),
    c("map_readonly_read_ok", "xdp", cat!("stw [%r10-4], 0", "mov %r2, %r10", "add %r2, -4", "lddw map_idx %r1, 7", "call 1", "jeq %r0, 0, +1", "ldxdw %r0, [%r0]", "mov %r0, 0", "exit"), OK),
    c("global_data_direct", "unspec", "lddw map_idx_value %r1, 3; ldxdw %r0, [%r1+8]; exit", OK),
    c("global_data_oob", "unspec", "lddw map_idx_value %r1, 3; ldxdw %r0, [%r1+12]; exit", e("invalid access to map value")),
    c("map_idx_out_of_range", "unspec", "lddw map_idx %r1, 99; mov %r0, 0; exit", e("map index 99 out of range")),
    c("map_ptr_read_first_bytes", "xdp", "lddw map_idx %r1, 0; ldxdw %r0, [%r1]; mov %r0, 0; exit", OK),
    c("map_ptr_read_max_entries", "xdp", "lddw map_idx %r1, 0; ldxw %r2, [%r1+76]; mov %r0, 0; jgt %r2, 15, +1; mov %r0, 1; exit", OK),
    c("map_ptr_read_past_member", "xdp", "lddw map_idx %r1, 0; ldxdw %r2, [%r1+76]; mov %r0, 0; exit", e("access beyond the end of member max_entries")),
    c("map_ptr_read_negative", "xdp", "lddw map_idx %r1, 0; ldxw %r2, [%r1-4]; mov %r0, 0; exit", e("invalid negative access")),
    c("map_ptr_read_padding", "xdp", "lddw map_idx %r1, 0; ldxw %r2, [%r1+36]; mov %r0, 0; exit", e("doesn't have field at offset 36")),
    c("map_ptr_write_refused", "xdp", "lddw map_idx %r1, 0; stw [%r1+76], 1; mov %r0, 0; exit", e("invalid mem access 'map_ptr'")),
    c("map_ptr_add_const_refused", "xdp", "lddw map_idx %r1, 0; add %r1, 76; ldxw %r2, [%r1]; mov %r0, 0; exit", e("map_ptr")),
    u("map_ptr_read_unpriv", "socket_filter", "lddw map_idx %r1, 0; ldxw %r2, [%r1+76]; mov %r0, 0; exit", e("'struct bpf_map' access is allowed only to CAP_PERFMON")),
    c("map_store_ptr_priv", "xdp", cat!(lookup0!(), "jeq %r0, 0, +1", "stxdw [%r0], %r10", "mov %r0, 0", "exit"), OK),
    u("map_store_ptr_unpriv", "socket_filter", cat!(lookup0!(), "jeq %r0, 0, +1", "stxdw [%r0], %r10", "mov %r0, 0", "exit"), e("leaks addr into map_value")),
    // ---- helpers ----
    c("helper_unknown", "xdp", "call 9999; exit", e("invalid func unknown#9999")),
    c("helper_not_allowed", "xdp", "call 16; exit", e("cannot use helper bpf_get_current_comm")),
    c("helper_allowed_kprobe", "kprobe", "call 35; mov %r0, 0; exit", OK),
    c("lookup_key_uninit", "xdp", "mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 0; call 1; mov %r0, 0; exit", OK),
    u("lookup_key_uninit_unpriv", "socket_filter", "mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 0; call 1; mov %r0, 0; exit", e("invalid read from stack")),
    c("lookup_key_not_ptr", "xdp", "mov %r2, 0; lddw map_idx %r1, 0; call 1; mov %r0, 0; exit", e("R2 type=0 expected=fp")),
    c("lookup_map_not_map", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; mov %r1, %r2; call 1; mov %r0, 0; exit", e("expected=map_ptr")),
    c("lookup_key_short_stack", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -2; lddw map_idx %r1, 0; call 1; mov %r0, 0; exit", e("invalid read to stack")),
    c("lookup_key_from_map_value", "xdp", cat!(lookup1!(), "jeq %r0, 0, +4", "mov %r2, %r0", "lddw map_idx %r1, 0", "call 1", "mov %r0, 0", "exit"), OK),
    c("lookup_on_ringbuf_refused", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 2; call 1; mov %r0, 0; exit", e("cannot pass map_type 27")),
    c("update_elem_ok", "xdp", "stw [%r10-4], 0; stdw [%r10-16], 1; mov %r2, %r10; add %r2, -4; mov %r3, %r10; add %r3, -16; mov %r4, 0; lddw map_idx %r1, 0; call 2; mov %r0, 0; exit", OK),
    c("update_elem_value_uninit", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; mov %r3, %r10; add %r3, -16; mov %r4, 0; lddw map_idx %r1, 0; call 2; mov %r0, 0; exit", OK),
    u("update_elem_value_uninit_unpriv", "socket_filter", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; mov %r3, %r10; add %r3, -16; mov %r4, 0; lddw map_idx %r1, 0; call 2; mov %r0, 0; exit", e("uninitialised")),
    c("update_elem_flags_uninit", "xdp", "stw [%r10-4], 0; stdw [%r10-16], 1; mov %r2, %r10; add %r2, -4; mov %r3, %r10; add %r3, -16; lddw map_idx %r1, 0; call 2; mov %r0, 0; exit", e("R4 !read_ok")),
    c("delete_elem_ok", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 0; call 3; mov %r0, 0; exit", OK),
    c("queue_pop_writes_value", "xdp", "mov %r2, %r10; add %r2, -8; lddw map_idx %r1, 6; call 88; ldxdw %r0, [%r10-8]; mov %r0, 0; exit", OK),
    c("queue_push_uninit_value", "xdp", "mov %r2, %r10; add %r2, -8; mov %r3, 0; lddw map_idx %r1, 6; call 87; mov %r0, 0; exit", OK),
    u("queue_push_needs_value_unpriv", "socket_filter", "mov %r2, %r10; add %r2, -8; mov %r3, 0; lddw map_idx %r1, 6; call 87; mov %r0, 0; exit", e("uninitialised")),
    c("queue_push_on_hash_refused", "xdp", "stdw [%r10-8], 0; mov %r2, %r10; add %r2, -8; mov %r3, 0; lddw map_idx %r1, 0; call 87; mov %r0, 0; exit", e("cannot pass map_type 1")),
    c("probe_read_fills_stack", "kprobe", "mov %r1, %r10; add %r1, -16; mov %r2, 16; mov %r3, 0; call 4; ldxdw %r0, [%r10-16]; ldxdw %r0, [%r10-8]; mov %r0, 0; exit", OK),
    c("probe_read_size_too_big", "kprobe", "mov %r1, %r10; add %r1, -16; mov %r2, 24; mov %r3, 0; call 4; mov %r0, 0; exit", e("invalid write to stack")),
    c("probe_read_size_unbounded", "kprobe", "mov %r6, %r1; call 7; mov %r2, %r0; rsh %r2, 1; mov %r1, %r10; add %r1, -16; mov %r3, 0; call 4; mov %r0, 0; exit", e("unbounded memory access")),
    c("probe_read_size_negative", "kprobe", "call 7; mov %r2, %r0; jsgt %r2, 8, +4; mov %r1, %r10; add %r1, -16; mov %r3, 0; call 4; mov %r0, 0; exit", e("min value is negative")),
    c("probe_read_size_bounded", "kprobe", "call 7; mov %r2, %r0; jgt %r2, 16, +4; mov %r1, %r10; add %r1, -16; mov %r3, 0; call 4; mov %r0, 0; exit", OK),
    c("probe_read_var_size_partial_init", "kprobe", "call 7; mov %r2, %r0; jgt %r2, 16, +5; mov %r1, %r10; add %r1, -16; mov %r3, 0; call 4; ldxdw %r0, [%r10-16]; mov %r0, 0; exit", OK),
    c("trace_printk_zero_size", "kprobe", "stdw [%r10-8], 0; mov %r1, %r10; add %r1, -8; mov %r2, 0; call 6; mov %r0, 0; exit", e("invalid zero-sized read")),
    c("trace_printk_ok", "kprobe", "stdw [%r10-8], 0; mov %r1, %r10; add %r1, -8; mov %r2, 8; call 6; mov %r0, 0; exit", OK),
    c("get_current_comm_ok", "kprobe", "mov %r1, %r10; add %r1, -16; mov %r2, 16; call 16; ldxdw %r0, [%r10-16]; mov %r0, 0; exit", OK),
    c("helper_ctx_arg_ok", "xdp", "mov %r2, 4; call 44; mov %r0, 0; exit", OK),
    c("helper_ctx_arg_wrong", "xdp", "mov %r1, %r10; mov %r2, 4; call 44; mov %r0, 0; exit", e("expected=ctx")),
    c("helper_ctx_arg_modified", "xdp", "add %r1, 4; mov %r2, 4; call 44; mov %r0, 0; exit", e("modified ctx ptr")),
    c("tail_call_ok", "xdp", "lddw map_idx %r2, 4; mov %r3, 0; call 12; mov %r0, 0; exit", OK),
    c("tail_call_wrong_map", "xdp", "lddw map_idx %r2, 0; mov %r3, 0; call 12; mov %r0, 0; exit", e("cannot pass map_type")),
    c("perf_event_output_ok", "kprobe", "mov %r6, %r1; stdw [%r10-8], 0; mov %r4, %r10; add %r4, -8; mov %r5, 8; mov %r1, %r6; lddw map_idx %r2, 5; mov %r3, 0; call 25; mov %r0, 0; exit", OK),
    c("helper_arg_null_map_value", "xdp", cat!(lookup0!(), "mov %r2, %r0", "lddw map_idx %r1, 0", "call 1", "mov %r0, 0", "exit"), e("may be NULL")),
    // ---- packets ----
    c("pkt_read_checked", "xdp", cat!(xdp_pkt!(), "mov %r4, %r2", "add %r4, 14", "jgt %r4, %r3, +1", "ldxb %r0, [%r2+13]", "mov %r0, 2", "exit"), OK),
    c("pkt_read_unchecked", "xdp", cat!(xdp_pkt!(), "ldxb %r0, [%r2]", "mov %r0, 2", "exit"), e("invalid access to packet, off=0 size=1")),
    c("pkt_read_past_check", "xdp", cat!(xdp_pkt!(), "mov %r4, %r2", "add %r4, 14", "jgt %r4, %r3, +1", "ldxb %r0, [%r2+14]", "mov %r0, 2", "exit"), e("invalid access to packet, off=14 size=1")),
    c("pkt_read_wrong_branch", "xdp", cat!(xdp_pkt!(), "mov %r4, %r2", "add %r4, 14", "jgt %r4, %r3, +2", "mov %r0, 2", "exit", "ldxb %r0, [%r2]", "mov %r0, 2", "exit"), e("invalid access to packet")),
    c("pkt_check_end_first", "xdp", cat!(xdp_pkt!(), "mov %r4, %r2", "add %r4, 8", "jlt %r3, %r4, +1", "ldxdw %r0, [%r2]", "mov %r0, 2", "exit"), OK),
    c("pkt_check_jle_taken", "xdp", cat!(xdp_pkt!(), "mov %r4, %r2", "add %r4, 8", "jle %r4, %r3, +2", "mov %r0, 1", "exit", "ldxdw %r0, [%r2]", "mov %r0, 2", "exit"), OK),
    c("pkt_check_jge_end", "xdp", cat!(xdp_pkt!(), "mov %r4, %r2", "add %r4, 8", "jge %r3, %r4, +2", "mov %r0, 1", "exit", "ldxdw %r0, [%r4-8]", "mov %r0, 2", "exit"), OK),
    c("pkt_write_xdp", "xdp", cat!(xdp_pkt!(), "mov %r4, %r2", "add %r4, 4", "jgt %r4, %r3, +1", "stw [%r2], 0", "mov %r0, 2", "exit"), OK),
    c("pkt_write_cgroup_skb_refused", "cgroup_skb", cat!("ldxw %r2, [%r1+76]", "ldxw %r3, [%r1+80]", "mov %r4, %r2", "add %r4, 4", "jgt %r4, %r3, +1", "stw [%r2], 0", "mov %r0, 1", "exit"), e("cannot write into packet")),
    c("pkt_read_cgroup_skb", "cgroup_skb", cat!("ldxw %r2, [%r1+76]", "ldxw %r3, [%r1+80]", "mov %r4, %r2", "add %r4, 4", "jgt %r4, %r3, +1", "ldxw %r0, [%r2]", "mov %r0, 1", "exit"), OK),
    c("pkt_tc_read", "sched_cls", cat!("ldxw %r2, [%r1+76]", "ldxw %r3, [%r1+80]", "mov %r4, %r2", "add %r4, 4", "jgt %r4, %r3, +1", "ldxw %r0, [%r2]", "mov %r0, 0", "exit"), OK),
    c("pkt_end_deref", "xdp", cat!(xdp_pkt!(), "ldxb %r0, [%r3]", "mov %r0, 2", "exit"), e("invalid mem access 'pkt_end'")),
    c("pkt_var_offset_needs_new_check", "xdp", cat!(xdp_pkt!(), "mov %r4, %r2", "add %r4, 8", "jgt %r4, %r3, +5", "ldxb %r5, [%r2]", "and %r5, 3", "add %r2, %r5", "ldxb %r0, [%r2]", "mov %r0, 2", "mov %r0, 2", "exit"), e("invalid access to packet")),
    c("pkt_var_offset_checked", "xdp", cat!(xdp_pkt!(), "mov %r4, %r2", "add %r4, 8", "jgt %r4, %r3, +8", "ldxb %r5, [%r2]", "and %r5, 3", "add %r2, %r5", "mov %r4, %r2", "add %r4, 2", "jgt %r4, %r3, +2", "ldxh %r0, [%r2]", "mov %r0, 2", "mov %r0, 2", "exit"), OK),
    c("pkt_invalidated_by_adjust_head", "xdp", cat!("mov %r6, %r1", xdp_pkt!(), "mov %r4, %r2", "add %r4, 8", "jgt %r4, %r3, +5", "mov %r7, %r2", "mov %r1, %r6", "mov %r2, 4", "call 44", "ldxb %r0, [%r7]", "mov %r0, 2", "exit"), e("R7 !read_ok")),
    c("pkt_in_unspec_refused", "kprobe", "ldxdw %r0, [%r1]; mov %r0, 0; exit", OK),
    c("pkt_meta_checked", "xdp", cat!("ldxw %r2, [%r1+8]", "ldxw %r3, [%r1]", "mov %r4, %r2", "add %r4, 4", "jgt %r4, %r3, +1", "ldxw %r0, [%r2]", "mov %r0, 2", "exit"), OK),
    c("pkt_meta_unchecked", "xdp", cat!("ldxw %r2, [%r1+8]", "ldxw %r0, [%r2]", "mov %r0, 2", "exit"), e("invalid access to packet")),
    u("pkt_compare_unpriv_ok", "sched_cls", cat!("ldxw %r2, [%r1+76]", "ldxw %r3, [%r1+80]", "mov %r4, %r2", "add %r4, 4", "jgt %r4, %r3, +1", "ldxw %r0, [%r2]", "mov %r0, 0", "exit"), OK),
    u("ptr_compare_unpriv_refused", "socket_filter", "jgt %r1, %r10, +0; mov %r0, 0; exit", e("pointer comparison prohibited")),
    c("ptr_compare_priv_ok", "socket_filter", "jgt %r1, %r10, +0; mov %r0, 0; exit", OK),
    // ---- ringbuf references ----
    c("ringbuf_submit", "xdp", "lddw map_idx %r1, 2; mov %r2, 16; mov %r3, 0; call 131; jeq %r0, 0, +4; stdw [%r0+8], 1; mov %r1, %r0; mov %r2, 0; call 132; mov %r0, 0; exit", OK),
    c("ringbuf_discard", "xdp", "lddw map_idx %r1, 2; mov %r2, 16; mov %r3, 0; call 131; jeq %r0, 0, +3; mov %r1, %r0; mov %r2, 0; call 133; mov %r0, 0; exit", OK),
    c("ringbuf_leak", "xdp", "lddw map_idx %r1, 2; mov %r2, 16; mov %r3, 0; call 131; mov %r0, 0; exit", e("Unreleased reference")),
    c("ringbuf_leak_on_one_path", "xdp", "lddw map_idx %r1, 2; mov %r2, 16; mov %r3, 0; call 131; jeq %r0, 0, +6; mov %r6, %r0; call 7; jeq %r0, 0, +3; mov %r1, %r6; mov %r2, 0; call 132; mov %r0, 0; exit", e("Unreleased reference")),
    c("ringbuf_double_submit", "xdp", "lddw map_idx %r1, 2; mov %r2, 16; mov %r3, 0; call 131; jeq %r0, 0, +7; mov %r6, %r0; mov %r1, %r0; mov %r2, 0; call 132; mov %r1, %r6; mov %r2, 0; call 132; mov %r0, 0; exit", e("R6 !read_ok")),
    c("ringbuf_use_after_submit", "xdp", "lddw map_idx %r1, 2; mov %r2, 16; mov %r3, 0; call 131; jeq %r0, 0, +5; mov %r6, %r0; mov %r1, %r0; mov %r2, 0; call 132; stdw [%r6], 1; mov %r0, 0; exit", e("R6 !read_ok")),
    c("ringbuf_oob_write", "xdp", "lddw map_idx %r1, 2; mov %r2, 16; mov %r3, 0; call 131; jeq %r0, 0, +4; stdw [%r0+16], 1; mov %r1, %r0; mov %r2, 0; call 132; mov %r0, 0; exit", e("invalid access to memory, mem_size=16 off=16 size=8")),
    c("ringbuf_null_deref", "xdp", "lddw map_idx %r1, 2; mov %r2, 16; mov %r3, 0; call 131; stdw [%r0], 1; mov %r0, 0; exit", e("R0 may be NULL")),
    // ---- may_goto: both ways explored; loops through it end by construction ----
    c("may_goto_endless_loop", "xdp", "mov %r0, 2; may_goto +1; ja -2; exit", OK),
    c("may_goto_counter_loop", "xdp", "mov %r1, 0; may_goto +2; add %r1, 1; ja -3; mov %r0, 2; exit", OK),
    c("may_goto_taken_path_checked", "xdp", "may_goto +1; mov %r0, 2; exit", e("R0 !read_ok")),
    c("may_goto_loop_body_checked", "xdp", "mov %r1, 0; may_goto +3; add %r1, 1; jeq %r1, 3, +3; ja -4; mov %r0, 2; exit; ldxdw %r0, [%r1]; exit", e("R1 invalid mem access 'scalar'")),
    c("loop_without_may_goto", "xdp", "mov %r0, 2; jeq %r0, 2, -2; exit", e("infinite loop detected")),
    u("may_goto_unpriv_back_edge", "xdp", "mov %r0, 2; may_goto +1; ja -2; exit", e("back-edge")),
    // ---- timers: the struct bpf_timer of a map value, callbacks run on their own ----
    c("timer_init_callback_start", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 13; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; mov %r1, %r6; add %r1, 8; lddw map_idx %r2, 13; mov %r3, 1; call 169; mov %r1, %r6; add %r1, 8; lddw func %r2, 9; call 170; mov %r1, %r6; add %r1, 8; mov %r2, 1000; mov %r3, 0; call 171; mov %r0, 0; exit; ldxdw %r0, [%r3+0]; mov %r0, 0; exit", OK),
    c("timer_cancel", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 13; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; mov %r1, %r6; add %r1, 8; lddw map_idx %r2, 13; mov %r3, 1; call 169; mov %r1, %r6; add %r1, 8; call 172; mov %r0, 0; exit", OK),
    c("timer_cb_returns_1", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 13; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; mov %r1, %r6; add %r1, 8; lddw map_idx %r2, 13; mov %r3, 1; call 169; mov %r1, %r6; add %r1, 8; lddw func %r2, 9; call 170; mov %r1, %r6; add %r1, 8; mov %r2, 1000; mov %r3, 0; call 171; mov %r0, 0; exit; mov %r0, 1; exit", e("At async callback return the register R0 has value 1 should have been in [0, 0]")),
    c("timer_cb_has_no_caller_regs", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 13; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; mov %r1, %r6; add %r1, 8; lddw map_idx %r2, 13; mov %r3, 1; call 169; mov %r1, %r6; add %r1, 8; lddw func %r2, 9; call 170; mov %r1, %r6; add %r1, 8; mov %r2, 1000; mov %r3, 0; call 171; mov %r0, 0; exit; mov %r0, %r6; exit", e("R6 !read_ok")),
    c("timer_cb_value_oob", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 13; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; mov %r1, %r6; add %r1, 8; lddw map_idx %r2, 13; mov %r3, 1; call 169; mov %r1, %r6; add %r1, 8; lddw func %r2, 9; call 170; mov %r1, %r6; add %r1, 8; mov %r2, 1000; mov %r3, 0; call 171; mov %r0, 0; exit; ldxdw %r0, [%r3+24]; mov %r0, 0; exit", e("invalid access to map value, value_size=24 off=24 size=8")),
    c("timer_wrong_offset", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 13; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; mov %r1, %r6; lddw map_idx %r2, 13; mov %r3, 1; call 169; mov %r0, 0; exit", e("off 0 doesn't point to 'struct bpf_timer' that is at 8")),
    c("timer_without_btf", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r1, %r0; lddw map_idx %r2, 1; mov %r3, 1; call 169; mov %r0, 0; exit", e("has to have BTF in order to use bpf_timer")),
    c("timer_other_map", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 13; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; mov %r1, %r6; add %r1, 8; lddw map_idx %r2, 1; mov %r3, 1; call 169; mov %r0, 0; exit", e("timer pointer in R1 map_uid=0 doesn't match map pointer in R2")),
    c("timer_direct_access", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 13; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; ldxdw %r0, [%r6+8]; exit", e("bpf_timer cannot be accessed directly by load/store")),
    c("timer_in_kprobe", "kprobe", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 13; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; mov %r1, %r6; add %r1, 8; lddw map_idx %r2, 13; mov %r3, 1; call 169; mov %r0, 0; exit", e("tracing progs cannot use bpf_timer yet")),
    // ---- dynptrs (helpers): stack slots, kinds, references, slices ----
    c("dynptr_local_read", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r1, %r0; mov %r2, 16; mov %r3, 0; mov %r4, %r10; add %r4, -32; call 197; mov %r1, %r10; add %r1, -40; mov %r2, 8; mov %r3, %r10; add %r3, -32; mov %r4, 0; mov %r5, 0; call 201; mov %r0, 0; exit", OK),
    c("dynptr_local_write", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r1, %r0; mov %r2, 16; mov %r3, 0; mov %r4, %r10; add %r4, -32; call 197; stdw [%r10-40], 7; mov %r1, %r10; add %r1, -32; mov %r2, 8; mov %r3, %r10; add %r3, -40; mov %r4, 8; mov %r5, 0; call 202; mov %r0, 0; exit", OK),
    c("dynptr_read_uninit", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r1, %r10; add %r1, -40; mov %r2, 8; mov %r3, %r10; add %r3, -32; mov %r4, 0; mov %r5, 0; call 201; mov %r0, 0; exit", e("Expected an initialized dynptr as arg #2")),
    c("dynptr_local_overwritten", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r1, %r0; mov %r2, 16; mov %r3, 0; mov %r4, %r10; add %r4, -32; call 197; stdw [%r10-32], 0; mov %r1, %r10; add %r1, -40; mov %r2, 8; mov %r3, %r10; add %r3, -32; mov %r4, 0; mov %r5, 0; call 201; mov %r0, 0; exit", e("Expected an initialized dynptr as arg #2")),
    c("dynptr_from_stack_refused", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r1, %r0; mov %r2, 16; mov %r3, 0; mov %r4, %r10; add %r4, -32; call 197; mov %r1, %r10; add %r1, -4; mov %r2, 4; mov %r3, 0; mov %r4, %r10; add %r4, -32; call 197; mov %r1, %r10; add %r1, -40; mov %r2, 8; mov %r3, %r10; add %r3, -32; mov %r4, 0; mov %r5, 0; call 201; mov %r0, 0; exit", e("Unsupported reg type fp for bpf_dynptr_from_mem data")),
    c("dynptr_local_reinit", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; mov %r1, %r6; mov %r2, 16; mov %r3, 0; mov %r4, %r10; add %r4, -32; call 197; mov %r1, %r6; mov %r2, 8; mov %r3, 0; mov %r4, %r10; add %r4, -32; call 197; mov %r1, %r10; add %r1, -40; mov %r2, 8; mov %r3, %r10; add %r3, -32; mov %r4, 0; mov %r5, 0; call 201; mov %r0, 0; exit", OK),
    c("dynptr_8_byte_aligned", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r1, %r0; mov %r2, 16; mov %r3, 0; mov %r4, %r10; add %r4, -24; call 197; mov %r1, %r10; add %r1, -40; mov %r2, 8; mov %r3, %r10; add %r3, -24; mov %r4, 0; mov %r5, 0; call 201; mov %r0, 0; exit", OK),
    c("dynptr_misaligned", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r1, %r0; mov %r2, 16; mov %r3, 0; mov %r4, %r10; add %r4, -36; call 197; mov %r0, 0; exit", e("cannot pass in dynptr at an offset=-36")),
    c("dynptr_slot_read", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r1, %r0; mov %r2, 16; mov %r3, 0; mov %r4, %r10; add %r4, -32; call 197; ldxdw %r0, [%r10-32]; exit", e("invalid read from stack off -32+0 size 8")),
    c("dynptr_helper_writes_over_it", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r1, %r0; mov %r2, 16; mov %r3, 0; mov %r4, %r10; add %r4, -32; call 197; mov %r1, %r10; add %r1, -32; mov %r2, 8; mov %r3, %r10; add %r3, -32; mov %r4, 0; mov %r5, 0; call 201; mov %r0, 0; exit", e("potential write to dynptr at off=-32 disallowed")),
    c("dynptr_ringbuf_submit", "xdp", "lddw map_idx %r1, 2; mov %r2, 8; mov %r3, 0; mov %r4, %r10; add %r4, -16; call 198; mov %r1, %r10; add %r1, -16; mov %r2, 0; call 199; mov %r0, 0; exit", OK),
    c("dynptr_ringbuf_discard_on_failure", "xdp", "lddw map_idx %r1, 2; mov %r2, 8; mov %r3, 0; mov %r4, %r10; add %r4, -16; call 198; jeq %r0, 0, +6; mov %r1, %r10; add %r1, -16; mov %r2, 0; call 200; mov %r0, 0; exit; mov %r1, %r10; add %r1, -16; mov %r2, 0; call 199; mov %r0, 0; exit", OK),
    c("dynptr_ringbuf_leak", "xdp", "lddw map_idx %r1, 2; mov %r2, 8; mov %r3, 0; mov %r4, %r10; add %r4, -16; call 198; mov %r0, 0; exit", e("Unreleased reference")),
    c("dynptr_ringbuf_overwrite", "xdp", "lddw map_idx %r1, 2; mov %r2, 8; mov %r3, 0; mov %r4, %r10; add %r4, -16; call 198; stdw [%r10-8], 0; mov %r1, %r10; add %r1, -16; mov %r2, 0; call 199; mov %r0, 0; exit", e("cannot overwrite referenced dynptr")),
    c("dynptr_ringbuf_reserve_again", "xdp", "lddw map_idx %r1, 2; mov %r2, 8; mov %r3, 0; mov %r4, %r10; add %r4, -16; call 198; lddw map_idx %r1, 2; mov %r2, 8; mov %r3, 0; mov %r4, %r10; add %r4, -16; call 198; mov %r1, %r10; add %r1, -16; mov %r2, 0; call 199; mov %r0, 0; exit", e("cannot overwrite referenced dynptr")),
    c("dynptr_ringbuf_double_submit", "xdp", "lddw map_idx %r1, 2; mov %r2, 8; mov %r3, 0; mov %r4, %r10; add %r4, -16; call 198; mov %r1, %r10; add %r1, -16; mov %r2, 0; call 199; mov %r1, %r10; add %r1, -16; mov %r2, 0; call 199; mov %r0, 0; exit", e("arg 1 is an unacquired reference")),
    c("dynptr_submit_local", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r1, %r0; mov %r2, 16; mov %r3, 0; mov %r4, %r10; add %r4, -32; call 197; mov %r1, %r10; add %r1, -32; mov %r2, 0; call 199; mov %r0, 0; exit", e("arg 1 is an unacquired reference")),
    c("dynptr_data_write", "xdp", "lddw map_idx %r1, 2; mov %r2, 8; mov %r3, 0; mov %r4, %r10; add %r4, -16; call 198; mov %r1, %r10; add %r1, -16; mov %r2, 0; mov %r3, 8; call 203; jeq %r0, 0, +1; stdw [%r0], 1; mov %r1, %r10; add %r1, -16; mov %r2, 0; call 199; mov %r0, 0; exit", OK),
    c("dynptr_data_null", "xdp", "lddw map_idx %r1, 2; mov %r2, 8; mov %r3, 0; mov %r4, %r10; add %r4, -16; call 198; mov %r1, %r10; add %r1, -16; mov %r2, 0; mov %r3, 8; call 203; stdw [%r0], 1; mov %r1, %r10; add %r1, -16; mov %r2, 0; call 199; mov %r0, 0; exit", e("R0 may be NULL")),
    c("dynptr_data_oob", "xdp", "lddw map_idx %r1, 2; mov %r2, 8; mov %r3, 0; mov %r4, %r10; add %r4, -16; call 198; mov %r1, %r10; add %r1, -16; mov %r2, 0; mov %r3, 8; call 203; jeq %r0, 0, +1; stdw [%r0+8], 1; mov %r1, %r10; add %r1, -16; mov %r2, 0; call 199; mov %r0, 0; exit", e("invalid access to memory, mem_size=8 off=8 size=8")),
    c("dynptr_data_after_submit", "xdp", "lddw map_idx %r1, 2; mov %r2, 8; mov %r3, 0; mov %r4, %r10; add %r4, -16; call 198; mov %r1, %r10; add %r1, -16; mov %r2, 0; mov %r3, 8; call 203; mov %r6, %r0; mov %r1, %r10; add %r1, -16; mov %r2, 0; call 199; jeq %r6, 0, +1; stdw [%r6], 1; mov %r0, 0; exit", e("R6 !read_ok")),
    c("ringbuf_submit_null", "xdp", "lddw map_idx %r1, 2; mov %r2, 16; mov %r3, 0; call 131; mov %r1, %r0; mov %r2, 0; call 132; mov %r0, 0; exit", e("expected=ringbuf_mem")),
    c("ringbuf_submit_modified", "xdp", "lddw map_idx %r1, 2; mov %r2, 16; mov %r3, 0; call 131; jeq %r0, 0, +4; add %r0, 8; mov %r1, %r0; mov %r2, 0; call 132; mov %r0, 0; exit", e("zero offset")),
    c("ringbuf_size_not_const", "xdp", "call 7; mov %r2, %r0; lddw map_idx %r1, 2; mov %r3, 0; call 131; mov %r0, 0; exit", e("is not a known constant")),
    c("ringbuf_submit_stack_refused", "xdp", "mov %r1, %r10; mov %r2, 0; call 132; mov %r0, 0; exit", e("expected=ringbuf_mem")),
    c("ringbuf_tail_call_with_ref", "xdp", "mov %r6, %r1; lddw map_idx %r1, 2; mov %r2, 16; mov %r3, 0; call 131; jeq %r0, 0, +7; mov %r7, %r0; mov %r1, %r6; lddw map_idx %r2, 4; mov %r3, 0; call 12; mov %r0, 0; exit", e("tail_call would lead to reference leak")),
    c("ringbuf_output_ok", "xdp", "stdw [%r10-8], 0; mov %r2, %r10; add %r2, -8; mov %r3, 8; mov %r4, 0; lddw map_idx %r1, 2; call 130; mov %r0, 0; exit", OK),
    // ---- branches and dead code ----
    c("dead_branch_not_explored", "unspec", "mov %r2, 1; jeq %r2, 1, +2; ldxdw %r0, [%r2]; exit; mov %r0, 0; exit", OK),
    c("live_branch_explored", "unspec", "mov %r2, 1; jeq %r2, 2, +2; ldxdw %r0, [%r2]; exit; mov %r0, 0; exit", e("invalid mem access 'scalar'")),
    c("dead_branch_jgt_range", "xdp", "ldxw %r2, [%r1+12]; and %r2, 15; jgt %r2, 15, +2; mov %r0, 0; exit; ldxdw %r0, [%r2]; exit", OK),
    c("dead_branch_jset", "unspec", "mov %r2, 4; jset %r2, 3, +2; mov %r0, 0; exit; ldxdw %r0, [%r2]; exit", OK),
    c("live_branch_jset", "unspec", "mov %r2, 4; jset %r2, 6, +2; mov %r0, 0; exit; ldxdw %r0, [%r2]; exit", e("invalid mem access")),
    c("dead_branch_jmp32", "xdp", "lddw %r2, 0x100000001; jeq32 %r2, 1, +2; ldxdw %r0, [%r2]; exit; mov %r0, 0; exit", OK),
    c("live_branch_jmp64_vs_32", "xdp", "lddw %r2, 0x100000001; jeq %r2, 1, +2; ldxdw %r0, [%r2]; exit; mov %r0, 0; exit", e("invalid mem access")),
    c("dead_branch_signed", "xdp", "ldxw %r2, [%r1+12]; and %r2, 15; jslt %r2, 0, +2; mov %r0, 0; exit; ldxdw %r0, [%r2]; exit", OK),
    c("jne_refines_bound", "xdp", "ldxw %r2, [%r1+12]; and %r2, 1; jne %r2, 0, +2; mov %r0, 0; exit; jeq %r2, 1, +1; ldxdw %r0, [%r2]; mov %r0, 0; exit", OK),
    c("jmp32_refines_low_half", "xdp", "ldxw %r2, [%r1+12]; jgt32 %r2, 7, +5; jle %r2, 7, +2; ldxdw %r0, [%r2]; exit; mov %r0, 0; exit; mov %r0, 0; exit", OK),
    c("same_reg_compare", "unspec", "mov %r2, 3; jeq %r2, %r2, +2; ldxdw %r0, [%r2]; exit; mov %r0, 0; exit", OK),
    c("reg_reg_compare_refines", "xdp", cat!(lookup1!(), "jeq %r0, 0, +7", "mov %r6, %r0", "call 7", "mov %r1, 8", "jgt %r0, %r1, +3", "add %r6, %r0", "ldxdw %r0, [%r6]", "mov %r0, 0", "mov %r0, 0", "exit"), OK),
    c("unreachable_insn", "unspec", "mov %r0, 0; exit; mov %r0, 1; exit", e("unreachable insn 2")),
    c("jump_into_lddw", "unspec", "ja +1; lddw %r0, 1; exit", e("second half of an lddw")),
    c("fall_off_end", "unspec", "mov %r0, 0", e("fall off the end")),
    // ---- loops ----
    c("bounded_loop", "unspec", "mov %r0, 0; mov %r1, 10; add %r0, 1; sub %r1, 1; jne %r1, 0, -3; exit", OK),
    c("bounded_loop_sum", "xdp", "mov %r0, 0; mov %r2, 0; add %r0, %r2; add %r2, 1; jlt %r2, 100, -3; mov %r0, 1; exit", OK),
    c("infinite_loop_ja", "unspec", "mov %r0, 0; jne %r0, 0, +1; ja -1; exit", e("infinite loop detected")),
    c("infinite_loop_self_jump", "unspec", "mov %r0, 0; jeq %r0, 0, -1; exit", e("infinite loop detected")),
    c("infinite_loop_counter", "unspec", "mov %r0, 0; mov %r2, 1; add %r0, 1; jne %r2, 0, -2; exit", e("too large")),
    c("unbounded_loop_unknown", "xdp", "ldxw %r2, [%r1+12]; mov %r0, 0; add %r0, 1; jne %r0, %r2, -2; mov %r0, 2; exit", e("too large")),
    u("loop_unpriv_refused", "socket_filter", "mov %r0, 0; mov %r1, 10; add %r0, 1; sub %r1, 1; jne %r1, 0, -3; exit", e("back-edge")),
    c("loop_with_map_access", "xdp", cat!(lookup1!(), "jeq %r0, 0, +6", "mov %r1, 0", "mov %r2, %r0", "add %r2, %r1", "stb [%r2], 1", "add %r1, 1", "jlt %r1, 16, -5", "mov %r0, 2", "exit"), OK),
    c("loop_with_map_access_oob", "xdp", cat!(lookup1!(), "jeq %r0, 0, +6", "mov %r1, 0", "mov %r2, %r0", "add %r2, %r1", "stb [%r2], 1", "add %r1, 1", "jle %r1, 16, -5", "mov %r0, 2", "exit"), e("invalid access to map value")),
    // ---- bpf-to-bpf calls ----
    c("call_local", "unspec", "mov %r1, 5; call local f; exit; f: mov %r0, %r1; exit", OK),
    c("call_local_r6_not_passed", "unspec", "mov %r6, 5; call local f; exit; f: mov %r0, %r6; exit", e("R6 !read_ok")),
    c("call_local_r6_preserved", "unspec", "mov %r6, 5; call local f; mov %r0, %r6; exit; f: mov %r0, 1; exit", OK),
    c("call_local_r1_clobbered", "unspec", "mov %r1, 5; call local f; mov %r0, %r1; exit; f: mov %r0, 1; exit", e("R1 !read_ok")),
    c("call_local_no_r0", "unspec", "call local f; exit; f: mov %r1, 0; exit", e("R0 !read_ok")),
    c("call_local_caller_stack_ptr", "unspec", "stdw [%r10-8], 3; mov %r1, %r10; add %r1, -8; call local f; exit; f: ldxdw %r0, [%r1]; exit", OK),
    c("call_local_return_stack_ptr", "unspec", "call local f; mov %r0, 0; exit; f: mov %r0, %r10; exit", e("cannot return stack pointer")),
    c("call_local_own_stack", "unspec", "call local f; exit; f: stdw [%r10-8], 1; ldxdw %r0, [%r10-8]; exit", OK),
    u("call_local_callee_stack_uninit", "unspec", "stdw [%r10-8], 1; call local f; exit; f: ldxdw %r0, [%r10-8]; exit", e("uninitialised")),
    c("call_local_recursion", "unspec", "call local f; exit; f: call local f; exit", e("recursive call")),
    c("call_depth_9", "unspec", "call local f1; exit; f1: call local f2; exit; f2: call local f3; exit; f3: call local f4; exit; f4: call local f5; exit; f5: call local f6; exit; f6: call local f7; exit; f7: call local f8; exit; f8: mov %r0, 0; exit", e("too deep")),
    c("call_depth_8", "unspec", "call local f1; exit; f1: call local f2; exit; f2: call local f3; exit; f3: call local f4; exit; f4: call local f5; exit; f5: call local f6; exit; f6: call local f7; exit; f7: mov %r0, 0; exit", OK),
    c("combined_stack_too_large", "unspec", "stdw [%r10-512], 0; call local f; exit; f: stdw [%r10-8], 0; mov %r0, 0; exit", e("combined stack size")),
    c("combined_stack_ok", "unspec", "stdw [%r10-256], 0; call local f; exit; f: stdw [%r10-256], 0; mov %r0, 0; exit", OK),
    c("jump_out_of_subprog", "unspec", "call local f; ja +2; f: mov %r0, 0; exit; exit", e("jump out of range")),
    c("subprog_falls_through", "unspec", "call local f; exit; f: mov %r0, 0; g: mov %r0, 1; exit", OK),
    c("call_ringbuf_in_callee", "xdp", "call local f; mov %r0, 0; exit; f: lddw map_idx %r1, 2; mov %r2, 8; mov %r3, 0; call 131; jeq %r0, 0, +3; mov %r1, %r0; mov %r2, 0; call 133; mov %r0, 0; exit", OK),
    // ---- return values ----
    c("cgroup_skb_ret_ok", "cgroup_skb", "mov %r0, 1; exit", OK),
    c("cgroup_skb_ret_bad", "cgroup_skb", "mov %r0, 7; exit", e("should have been in [0, 3]")),
    c("cgroup_sock_ret_bad", "cgroup_sock", "mov %r0, 2; exit", e("should have been in [0, 1]")),
    c("cgroup_sock_ret_unknown", "cgroup_sock", "call 5; exit", e("should have been in [0, 1]")),
    c("cgroup_sock_ret_masked", "cgroup_sock", "call 5; and %r0, 1; exit", OK),
    c("xdp_ret_not_checked", "xdp", "mov %r0, 1234; exit", OK),
    u("unpriv_ret_ptr", "socket_filter", "mov %r0, %r10; exit", e("leaks addr as return value")),
    c("priv_ret_ptr", "socket_filter", "mov %r0, %r10; exit", OK),
    // ---- atomics ----
    c("atomic_stack", "unspec", "stdw [%r10-8], 1; mov %r1, 2; lock add [%r10-8], %r1; ldxdw %r0, [%r10-8]; exit", OK),
    u("atomic_stack_uninit", "unspec", "mov %r1, 2; lock add [%r10-8], %r1; mov %r0, 0; exit", e("uninitialised")),
    c("atomic_stack_uninit_priv", "xdp", "mov %r1, 2; lock add [%r10-8], %r1; mov %r0, 0; exit", OK),
    c("atomic_map_value", "xdp", cat!(lookup0!(), "jeq %r0, 0, +2", "mov %r1, 1", "lock fetch add [%r0], %r1", "mov %r0, 0", "exit"), OK),
    c("atomic_ctx_refused", "xdp", "mov %r2, 1; lock add32 [%r1], %r2; mov %r0, 0; exit", e("BPF_ATOMIC stores into R1 ctx")),
    u("atomic_ptr_operand_refused", "unspec", "stdw [%r10-8], 1; lock add [%r10-8], %r10; mov %r0, 0; exit", e("leaks addr into mem")),
    c("atomic_ptr_operand_privileged", "unspec", "stdw [%r10-8], 1; lock add [%r10-8], %r10; mov %r0, 0; exit", OK),
    c("atomic_cmpxchg_needs_r0", "unspec", "stdw [%r10-8], 1; mov %r1, 2; lock cmpxchg [%r10-8], %r1; exit", e("R0 !read_ok")),
    c("atomic_cmpxchg_ok", "unspec", "stdw [%r10-8], 1; mov %r1, 2; mov %r0, 1; lock cmpxchg [%r10-8], %r1; exit", OK),
    c("atomic_fetch_result", "unspec", "stdw [%r10-8], 1; mov %r1, 2; lock fetch add [%r10-8], %r1; mov %r0, %r1; exit", OK),
    // ---- legacy packet loads ----
    c("ldabs_socket_filter", "socket_filter", "mov %r6, %r1; ldabsb 12; exit", OK),
    c("ldabs_needs_r6", "socket_filter", "ldabsb 12; exit", e("R6 != pointer to skb")),
    c("ldabs_wrong_type", "xdp", "mov %r6, %r1; ldabsb 12; exit", e("not allowed for this program type")),
    c("ldind_clobbers", "socket_filter", "mov %r6, %r1; mov %r2, 1; ldindb %r2, 12; mov %r0, %r2; exit", e("R2 !read_ok")),
    // ---- callbacks: bpf_loop ----
    c("loop_cb_ok", "xdp", "mov %r1, 4; lddw func %r2, 6; mov %r3, 0; mov %r4, 0; call 181; mov %r0, 0; exit; mov %r0, 0; exit", OK),
    c("loop_cb_returns_2", "xdp", "mov %r1, 4; lddw func %r2, 6; mov %r3, 0; mov %r4, 0; call 181; mov %r0, 0; exit; mov %r0, 2; exit", e("At callback return the register R0")),
    c("loop_cb_returns_index", "xdp", "mov %r1, 4; lddw func %r2, 6; mov %r3, 0; mov %r4, 0; call 181; mov %r0, 0; exit; mov %r0, %r1; exit", e("At callback return the register R0")),
    c("loop_cb_returns_pointer", "xdp", "mov %r1, 4; lddw func %r2, 6; mov %r3, 0; mov %r4, 0; call 181; mov %r0, 0; exit; mov %r0, %r10; exit", e("R0 not a scalar value at callback return")),
    c("loop_cb_ctx_on_caller_stack", "xdp", "stdw [%r10-8], 0; mov %r1, 4; lddw func %r2, 8; mov %r3, %r10; add %r3, -8; mov %r4, 0; call 181; ldxdw %r0, [%r10-8]; mov %r0, 0; exit; ldxdw %r3, [%r2]; add %r3, %r1; stxdw [%r2], %r3; mov %r0, 0; exit", OK),
    c("loop_cb_ctx_out_of_frame", "xdp", "stdw [%r10-8], 0; mov %r1, 4; lddw func %r2, 8; mov %r3, %r10; add %r3, -8; mov %r4, 0; call 181; ldxdw %r0, [%r10-8]; mov %r0, 0; exit; ldxdw %r3, [%r2+8]; mov %r0, 0; exit", e("invalid read to stack")),
    c("loop_cb_reads_uninit_ctx", "xdp", "mov %r1, 4; lddw func %r2, 7; mov %r3, %r10; add %r3, -8; mov %r4, 0; call 181; mov %r0, 0; exit; ldxdw %r3, [%r2]; mov %r0, 0; exit", OK),
    c("loop_cb_null_ctx_deref", "xdp", "mov %r1, 4; lddw func %r2, 6; mov %r3, 0; mov %r4, 0; call 181; mov %r0, 0; exit; ldxdw %r0, [%r2]; mov %r0, 0; exit", e("invalid mem access 'scalar'")),
    c("loop_callback_not_a_function", "xdp", "mov %r1, 4; mov %r2, 0; mov %r3, 0; mov %r4, 0; call 181; mov %r0, 0; exit", e("expected=func")),
    c("loop_cb_counter_in_caller", "xdp", "stdw [%r10-8], 0; mov %r1, 100; lddw func %r2, 8; mov %r3, %r10; add %r3, -8; mov %r4, 0; call 181; ldxdw %r0, [%r10-8]; mov %r0, 0; exit; ldxdw %r3, [%r2]; add %r3, 1; stxdw [%r2], %r3; mov %r0, 0; exit", OK),
    c("loop_cb_r6_caller_kept", "xdp", "mov %r6, 3; mov %r1, 4; lddw func %r2, 6; mov %r3, 0; mov %r4, 0; call 181; mov %r0, %r6; exit; mov %r0, 0; exit", OK),
    c("loop_cb_caller_r6_not_visible", "xdp", "mov %r6, 3; mov %r1, 4; lddw func %r2, 6; mov %r3, 0; mov %r4, 0; call 181; mov %r0, 0; exit; mov %r0, %r6; exit", e("R6 !read_ok")),
    c("func_ptr_arith", "xdp", "lddw func %r1, 4; add %r1, 8; mov %r0, 0; exit; mov %r0, 0; exit", OK),
    c("func_ptr_modified_callback", "xdp", "mov %r1, 4; lddw func %r2, 7; add %r2, 8; mov %r3, 0; mov %r4, 0; call 181; mov %r0, 0; exit; mov %r0, 0; exit", e("dereference of modified func ptr")),
    c("func_ptr_deref", "xdp", "lddw func %r1, 4; ldxdw %r0, [%r1]; mov %r0, 0; exit; mov %r0, 0; exit", e("invalid mem access 'func'")),
    c("func_ptr_out_of_range", "xdp", "lddw func %r1, 30; mov %r0, 0; exit", e("function address out of range")),
    // ---- callbacks: bpf_for_each_map_elem (map 1: array 4 -> 16) ----
    c("foreach_ok", "xdp", "lddw map_idx %r1, 1; lddw func %r2, 6; mov %r3, 0; mov %r4, 0; call 164; mov %r0, 0; exit; ldxw %r0, [%r2]; ldxdw %r0, [%r3+8]; stdw [%r3], 1; mov %r0, 0; exit", OK),
    c("foreach_value_oob", "xdp", "lddw map_idx %r1, 1; lddw func %r2, 6; mov %r3, 0; mov %r4, 0; call 164; mov %r0, 0; exit; ldxdw %r0, [%r3+16]; mov %r0, 0; exit", e("invalid access to map value")),
    c("foreach_key_write", "xdp", "lddw map_idx %r1, 1; lddw func %r2, 6; mov %r3, 0; mov %r4, 0; call 164; mov %r0, 0; exit; stw [%r2], 1; mov %r0, 0; exit", e("cannot write into map_key")),
    c("foreach_key_oob", "xdp", "lddw map_idx %r1, 1; lddw func %r2, 6; mov %r3, 0; mov %r4, 0; call 164; mov %r0, 0; exit; ldxdw %r0, [%r2]; mov %r0, 0; exit", e("invalid access to map key")),
    c("foreach_ctx_is_r4", "xdp", "stdw [%r10-8], 0; lddw map_idx %r1, 1; lddw func %r2, 7; mov %r3, %r10; add %r3, -8; mov %r4, 0; call 164; mov %r0, 0; exit; ldxdw %r0, [%r4]; mov %r0, 0; exit", OK),
    c("foreach_ringbuf_refused", "xdp", "lddw map_idx %r1, 2; lddw func %r2, 6; mov %r3, 0; mov %r4, 0; call 164; mov %r0, 0; exit; mov %r0, 0; exit", e("cannot pass map_type")),
    // ---- spin locks (map 8: lock at offset 0 of a 16-byte value) ----
    c("spin_lock_ok", "sched_cls", cat!(lookup8!(), "ldxdw %r2, [%r6+8]", "add %r2, 1", "stxdw [%r6+8], %r2", "mov %r1, %r6", "call 94", "mov %r0, 0", "exit"), OK),
    c("spin_unlock_missing", "sched_cls", cat!(lookup8!(), "mov %r0, 0", "exit"), e("bpf_spin_unlock is missing")),
    c("spin_unlock_on_one_path", "sched_cls", cat!(lookup8!(), "ldxdw %r2, [%r6+8]", "jeq %r2, 0, +2", "mov %r1, %r6", "call 94", "mov %r0, 0", "exit"), e("bpf_spin_unlock is missing")),
    c("spin_lock_twice", "sched_cls", cat!(lookup8!(), "mov %r1, %r6", "call 93", "mov %r0, 0", "exit"), e("function calls are not allowed while holding a lock")),
    c("spin_helper_under_lock", "sched_cls", cat!(lookup8!(), "call 5", "mov %r1, %r6", "call 94", "mov %r0, 0", "exit"), e("function calls are not allowed while holding a lock")),
    c("spin_lock_direct_access", "sched_cls", cat!(lookup8!(), "ldxw %r2, [%r6]", "mov %r1, %r6", "call 94", "mov %r0, 0", "exit"), e("bpf_spin_lock cannot be accessed directly")),
    c("spin_lock_wrong_offset", "sched_cls", cat!(lookup8_nolock!(), "mov %r1, %r6", "add %r1, 8", "call 93", "mov %r1, %r6", "add %r1, 8", "call 94", "mov %r0, 0", "exit"), e("doesn't point to 'struct bpf_spin_lock'")),
    c("spin_unlock_without_lock", "sched_cls", cat!(lookup8_nolock!(), "mov %r1, %r6", "call 94", "mov %r0, 0", "exit"), e("without taking a lock")),
    c("spin_lock_maybe_null", "sched_cls", "stw [%r10-4], 4; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 8; call 1; mov %r1, %r0; call 93; mov %r0, 0; exit", e("may be NULL")),
    c("spin_lock_on_stack", "sched_cls", "mov %r1, %r10; add %r1, -8; call 93; mov %r0, 0; exit", e("expected=map_value")),
    c("spin_lock_variable_offset", "sched_cls", cat!(lookup8_nolock!(), "ldxw %r2, [%r6+4]", "and %r2, 4", "mov %r1, %r6", "add %r1, %r2", "call 93", "mov %r0, 0", "exit"), e("doesn't have constant offset")),
    c("spin_lock_no_btf_aligned", "sched_cls", cat!(lookup1!(), "jne %r0, 0, +2", "mov %r0, 0", "exit", "mov %r6, %r0", "mov %r1, %r6", "add %r1, 4", "call 93", "mov %r1, %r6", "add %r1, 4", "call 94", "mov %r0, 0", "exit"), e("has to have BTF in order to use bpf_spin_lock")),
    c("spin_lock_no_btf_misaligned", "sched_cls", cat!(lookup1!(), "jne %r0, 0, +2", "mov %r0, 0", "exit", "mov %r6, %r0", "mov %r1, %r6", "add %r1, 2", "call 93", "mov %r0, 0", "exit"), e("has to have BTF in order to use bpf_spin_lock")),
    c("spin_lock_btf_wrong_offset", "sched_cls", cat!(lookup8_nolock!(), "mov %r1, %r6", "add %r1, 4", "call 93", "mov %r0, 0", "exit"), e("doesn't point to 'struct bpf_spin_lock'")),
    c("spin_lock_map_in_socket_filter", "socket_filter", cat!(lookup8!(), "mov %r1, %r6", "call 94", "mov %r0, 0", "exit"), e("socket filter progs cannot use bpf_spin_lock yet")),
    c("spin_lock_map_in_kprobe", "kprobe", cat!(lookup8_nolock!(), "mov %r0, 0", "exit"), e("tracing progs cannot use bpf_spin_lock yet")),
    c("spin_lock_map_in_xdp", "xdp", cat!(lookup8!(), "mov %r1, %r6", "call 94", "mov %r0, 2", "exit"), OK),
    c("spin_lock_held_into_subprog", "sched_cls", cat!(lookup8!(), "call local f", "mov %r1, %r6", "call 94", "mov %r0, 0", "exit", "f: mov %r0, 0", "exit"), OK),
    c("spin_lock_taken_in_subprog", "sched_cls", cat!(lookup8_nolock!(), "mov %r1, %r6", "call local f", "mov %r1, %r6", "call 94", "mov %r0, 0", "exit", "f: call 93", "mov %r0, 0", "exit"), OK),
    c("spin_lock_taken_in_subprog_never_released", "sched_cls", cat!(lookup8_nolock!(), "mov %r1, %r6", "call local f", "mov %r0, 0", "exit", "f: call 93", "mov %r0, 0", "exit"), e("bpf_spin_unlock is missing")),
    // ---- map in map (map 9: array of hash 4 -> 8) ----
    c("map_in_map_lookup", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 9; call 1; jeq %r0, 0, +6; mov %r1, %r0; mov %r2, %r10; add %r2, -4; call 1; jeq %r0, 0, +1; ldxdw %r0, [%r0]; mov %r0, 0; exit", OK),
    c("map_in_map_inner_value_oob", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 9; call 1; jeq %r0, 0, +6; mov %r1, %r0; mov %r2, %r10; add %r2, -4; call 1; jeq %r0, 0, +1; ldxdw %r0, [%r0+8]; mov %r0, 0; exit", e("invalid access to map value, value_size=8")),
    c("map_in_map_inner_unchecked", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 9; call 1; mov %r1, %r0; mov %r2, %r10; add %r2, -4; call 1; mov %r0, 0; exit", e("may be NULL")),
    c("map_in_map_update_outer", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; mov %r3, %r2; lddw map_idx %r1, 9; mov %r4, 0; call 2; mov %r0, 0; exit", e("cannot pass map_type")),
    c("map_in_map_without_inner", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 10; call 1; mov %r0, 0; exit", e("inner map is not described")),
    c("map_in_map_deref_inner_map", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 9; call 1; jeq %r0, 0, +1; ldxdw %r0, [%r0]; mov %r0, 0; exit", OK),
    c("map_in_map_inner_max_entries", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 9; call 1; jeq %r0, 0, +1; ldxw %r0, [%r0+76]; mov %r0, 0; exit", OK),
    c("map_in_map_inner_unchecked_deref", "xdp", "stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 9; call 1; ldxw %r0, [%r0+76]; mov %r0, 0; exit", e("may be NULL")),
    c("map_in_map_inner_update", "xdp", "stw [%r10-4], 0; stdw [%r10-16], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 9; call 1; jeq %r0, 0, +7; mov %r1, %r0; mov %r2, %r10; add %r2, -4; mov %r3, %r10; add %r3, -16; mov %r4, 0; call 2; mov %r0, 0; exit", OK),
    // ---- global data (map 3: .data, map 11: .rodata, read-only) ----
    c("rodata_read", "xdp", "lddw map_idx_value %r1, 0x40000000b; ldxw %r0, [%r1]; mov %r0, 0; exit", OK),
    c("rodata_write_refused", "xdp", "lddw map_idx_value %r1, 0x40000000b; stw [%r1], 1; mov %r0, 0; exit", e("write into map forbidden")),
    c("data_write", "xdp", "lddw map_idx_value %r1, 0x400000003; stw [%r1], 1; mov %r0, 0; exit", OK),
    c("data_read_past_value", "xdp", "lddw map_idx_value %r1, 0xc00000003; ldxdw %r0, [%r1]; mov %r0, 0; exit", e("invalid access to map value")),
    c("data_offset_past_value", "xdp", "lddw map_idx_value %r1, 0x1000000003; mov %r0, 0; exit", e("invalid access to map value pointer")),
    c("data_as_helper_key", "xdp", "lddw map_idx_value %r2, 0x3; lddw map_idx %r1, 0; call 1; mov %r0, 0; exit", OK),
    // ---- 32-bit pointer subtraction ----
    c("ptr_sub32_privileged", "unspec", "mov %r2, %r10; mov %r3, %r10; sub32 %r2, %r3; mov %r0, %r2; exit", OK),
    u("ptr_sub32_unprivileged", "socket_filter", "mov %r2, %r10; mov %r3, %r10; sub32 %r2, %r3; mov %r0, 0; exit", e("32-bit pointer arithmetic prohibited")),
    c("ptr_add32_privileged", "unspec", "mov %r2, %r10; add32 %r2, 8; mov %r0, 0; exit", e("32-bit pointer arithmetic prohibited")),
    // ---- precision: two paths meet with different numbers; the second must not be pruned
    // when the number later decides something (an offset, a jump, a stored value, a return
    // value). The first path (fall-through, explored first) is safe, the second is not. ----
    c("precision_ptr_offset", "xdp", "call 7; mov %r8, %r0; call 7; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jgt %r8, 100, +2; mov %r6, 0; ja +1; mov %r6, 64; stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; add %r0, %r6; ldxb %r1, [%r0]; mov %r0, 0; exit", e("invalid access to map value")),
    c("precision_through_alu", "xdp", "call 7; mov %r8, %r0; call 7; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jgt %r8, 100, +2; mov %r6, 0; ja +1; mov %r6, 32; mov %r7, %r6; lsh %r7, 1; stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; add %r0, %r7; ldxb %r1, [%r0]; mov %r0, 0; exit", e("invalid access to map value")),
    c("precision_through_alu_after_join", "xdp", "call 7; mov %r8, %r0; call 7; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jgt %r8, 100, +2; mov %r6, 0; ja +1; mov %r6, 32; stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r7, %r6; lsh %r7, 1; add %r0, %r7; ldxb %r1, [%r0]; mov %r0, 0; exit", e("invalid access to map value")),
    c("precision_jump", "xdp", "call 7; mov %r8, %r0; call 7; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jgt %r8, 100, +2; mov %r6, 0; ja +1; mov %r6, 64; jgt %r6, 10, +2; mov %r0, 0; exit; mov %r0, %r5; exit", e("R5 !read_ok")),
    c("precision_spilled", "xdp", "call 7; mov %r8, %r0; call 7; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jgt %r8, 100, +2; mov %r6, 0; ja +1; mov %r6, 64; stxdw [%r10-16], %r6; stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; ldxdw %r7, [%r10-16]; add %r0, %r7; ldxb %r1, [%r0]; mov %r0, 0; exit", e("invalid access to map value")),
    // Numbers stored anywhere but the stack are imprecise (a load from a map value gives an
    // unknown number back); spills through a copy of the frame pointer, or through one
    // reloaded from the stack, still count as spills.
    c("precision_spilled_through_copy", "xdp", "call 7; mov %r8, %r0; call 7; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jgt %r8, 100, +2; mov %r6, 0; ja +1; mov %r6, 64; mov %r3, %r10; add %r3, -16; stxdw [%r3], %r6; stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; ldxdw %r7, [%r10-16]; add %r0, %r7; ldxb %r1, [%r0]; mov %r0, 0; exit", e("invalid access to map value")),
    c("precision_spilled_through_reload", "xdp", "call 7; mov %r8, %r0; call 7; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jgt %r8, 100, +2; mov %r6, 0; ja +1; mov %r6, 64; mov %r3, %r10; add %r3, -16; stxdw [%r10-24], %r3; ldxdw %r4, [%r10-24]; stxdw [%r4], %r6; stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; ldxdw %r7, [%r10-16]; add %r0, %r7; ldxb %r1, [%r0]; mov %r0, 0; exit", e("invalid access to map value")),
    c("precision_map_value_store", "xdp", "call 7; mov %r8, %r0; stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; jgt %r8, 100, +2; mov %r6, 0; ja +1; mov %r6, 64; stxdw [%r0], %r6; ldxdw %r7, [%r0]; add %r0, %r7; ldxb %r1, [%r0]; mov %r0, 0; exit", e("unbounded min value")),
    c("precision_return_value", "cgroup_skb", "call 7; mov %r8, %r0; call 7; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jgt %r8, 100, +2; mov %r6, 1; ja +1; mov %r6, 9; mov %r0, %r6; exit", e("should have been in")),
    c("precision_subprog_return", "xdp", "call local f; mov %r6, %r0; stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; add %r0, %r6; ldxb %r1, [%r0]; mov %r0, 0; exit; f: call 7; mov %r8, %r0; call 7; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jgt %r8, 100, +2; mov %r6, 0; ja +1; mov %r6, 64; mov %r0, %r6; exit", e("invalid access to map value")),
    c("precision_unused_number_ok", "xdp", "call 7; mov %r8, %r0; call 7; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jgt %r8, 100, +2; mov %r6, 0; ja +1; mov %r6, 64; mov %r7, %r6; lsh %r7, 1; stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; ldxb %r1, [%r0]; mov %r0, 0; exit", OK),
    // ---- linked numbers: a copy learns the bounds a jump gives the original, and back ----
    c("linked_mov64_copy_compared", "xdp", idx!("mov %r3, %r2; jlt %r3, 16, +2; mov %r0, 0; exit"), OK),
    c("linked_mov64_original_compared", "xdp", idx!("mov %r3, %r2; jlt %r2, 16, +2; mov %r0, 0; exit; mov %r2, %r3"), OK),
    c("linked_mov32", "xdp", idx!("mov32 %r3, %r2; jlt32 %r3, 16, +2; mov %r0, 0; exit"), OK),
    c("linked_mov32_jmp64", "xdp", idx!("mov32 %r3, %r2; jlt %r3, 16, +2; mov %r0, 0; exit"), OK),
    // A 32-bit copy of a number wider than 32 bits is not the same number.
    c("linked_mov32_wide_source", "xdp", idx!("lsh %r2, 1; mov32 %r3, %r2; jlt32 %r3, 16, +2; mov %r0, 0; exit"), e("R6 math between map_value pointer and register with unbounded max value")),
    c("linked_movsx_no_sign_change", "xdp", idx!("and %r2, 0xff; movsx1664 %r3, %r2; jlt %r3, 16, +2; mov %r0, 0; exit"), OK),
    c("linked_movsx_may_change_sign", "xdp", idx!("movsx1664 %r3, %r2; jlt %r3, 16, +2; mov %r0, 0; exit"), e("R6 math between map_value pointer and register with unbounded max value")),
    // Linux has a 32-bit difference of pointers as a 64-bit unknown: its 32-bit copy is not linked.
    c("linked_mov32_pointer_difference", "xdp", idx!("ldxw %r2, [%r7+4]; ldxw %r3, [%r7]; sub32 %r2, %r3; mov32 %r3, %r2; jlt32 %r2, 16, +2; mov %r0, 0; exit; mov %r2, %r3"), e("R6 math between map_value pointer and register with unbounded max value")),
    c("linked_mov32_number_difference", "xdp", idx!("ldxw %r3, [%r7+16]; sub32 %r2, %r3; mov32 %r3, %r2; jlt32 %r2, 16, +2; mov %r0, 0; exit; mov %r2, %r3"), OK),
    // Two linked registers compared with each other: both end with the destination's bounds.
    // Linux keeps the link through `rX += c` or `rX -= c` (c fits in an i32, once), with c as
    // the offset between the two numbers (BPF_ADD_CONST; 6.11+, negative and sub in 6.18.y).
    // Like Linux: a register compared with itself is a fixed outcome only for a known
    // number; div/mod of constants and shifts by the width or more give unknown numbers.
    c("same_reg_compare_unknown_both_ways", "xdp", idx!("and %r2, 15; jsle %r2, %r2, +1; ldxdw %r0, [%r9]"), e("R9 !read_ok")),
    c("same_reg_compare_known_one_way", "xdp", idx!("mov %r3, 5; jsle %r3, %r3, +1; ldxdw %r0, [%r9]; and %r2, 15"), OK),
    c("mod32_of_constants_unknown", "xdp", idx!("mov %r2, 0; mod32 %r2, 170"), e("with unbounded")),
    c("div32_result_not_zero_extended_used", "xdp", idx!("and %r2, 15; div32 %r2, 1; jsge %r2, 0, +1; ldxdw %r0, [%r9]; and %r2, 15"), e("R9 !read_ok")),
    c("shift_by_width_unknown", "xdp", idx!("mov %r2, 1; mov %r3, 64; rsh %r2, %r3"), e("unbounded min value")),
    c("shift_of_constants_folded", "xdp", idx!("mov %r2, 20; mov %r3, 1; rsh %r2, %r3"), OK),
    c("linked_add_const_copy_compared", "xdp", idx!("mov %r3, %r2; add %r3, 4; jlt %r3, 20, +2; mov %r0, 0; exit"), OK),
    c("linked_add_const_original_compared", "xdp", idx!("mov %r3, %r2; add %r3, 4; jlt %r2, 12, +2; mov %r0, 0; exit; mov %r2, %r3"), OK),
    c("linked_add_const_too_far", "xdp", idx!("mov %r3, %r2; add %r3, 4; jlt %r2, 13, +2; mov %r0, 0; exit; mov %r2, %r3"), e("invalid access to map value")),
    c("linked_add_const_both_offset", "xdp", idx!("mov %r3, %r2; add %r3, 4; mov %r4, %r2; add %r4, 2; jlt %r4, 10, +2; mov %r0, 0; exit; mov %r2, %r3"), OK),
    c("linked_add_const_twice", "xdp", idx!("mov %r3, %r2; add %r3, 2; add %r3, 2; jlt %r3, 20, +2; mov %r0, 0; exit"), e("unbounded max value")),
    c("linked_add_negative_const", "xdp", idx!("mov %r3, %r2; add %r3, -4; jlt %r3, 12, +2; mov %r0, 0; exit"), OK),
    c("linked_sub_const", "xdp", idx!("mov %r3, %r2; sub %r3, 4; jlt %r3, 12, +2; mov %r0, 0; exit"), OK),
    c("linked_sub_const_too_far", "xdp", idx!("mov %r3, %r2; sub %r3, 4; jlt %r3, 13, +2; mov %r0, 0; exit"), e("invalid access to map value")),
    c("linked_add_const_too_large", "xdp", idx!("mov %r3, %r2; lddw %r4, 0x80000000; add %r3, %r4; lddw %r4, 0x80000010; jlt %r3, %r4, +2; mov %r0, 0; exit"), e("unbounded max value")),
    c("linked_add32_const_bounded", "xdp", idx!("mov %r3, %r2; add32 %r3, 4; jlt %r3, 4, +1; jlt %r3, 20, +2; mov %r0, 0; exit"), OK),
    c("linked_add32_const_wraps", "xdp", idx!("mov %r3, %r2; add32 %r3, 4; jlt %r3, 20, +2; mov %r0, 0; exit"), e("unbounded max value")),
    c("linked_sub32_const_original_compared", "xdp", idx!("mov %r3, %r2; sub32 %r3, 1; jlt %r2, 17, +2; mov %r0, 0; exit; jlt %r2, 1, -3; mov %r2, %r3"), OK),
    c("linked_add32_wide_source", "xdp", idx!("lsh %r2, 1; mov %r3, %r2; add32 %r3, 4; jlt %r3, 4, +1; jlt %r3, 20, +2; mov %r0, 0; exit"), e("unbounded max value")),
    c("linked_add_const_copy_of_copy", "xdp", idx!("mov %r3, %r2; add %r3, 4; mov %r4, %r3; jlt %r4, 20, +2; mov %r0, 0; exit"), e("unbounded max value")),
    c("linked_add_const_spilled", "xdp", idx!("mov %r3, %r2; add %r3, 4; stxdw [%r10-16], %r3; jlt %r2, 12, +2; mov %r0, 0; exit; ldxdw %r2, [%r10-16]"), e("unbounded max value")),
    c("linked_compared_with_each_other", "xdp", idx!("mov %r3, %r2; jlt %r3, 16, +2; mov %r0, 0; exit; jle %r2, %r3, +2; mov %r0, 0; exit"), OK),
    c("linked_chain", "xdp", idx!("mov %r3, %r2; mov %r4, %r3; mov %r5, %r4; jlt %r5, 16, +2; mov %r0, 0; exit"), OK),
    c("linked_spill_fill", "xdp", idx!("stxdw [%r10-16], %r2; jlt %r2, 16, +2; mov %r0, 0; exit; ldxdw %r2, [%r10-16]"), OK),
    c("linked_copy_spilled", "xdp", idx!("mov %r3, %r2; stxdw [%r10-16], %r3; mov %r3, 0; jlt %r2, 16, +2; mov %r0, 0; exit; ldxdw %r2, [%r10-16]"), OK),
    c("linked_fill_compared", "xdp", idx!("stxdw [%r10-16], %r2; ldxdw %r3, [%r10-16]; jlt %r3, 16, +2; mov %r0, 0; exit"), OK),
    c("linked_both_sides", "xdp", idx!("mov %r3, %r2; jge %r3, 16, +1; ja +2; mov %r0, 0; exit"), OK),
    // The link is gone once either register is written by anything but a copy.
    c("linked_broken_by_load", "xdp", idx!("mov %r3, %r2; ldxw %r2, [%r7+12]; jlt %r3, 16, +2; mov %r0, 0; exit"), e("R6 math between map_value pointer and register with unbounded max value")),
    c("linked_broken_by_alu_on_copy", "xdp", idx!("mov %r3, %r2; or %r3, 0; jlt %r3, 16, +2; mov %r0, 0; exit"), e("R6 math between map_value pointer and register with unbounded max value")),
    c("linked_broken_by_alu_on_original", "xdp", idx!("mov %r3, %r2; xor %r2, 0; jlt %r3, 16, +2; mov %r0, 0; exit"), e("R6 math between map_value pointer and register with unbounded max value")),
    // (Not `add`: Linux 6.10+ keeps a link through the addition of a constant, with an
    // offset, which this verifier does not model: it unlinks, refusing more.)
    c("linked_broken_by_alu32", "xdp", idx!("mov %r3, %r2; or32 %r2, 0; jlt %r3, 16, +2; mov %r0, 0; exit"), e("R6 math between map_value pointer and register with unbounded max value")),
    c("linked_broken_by_neg", "xdp", idx!("mov %r3, %r2; neg %r3; neg %r3; jlt %r3, 16, +2; mov %r0, 0; exit"), e("R6 math between map_value pointer and register with unbounded max value")),
    c("linked_spill_overwritten", "xdp", idx!("stxdw [%r10-16], %r2; ldxw %r3, [%r7+12]; stxdw [%r10-16], %r3; jlt %r2, 16, +2; mov %r0, 0; exit; ldxdw %r2, [%r10-16]"), e("R6 math between map_value pointer and register with unbounded max value")),
    // Pruning: a state where r2 and r3 are linked does not cover one where they are not (both
    // orders of exploring the two paths to the join).
    c("linked_pruning_trap_linked_first", "xdp", "mov %r7, %r1; stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; ldxw %r2, [%r7+12]; ldxw %r4, [%r7+16]; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jeq %r4, 0, +2; mov %r3, %r2; ja +1; ldxw %r3, [%r7+12]; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jlt %r3, 16, +2; mov %r0, 0; exit; add %r6, %r2; ldxb %r0, [%r6]; mov %r0, 0; exit", e("R6 math between map_value pointer and register with unbounded max value")),
    c("linked_pruning_trap_unlinked_first", "xdp", "mov %r7, %r1; stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; ldxw %r2, [%r7+12]; ldxw %r4, [%r7+16]; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jeq %r4, 0, +2; ldxw %r3, [%r7+12]; ja +1; mov %r3, %r2; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jlt %r3, 16, +2; mov %r0, 0; exit; add %r6, %r2; ldxb %r0, [%r6]; mov %r0, 0; exit", e("R6 math between map_value pointer and register with unbounded max value")),
    // Both paths linked (by different ids): pruned, accepted.
    c("linked_pruning_both_linked", "xdp", "mov %r7, %r1; stw [%r10-4], 0; mov %r2, %r10; add %r2, -4; lddw map_idx %r1, 1; call 1; jne %r0, 0, +2; mov %r0, 0; exit; mov %r6, %r0; ldxw %r2, [%r7+12]; ldxw %r4, [%r7+16]; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jeq %r4, 0, +2; mov %r3, %r2; ja +2; ldxw %r2, [%r7+16]; mov %r3, %r2; mov %r9, 0; mov %r9, 0; mov %r9, 0; mov %r9, 0; jlt %r3, 16, +2; mov %r0, 0; exit; add %r6, %r2; ldxb %r0, [%r6]; mov %r0, 0; exit", OK),
    // ---- unsupported features are refused, not accepted ----
    c("callx_refused", "unspec", "mov %r1, 0; callx %r1; exit", e("indirect call")),
    u("kfunc_unprivileged", "xdp", "call kfunc 1; mov %r0, 0; exit", e("allowed for CAP_BPF and CAP_SYS_ADMIN")),
    // Linux refuses callx too, whatever the register holds (a function's address here).
    c("callx_refused_xdp", "xdp", "mov %r1, 1; callx %r1; mov %r0, 0; exit", e("indirect call")),
    c("callx_function_refused", "xdp", "lddw func %r1, 4; callx %r1; mov %r0, 0; exit; mov %r0, 0; exit", e("indirect call")),
    c("may_goto_zero_offset", "unspec", "may_goto +0; mov %r0, 0; exit", OK),
    c("lddw_map_fd_refused", "unspec", "lddw map_fd %r1, 3; mov %r0, 0; exit", e("not supported")),
    c("kfunc_refused", "unspec", "call runtime 5; exit", e("kernel function call")),
];
