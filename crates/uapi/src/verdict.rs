//! Names of program return values (`enum xdp_action`, `TC_ACT_*`, `SK_*`).

use crate::ProgramType;

/// `XDP_ABORTED`: error, drop and trace.
pub const XDP_ABORTED: u32 = 0;
/// `XDP_DROP`: drop the packet.
pub const XDP_DROP: u32 = 1;
/// `XDP_PASS`: continue to the network stack.
pub const XDP_PASS: u32 = 2;
/// `XDP_TX`: bounce out of the receiving interface.
pub const XDP_TX: u32 = 3;
/// `XDP_REDIRECT`: redirect (after `bpf_redirect*`).
pub const XDP_REDIRECT: u32 = 4;

/// `TC_ACT_UNSPEC`: use the qdisc's default action.
pub const TC_ACT_UNSPEC: i32 = -1;
/// `TC_ACT_OK`: pass the packet.
pub const TC_ACT_OK: i32 = 0;
/// `TC_ACT_RECLASSIFY`: restart classification.
pub const TC_ACT_RECLASSIFY: i32 = 1;
/// `TC_ACT_SHOT`: drop the packet.
pub const TC_ACT_SHOT: i32 = 2;
/// `TC_ACT_PIPE`: continue with the next action.
pub const TC_ACT_PIPE: i32 = 3;
/// `TC_ACT_STOLEN`: consumed by the action.
pub const TC_ACT_STOLEN: i32 = 4;
/// `TC_ACT_QUEUED`: queued by the action.
pub const TC_ACT_QUEUED: i32 = 5;
/// `TC_ACT_REPEAT`: repeat the action.
pub const TC_ACT_REPEAT: i32 = 6;
/// `TC_ACT_REDIRECT`: redirect (after `bpf_redirect*`).
pub const TC_ACT_REDIRECT: i32 = 7;
/// `TC_ACT_TRAP`: hand to the CPU (hardware offload).
pub const TC_ACT_TRAP: i32 = 8;

/// `SK_DROP` (sk_skb, sk_msg, sk_reuseport, sk_lookup).
pub const SK_DROP: u32 = 0;
/// `SK_PASS` (sk_skb, sk_msg, sk_reuseport, sk_lookup).
pub const SK_PASS: u32 = 1;

const XDP_NAMES: [&str; 5] = [
    "XDP_ABORTED",
    "XDP_DROP",
    "XDP_PASS",
    "XDP_TX",
    "XDP_REDIRECT",
];
const TC_NAMES: [&str; 9] = [
    "TC_ACT_OK",
    "TC_ACT_RECLASSIFY",
    "TC_ACT_SHOT",
    "TC_ACT_PIPE",
    "TC_ACT_STOLEN",
    "TC_ACT_QUEUED",
    "TC_ACT_REPEAT",
    "TC_ACT_REDIRECT",
    "TC_ACT_TRAP",
];

/// The symbolic name of return value `r0` for a program type, if that type's
/// return value is an enumerated verdict (XDP, TC, SK_*); `None` otherwise
/// (e.g. a socket filter returns a length) or when `r0` is not a known value.
///
/// XDP and SK verdicts are read from the low 32 bits as the kernel does;
/// TC verdicts as a signed 32-bit value so that `TC_ACT_UNSPEC` (-1) names.
pub fn verdict_name(prog_type: ProgramType, r0: u64) -> Option<&'static str> {
    let low = r0 as u32;
    match prog_type {
        ProgramType::Xdp => XDP_NAMES.get(low as usize).copied(),
        ProgramType::SchedCls | ProgramType::SchedAct => {
            let v = low as i32;
            if v == TC_ACT_UNSPEC {
                Some("TC_ACT_UNSPEC")
            } else {
                usize::try_from(v)
                    .ok()
                    .and_then(|i| TC_NAMES.get(i).copied())
            }
        }
        ProgramType::SkSkb
        | ProgramType::SkMsg
        | ProgramType::SkReuseport
        | ProgramType::SkLookup => match low {
            SK_DROP => Some("SK_DROP"),
            SK_PASS => Some("SK_PASS"),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(verdict_name(ProgramType::Xdp, 2), Some("XDP_PASS"));
        assert_eq!(verdict_name(ProgramType::Xdp, 5), None);
        assert_eq!(verdict_name(ProgramType::SchedCls, 2), Some("TC_ACT_SHOT"));
        assert_eq!(
            verdict_name(ProgramType::SchedAct, u64::MAX),
            Some("TC_ACT_UNSPEC")
        );
        assert_eq!(
            verdict_name(ProgramType::SchedCls, 0xffff_ffff),
            Some("TC_ACT_UNSPEC")
        );
        assert_eq!(
            verdict_name(ProgramType::SchedCls, 7),
            Some("TC_ACT_REDIRECT")
        );
        assert_eq!(verdict_name(ProgramType::SkSkb, 1), Some("SK_PASS"));
        assert_eq!(verdict_name(ProgramType::SocketFilter, 0), None);
    }
}
