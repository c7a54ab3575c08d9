//! The wire protocol (documented in `docs/protocol.md`): length-prefixed, versioned frames
//! carrying one postcard-encoded [`Request`] or [`Response`] each.
//!
//! ```text
//! frame := len: u32 LE (bytes that follow, 2..=MAX_FRAME) | version: u16 LE | body
//! ```
//!
//! A body that does not decode gets an [`Response::Error`] (`EINVAL`) and the connection goes
//! on, since the length prefix keeps frames apart; only a length over [`MAX_FRAME`] (no way to
//! skip it cheaply) or a wrong version closes the connection after the error reply.

use serde::{Deserialize, Serialize};

/// Protocol version; bumped on any incompatible change of the messages.
pub const VERSION: u16 = 3;

/// Largest frame accepted (length prefix value): room for big ELF objects, small enough that
/// a bogus length cannot make the daemon allocate without bound.
pub const MAX_FRAME: usize = 64 << 20;

/// Handles on the wire: numbers private to one connection (like a process's fds).
pub type WireHandle = u32;

/// A request from a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// First message: the client's protocol version. Answered with [`Response::Hello`].
    Hello {
        /// The client's [`VERSION`].
        version: u16,
    },
    /// `BPF_MAP_CREATE`.
    MapCreate {
        /// `BPF_MAP_TYPE_*`.
        map_type: u32,
        /// Key size.
        key_size: u32,
        /// Value size.
        value_size: u32,
        /// Maximum entries.
        max_entries: u32,
        /// `BPF_F_*` flags.
        flags: u32,
        /// Name.
        name: String,
    },
    /// `BPF_MAP_LOOKUP_ELEM`.
    MapLookup {
        /// The map.
        map: WireHandle,
        /// The key.
        key: Vec<u8>,
    },
    /// `BPF_MAP_UPDATE_ELEM`.
    MapUpdate {
        /// The map.
        map: WireHandle,
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`, `BPF_F_LOCK`.
        flags: u64,
    },
    /// `BPF_MAP_DELETE_ELEM`.
    MapDelete {
        /// The map.
        map: WireHandle,
        /// The key.
        key: Vec<u8>,
    },
    /// `BPF_MAP_GET_NEXT_KEY`.
    MapGetNextKey {
        /// The map.
        map: WireHandle,
        /// The current key (`None`: the first).
        key: Option<Vec<u8>>,
    },
    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`.
    MapLookupAndDelete {
        /// The map.
        map: WireHandle,
        /// The key (empty for queues and stacks).
        key: Vec<u8>,
    },
    /// `BPF_MAP_FREEZE`.
    MapFreeze {
        /// The map.
        map: WireHandle,
    },
    /// Every key and value.
    MapDump {
        /// The map.
        map: WireHandle,
    },
    /// The map's memfd, passed with the reply (SCM_RIGHTS); read-only unless the client may
    /// write. Answered with [`Response::Shm`].
    MapShm {
        /// The map.
        map: WireHandle,
    },
    /// Consume the ring buffer's committed records, waiting up to `timeout_ms` for the first.
    RingbufConsume {
        /// The ring buffer map.
        map: WireHandle,
        /// How long to wait when empty (capped by the daemon).
        timeout_ms: u32,
    },
    /// Load an ELF object (its maps and programs), as `bpf_object__load`.
    ObjectLoad {
        /// Object name (libbpf's: the file name up to the first dot).
        name: String,
        /// The ELF file.
        elf: Vec<u8>,
    },
    /// `BPF_PROG_TEST_RUN`.
    ProgTestRun {
        /// The program.
        prog: WireHandle,
        /// The data or packet.
        data: Vec<u8>,
        /// The starting context.
        ctx: Option<Vec<u8>>,
        /// Runs.
        repeat: u32,
    },
    /// `BPF_OBJ_PIN`.
    ObjPin {
        /// The object.
        handle: WireHandle,
        /// The pin path.
        path: String,
    },
    /// `BPF_OBJ_GET`.
    ObjGet {
        /// The pin path.
        path: String,
    },
    /// Remove a pin.
    Unpin {
        /// The pin path.
        path: String,
    },
    /// List pins.
    Pins,
    /// `BPF_OBJ_GET_INFO_BY_FD`.
    ObjGetInfo {
        /// The object.
        handle: WireHandle,
    },
    /// `BPF_PROG_GET_NEXT_ID`.
    ProgGetNextId {
        /// Start after this id.
        start: u32,
    },
    /// `BPF_MAP_GET_NEXT_ID`.
    MapGetNextId {
        /// Start after this id.
        start: u32,
    },
    /// `BPF_PROG_GET_FD_BY_ID`.
    ProgGetById {
        /// The id.
        id: u32,
    },
    /// `BPF_MAP_GET_FD_BY_ID`.
    MapGetById {
        /// The id.
        id: u32,
    },
    /// `BPF_LINK_CREATE`.
    LinkCreate {
        /// The program.
        prog: WireHandle,
        /// Hook name.
        hook: String,
        /// Cookie.
        cookie: u64,
    },
    /// `BPF_LINK_DETACH`.
    LinkDetach {
        /// The link.
        link: WireHandle,
    },
    /// `close(fd)`.
    Close {
        /// The handle.
        handle: WireHandle,
    },
    /// Every key and value, also shown with their BTF types when the map has BTF.
    MapDumpBtf {
        /// The map.
        map: WireHandle,
    },
    /// `BPF_LINK_CREATE` on an event source the daemon runs: the program is attached to the
    /// source's hook, which the daemon creates and starts with the first link and stops when
    /// its last link goes. Answered with the link's handle.
    Attach {
        /// The program.
        prog: WireHandle,
        /// What fires it.
        source: AttachSource,
        /// `bpf_get_attach_cookie`.
        cookie: u64,
    },
    /// `BPF_LINK_GET_NEXT_ID`.
    LinkGetNextId {
        /// Start after this id.
        start: u32,
    },
    /// `BPF_LINK_GET_FD_BY_ID`.
    LinkGetById {
        /// The id.
        id: u32,
    },
}

/// An event source the daemon runs for [`Request::Attach`] (as `waggle attach` names them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttachSource {
    /// Frames received on a live interface (AF_PACKET): `xdp` and `socket_filter` programs.
    Iface {
        /// Interface name.
        name: String,
    },
    /// A timer on each CPU: `perf_event` programs.
    Every {
        /// Period in nanoseconds (at least 10 µs).
        period_ns: u64,
    },
    /// Process events from the process connector: `tracepoint` programs of
    /// `sched/sched_process_exec` (or `_exit`).
    ProcEvents {
        /// The exit hook instead of the exec hook.
        exit: bool,
    },
    /// A pcap or pcapng capture replayed once: `xdp` and `socket_filter` programs.
    Pcap {
        /// The capture file's bytes.
        data: Vec<u8>,
        /// Keep the recorded pace.
        pace: bool,
    },
    /// A hook that already exists in the daemon (by name).
    Hook {
        /// The hook's name.
        name: String,
    },
}

impl Request {
    /// Whether the request changes programs, pins or map contents (needs load permission).
    pub fn writes(&self) -> bool {
        !matches!(
            self,
            Request::Hello { .. }
                | Request::MapLookup { .. }
                | Request::MapGetNextKey { .. }
                | Request::MapDump { .. }
                | Request::MapDumpBtf { .. }
                | Request::MapShm { .. }
                | Request::ObjGet { .. }
                | Request::Pins
                | Request::ObjGetInfo { .. }
                | Request::ProgGetNextId { .. }
                | Request::MapGetNextId { .. }
                | Request::ProgGetById { .. }
                | Request::MapGetById { .. }
                | Request::LinkGetNextId { .. }
                | Request::LinkGetById { .. }
                | Request::Close { .. }
        )
    }
}

/// What `OBJ_GET_INFO` says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjInfo {
    /// A program.
    Program {
        /// Id.
        id: u32,
        /// Name.
        name: String,
        /// Program type name (`xdp`, `socket_filter`, ...).
        prog_type: String,
        /// Instruction slots.
        insn_count: u64,
        /// Ids of the maps it uses.
        map_ids: Vec<u32>,
        /// Completed runs.
        run_count: u64,
        /// Nanoseconds in runs.
        run_time_ns: u64,
    },
    /// A map.
    Map {
        /// Id.
        id: u32,
        /// Name.
        name: String,
        /// `BPF_MAP_TYPE_*`.
        map_type: u32,
        /// Key size.
        key_size: u32,
        /// Value size.
        value_size: u32,
        /// Maximum entries.
        max_entries: u32,
        /// Flags.
        map_flags: u32,
        /// Frozen for user-space writes.
        frozen: bool,
        /// Bytes held.
        memory_bytes: u64,
        /// CPUs per-CPU values are sized for.
        ncpus: u32,
    },
    /// A link.
    Link {
        /// Id.
        id: u32,
        /// Program id.
        program_id: u32,
        /// Hook.
        hook: String,
        /// `LINK_DETACH` was called (the link no longer fires).
        detached: bool,
        /// The event source the daemon runs for the hook, and its state (empty if none).
        source: String,
    },
}

/// How a map's shared memory is laid out (see `docs/protocol.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShmLayout {
    /// Element `i` (per-CPU: CPU `c`'s copy) at `(i * ncpus_or_1 + c) * stride`.
    Array {
        /// `round_up(value_size, 8)`.
        stride: u32,
        /// CPUs per element (1 for plain arrays).
        ncpus: u32,
        /// Value size.
        value_size: u32,
        /// Elements.
        max_entries: u32,
    },
    /// The hash table in the layout of `waggle_maps::HashMap`: readers run its lookup over
    /// the mapping (`waggle_maps::hash::SharedHashView`), which needs these attributes.
    Hash {
        /// `BPF_MAP_TYPE_*`.
        map_type: u32,
        /// Key size.
        key_size: u32,
        /// Value size.
        value_size: u32,
        /// Maximum entries.
        max_entries: u32,
        /// `BPF_F_*` flags.
        flags: u32,
        /// CPUs per-CPU values are sized for.
        ncpus: u32,
        /// The table's hash seed.
        seed: u64,
        /// Offset of a `bpf_spin_lock` in the value.
        spin_lock_off: Option<u32>,
        /// Offset of a `bpf_timer` in the value (user space reads it as zeros).
        timer_off: Option<u32>,
    },
    /// Consumer page, producer page, data (the kernel's ring buffer layout).
    RingBuf {
        /// Offset of `consumer_pos`.
        consumer_off: u64,
        /// Offset of `producer_pos`.
        producer_off: u64,
        /// Offset of the data area.
        data_off: u64,
        /// Bytes of data.
        size: u64,
        /// Offset of the count of consumers waiting on the notification eventfd.
        waiters_off: u64,
    },
}

/// A reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Answer to [`Request::Hello`].
    Hello {
        /// The daemon's [`VERSION`].
        version: u16,
        /// Whether this client may load, attach, pin and write maps.
        privileged: bool,
        /// The client's uid as the daemon saw it (SO_PEERCRED).
        uid: u32,
    },
    /// Done, nothing to return.
    Ok,
    /// A new handle.
    Handle(WireHandle),
    /// A value or key.
    Bytes(Vec<u8>),
    /// Keys and values.
    Entries(Vec<(Vec<u8>, Vec<u8>)>),
    /// What an object load created.
    Loaded {
        /// Maps by name.
        maps: Vec<(String, WireHandle)>,
        /// Programs by name.
        programs: Vec<(String, WireHandle)>,
    },
    /// A test run's results.
    TestRun {
        /// r0.
        retval: u64,
        /// Data as the program left it.
        data_out: Vec<u8>,
        /// Context as the program left it.
        ctx_out: Vec<u8>,
        /// Nanoseconds per run.
        duration_ns: u64,
    },
    /// Pin paths.
    Pins(Vec<String>),
    /// Object info.
    Info(ObjInfo),
    /// The next id, if any.
    NextId(Option<u32>),
    /// A map's memfd comes with this reply (SCM_RIGHTS).
    Shm {
        /// Bytes to map.
        len: u64,
        /// Whether the fd allows a writable mapping.
        writable: bool,
        /// A second fd follows the memfd: the ring buffer's notification eventfd.
        notify: bool,
        /// The layout.
        layout: ShmLayout,
    },
    /// Ring buffer records.
    Records(Vec<Vec<u8>>),
    /// The request failed.
    Error {
        /// Positive errno (`EPERM`, `ENOENT`, `EINVAL`, ...).
        errno: i32,
        /// Why.
        message: String,
    },
    /// Entries with their BTF renderings (`None` where the map has no BTF for it).
    Formatted(Vec<FormattedEntry>),
}

/// One map entry of [`Response::Formatted`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormattedEntry {
    /// Key bytes.
    pub key: Vec<u8>,
    /// Value bytes.
    pub value: Vec<u8>,
    /// The key shown with its BTF type.
    pub key_text: Option<String>,
    /// The value shown with its BTF type (per-CPU maps: one per CPU, in brackets).
    pub value_text: Option<String>,
}

/// Why a frame could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// Shorter than the version field.
    #[error("frame too short")]
    Short,
    /// Another protocol version.
    #[error("protocol version {0} not supported (this side speaks {VERSION})")]
    Version(u16),
    /// The body is not a valid message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The length prefix is over [`MAX_FRAME`].
    #[error("frame of {0} bytes is over the {MAX_FRAME}-byte limit")]
    TooLong(usize),
}

/// A whole frame (length prefix, version, body) for `msg`.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(msg, &mut out);
    out
}

/// [`encode`] into `out` (cleared first), reusing its allocation: the daemon and the client
/// keep one buffer per connection, so a request costs no allocation for its frame.
pub fn encode_into<T: Serialize>(msg: &T, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&VERSION.to_le_bytes());
    let buf = std::mem::take(out);
    // Serialising our own enums into a Vec cannot fail.
    *out = postcard::to_extend(msg, buf).unwrap_or_else(|_| {
        let mut v = vec![0u8; 4];
        v.extend_from_slice(&VERSION.to_le_bytes());
        v
    });
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_le_bytes());
}

/// The payload length a frame's 4-byte prefix announces, checked against [`MAX_FRAME`].
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, ProtoError> {
    let n = u32::from_le_bytes(prefix) as usize;
    if n > MAX_FRAME {
        return Err(ProtoError::TooLong(n));
    }
    if n < 2 {
        return Err(ProtoError::Short);
    }
    Ok(n)
}

/// Decodes a frame's payload (version and body, without the length prefix). Never panics.
pub fn decode<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, ProtoError> {
    let (v, body) = payload.split_first_chunk::<2>().ok_or(ProtoError::Short)?;
    let v = u16::from_le_bytes(*v);
    if v != VERSION {
        return Err(ProtoError::Version(v));
    }
    let (msg, rest) =
        postcard::take_from_bytes(body).map_err(|e| ProtoError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(ProtoError::Malformed(format!(
            "{} bytes after the message",
            rest.len()
        )));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(r: &Request) -> Request {
        let f = encode(r);
        let n = frame_len(f[..4].try_into().unwrap()).unwrap();
        assert_eq!(n, f.len() - 4);
        decode(&f[4..]).unwrap()
    }

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::Hello { version: VERSION },
            Request::MapUpdate {
                map: 3,
                key: vec![1, 2, 3, 4],
                value: vec![9; 100],
                flags: 2,
            },
            Request::MapGetNextKey { map: 1, key: None },
            Request::ObjPin {
                handle: 7,
                path: "/sys/fs/bpf/x".into(),
            },
            Request::Pins,
        ] {
            assert_eq!(roundtrip(&r), r);
        }
    }

    #[test]
    fn wrong_version_and_garbage_are_errors() {
        let mut f = encode(&Request::Pins);
        f[4] = 9;
        assert_eq!(decode::<Request>(&f[4..]), Err(ProtoError::Version(9)));
        assert_eq!(decode::<Request>(&[1]), Err(ProtoError::Short));
        let v = VERSION.to_le_bytes();
        assert!(matches!(
            decode::<Request>(&[v[0], v[1], 0xff, 0xff, 0xff]),
            Err(ProtoError::Malformed(_))
        ));
        assert!(frame_len(u32::MAX.to_le_bytes()).is_err());
        let mut f = encode(&Request::Pins);
        f.push(0);
        assert!(matches!(
            decode::<Request>(&f[4..]),
            Err(ProtoError::Malformed(_))
        ));
    }

    proptest! {
        /// Arbitrary bytes never panic the decoder (the daemon's first line of defence).
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<Request>(&bytes);
            let mut v = VERSION.to_le_bytes().to_vec();
            v.extend_from_slice(&bytes);
            let _ = decode::<Request>(&v);
            let _ = decode::<Response>(&v);
        }

        /// Valid frames with a flipped byte decode to something or an error, never a panic.
        #[test]
        fn mutated_frames_never_panic(key in proptest::collection::vec(any::<u8>(), 0..64),
                                      at in any::<usize>(), x in any::<u8>()) {
            let mut f = encode(&Request::MapUpdate { map: 1, key: key.clone(), value: key, flags: 0 });
            let i = 4 + at % (f.len() - 4);
            f[i] ^= x;
            let _ = decode::<Request>(&f[4..]);
        }
    }
}
