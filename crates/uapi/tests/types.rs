//! Program, attach and map type numbering and names.

use std::str::FromStr;
use waggle_uapi::{AttachType, MapType, ProgramType, UnknownName};

#[test]
fn program_types() {
    assert_eq!(ProgramType::ALL.len(), 33);
    for (i, p) in ProgramType::ALL.iter().enumerate() {
        assert_eq!(p.as_u32() as usize, i);
        assert_eq!(ProgramType::from_u32(i as u32), Some(*p));
        assert_eq!(ProgramType::from_str(p.name()), Ok(*p));
        assert_eq!(p.to_string(), p.name());
    }
    assert_eq!(ProgramType::SocketFilter.as_u32(), 1);
    assert_eq!(ProgramType::Xdp.as_u32(), 6);
    assert_eq!(ProgramType::SchedCls.name(), "sched_cls");
    assert_eq!(ProgramType::Syscall.as_u32(), 31);
    assert_eq!(ProgramType::Netfilter.as_u32(), 32);
    assert_eq!(ProgramType::from_u32(33), None);
    assert_eq!(
        "bogus".parse::<ProgramType>(),
        Err(UnknownName {
            kind: "program type",
            name: "bogus".into()
        })
    );
    assert_eq!(ProgramType::PLAIN, ProgramType::Unspec);
}

#[test]
fn attach_types() {
    for (i, a) in AttachType::ALL.iter().enumerate() {
        assert_eq!(a.as_u32() as usize, i);
        assert_eq!(a.name().parse::<AttachType>(), Ok(*a));
    }
    assert_eq!(AttachType::CgroupInetIngress.as_u32(), 0);
    assert_eq!(AttachType::TraceFentry.as_u32(), 24);
    assert_eq!(AttachType::Xdp.as_u32(), 37);
    assert_eq!(AttachType::LsmCgroup.as_u32(), 43);
    assert_eq!(AttachType::NetkitPeer.as_u32(), 55);
}

#[test]
fn map_types() {
    assert_eq!(MapType::ALL.len(), 34);
    for (i, m) in MapType::ALL.iter().enumerate() {
        assert_eq!(m.as_u32() as usize, i);
        assert_eq!(m.name().parse::<MapType>(), Ok(*m));
    }
    assert_eq!(MapType::Hash.as_u32(), 1);
    assert_eq!(MapType::LpmTrie.as_u32(), 11);
    assert_eq!(MapType::Ringbuf.as_u32(), 27);
    assert_eq!(MapType::BloomFilter.as_u32(), 30);
    assert_eq!(MapType::Arena.as_u32(), 33);
    assert_eq!(MapType::try_from(27), Ok(MapType::Ringbuf));
    assert_eq!(MapType::try_from(99), Err(99));
    assert!(MapType::LruPercpuHash.is_percpu() && !MapType::Hash.is_percpu());
}
