//! The client library: a blocking connection to the daemon with one method per command, and
//! [`SharedMap`], a map's memory mapped into the client (array reads and ring-buffer
//! consumption with no round trip).

use crate::fdpass::recv_frame_in_place;
use crate::proto::{ObjInfo, ProtoError, Request, Response, ShmLayout, VERSION, WireHandle};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use waggle_maps::Storage;
use waggle_maps::hash::SharedHashView;
use waggle_maps::ringbuf::{BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ};
use waggle_maps::shm::Mapping;

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection failed.
    #[error("daemon connection: {0}")]
    Io(#[from] io::Error),
    /// A reply did not decode.
    #[error("daemon reply: {0}")]
    Proto(#[from] ProtoError),
    /// The daemon refused or failed the request.
    #[error("{message} (errno {errno})")]
    Remote {
        /// Positive errno.
        errno: i32,
        /// The daemon's message.
        message: String,
    },
    /// A reply of the wrong kind.
    #[error("unexpected reply from the daemon")]
    Unexpected,
}

impl ClientError {
    /// The errno of a refused request (`EPERM`, `ENOENT`, ...), if that is what it was.
    pub fn errno(&self) -> Option<i32> {
        match self {
            ClientError::Remote { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// The result of a call.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// What an object load created: handles by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Maps by name.
    pub maps: Vec<(String, WireHandle)>,
    /// Programs by name.
    pub programs: Vec<(String, WireHandle)>,
}

impl Loaded {
    /// The handle of map `name`.
    pub fn map(&self, name: &str) -> Option<WireHandle> {
        self.maps.iter().find(|(n, _)| n == name).map(|(_, h)| *h)
    }

    /// The handle of program `name`.
    pub fn program(&self, name: &str) -> Option<WireHandle> {
        self.programs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| *h)
    }
}

/// A test run's results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunResult {
    /// r0.
    pub retval: u64,
    /// Data as the program left it.
    pub data_out: Vec<u8>,
    /// Context as the program left it.
    pub ctx_out: Vec<u8>,
    /// Nanoseconds per run.
    pub duration_ns: u64,
}

/// A connection to the daemon. Handles it gets are its own and close when it is dropped.
#[derive(Debug)]
pub struct Client {
    sock: UnixStream,
    pending: Vec<u8>,
    /// Requests are encoded here (reused).
    out: Vec<u8>,
    fds: Vec<OwnedFd>,
    privileged: bool,
    uid: u32,
}

impl Client {
    /// Connects to the daemon at `path` and greets it.
    pub fn connect(path: impl AsRef<Path>) -> Result<Client> {
        let path = path.as_ref();
        let sock = UnixStream::connect(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{}: {e} (is `waggle daemon` running?)", path.display()),
            )
        })?;
        let mut c = Client {
            sock,
            pending: Vec::new(),
            out: Vec::new(),
            fds: Vec::new(),
            privileged: false,
            uid: 0,
        };
        match c.call(&Request::Hello { version: VERSION })? {
            Response::Hello {
                privileged, uid, ..
            } => {
                c.privileged = privileged;
                c.uid = uid;
                Ok(c)
            }
            _ => Err(ClientError::Unexpected),
        }
    }

    /// Connects to `$WAGGLE_SOCKET`, else the default path.
    pub fn connect_default() -> Result<Client> {
        Client::connect(crate::client_socket_path(None))
    }

    /// Whether the daemon lets this client load, attach, pin and write.
    pub fn privileged(&self) -> bool {
        self.privileged
    }

    /// This client's uid as the daemon sees it.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// Sends a request and returns the reply; an error reply becomes [`ClientError::Remote`].
    pub fn call(&mut self, req: &Request) -> Result<Response> {
        crate::proto::encode_into(req, &mut self.out);
        self.sock.write_all(&self.out)?;
        self.fds.clear();
        let n = recv_frame_in_place(self.sock.as_fd(), &mut self.pending, &mut self.fds)?;
        let r = crate::proto::decode::<Response>(&self.pending[4..4 + n]);
        if self.pending.len() == 4 + n {
            self.pending.clear();
        } else {
            self.pending.drain(..4 + n);
        }
        match r? {
            Response::Error { errno, message } => Err(ClientError::Remote { errno, message }),
            r => Ok(r),
        }
    }

    fn handle(&mut self, req: &Request) -> Result<WireHandle> {
        match self.call(req)? {
            Response::Handle(h) => Ok(h),
            _ => Err(ClientError::Unexpected),
        }
    }

    fn ok(&mut self, req: &Request) -> Result<()> {
        match self.call(req)? {
            Response::Ok => Ok(()),
            _ => Err(ClientError::Unexpected),
        }
    }

    fn bytes(&mut self, req: &Request) -> Result<Vec<u8>> {
        match self.call(req)? {
            Response::Bytes(b) => Ok(b),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// `BPF_MAP_CREATE`.
    pub fn map_create(
        &mut self,
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        name: &str,
    ) -> Result<WireHandle> {
        self.handle(&Request::MapCreate {
            map_type,
            key_size,
            value_size,
            max_entries,
            flags: 0,
            name: name.into(),
        })
    }

    /// `BPF_MAP_LOOKUP_ELEM`.
    pub fn map_lookup(&mut self, map: WireHandle, key: &[u8]) -> Result<Vec<u8>> {
        self.bytes(&Request::MapLookup {
            map,
            key: key.to_vec(),
        })
    }

    /// `BPF_MAP_UPDATE_ELEM`.
    pub fn map_update(
        &mut self,
        map: WireHandle,
        key: &[u8],
        value: &[u8],
        flags: u64,
    ) -> Result<()> {
        self.ok(&Request::MapUpdate {
            map,
            key: key.to_vec(),
            value: value.to_vec(),
            flags,
        })
    }

    /// `BPF_MAP_DELETE_ELEM`.
    pub fn map_delete(&mut self, map: WireHandle, key: &[u8]) -> Result<()> {
        self.ok(&Request::MapDelete {
            map,
            key: key.to_vec(),
        })
    }

    /// `BPF_MAP_GET_NEXT_KEY`.
    pub fn map_get_next_key(&mut self, map: WireHandle, key: Option<&[u8]>) -> Result<Vec<u8>> {
        self.bytes(&Request::MapGetNextKey {
            map,
            key: key.map(<[u8]>::to_vec),
        })
    }

    /// Every key and value.
    pub fn map_dump(&mut self, map: WireHandle) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        match self.call(&Request::MapDump { map })? {
            Response::Entries(e) => Ok(e),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// Every key and value, with their BTF renderings when the map has BTF.
    pub fn map_dump_btf(&mut self, map: WireHandle) -> Result<Vec<crate::proto::FormattedEntry>> {
        match self.call(&Request::MapDumpBtf { map })? {
            Response::Formatted(e) => Ok(e),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// `BPF_MAP_FREEZE`.
    pub fn map_freeze(&mut self, map: WireHandle) -> Result<()> {
        self.ok(&Request::MapFreeze { map })
    }

    /// Loads an ELF object (`name`: libbpf's object name).
    pub fn load_object(&mut self, name: &str, elf: &[u8]) -> Result<Loaded> {
        match self.call(&Request::ObjectLoad {
            name: name.into(),
            elf: elf.to_vec(),
        })? {
            Response::Loaded { maps, programs } => Ok(Loaded { maps, programs }),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// `BPF_PROG_TEST_RUN`.
    pub fn prog_test_run(
        &mut self,
        prog: WireHandle,
        data: &[u8],
        repeat: u32,
    ) -> Result<RunResult> {
        match self.call(&Request::ProgTestRun {
            prog,
            data: data.to_vec(),
            ctx: None,
            repeat,
        })? {
            Response::TestRun {
                retval,
                data_out,
                ctx_out,
                duration_ns,
            } => Ok(RunResult {
                retval,
                data_out,
                ctx_out,
                duration_ns,
            }),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// `BPF_OBJ_PIN`.
    pub fn pin(&mut self, handle: WireHandle, path: &str) -> Result<()> {
        self.ok(&Request::ObjPin {
            handle,
            path: path.into(),
        })
    }

    /// `BPF_OBJ_GET`.
    pub fn get_pinned(&mut self, path: &str) -> Result<WireHandle> {
        self.handle(&Request::ObjGet { path: path.into() })
    }

    /// Removes a pin.
    pub fn unpin(&mut self, path: &str) -> Result<()> {
        self.ok(&Request::Unpin { path: path.into() })
    }

    /// Pinned paths.
    pub fn pins(&mut self) -> Result<Vec<String>> {
        match self.call(&Request::Pins)? {
            Response::Pins(p) => Ok(p),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// `BPF_OBJ_GET_INFO_BY_FD`.
    pub fn info(&mut self, handle: WireHandle) -> Result<ObjInfo> {
        match self.call(&Request::ObjGetInfo { handle })? {
            Response::Info(i) => Ok(i),
            _ => Err(ClientError::Unexpected),
        }
    }

    fn next_id(&mut self, req: &Request) -> Result<Option<u32>> {
        match self.call(req)? {
            Response::NextId(i) => Ok(i),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// Ids of all live programs.
    pub fn prog_ids(&mut self) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        while let Some(id) = self.next_id(&Request::ProgGetNextId {
            start: ids.last().copied().unwrap_or(0),
        })? {
            ids.push(id);
        }
        Ok(ids)
    }

    /// Ids of all live maps.
    pub fn map_ids(&mut self) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        while let Some(id) = self.next_id(&Request::MapGetNextId {
            start: ids.last().copied().unwrap_or(0),
        })? {
            ids.push(id);
        }
        Ok(ids)
    }

    /// `BPF_PROG_GET_FD_BY_ID`.
    pub fn prog_by_id(&mut self, id: u32) -> Result<WireHandle> {
        self.handle(&Request::ProgGetById { id })
    }

    /// `BPF_MAP_GET_FD_BY_ID`.
    pub fn map_by_id(&mut self, id: u32) -> Result<WireHandle> {
        self.handle(&Request::MapGetById { id })
    }

    /// Attaches `prog` to an event source the daemon runs (starting it with its first link);
    /// returns the link's handle. Unpinned, the link goes when this client disconnects.
    pub fn attach(
        &mut self,
        prog: WireHandle,
        source: crate::proto::AttachSource,
        cookie: u64,
    ) -> Result<WireHandle> {
        self.handle(&Request::Attach {
            prog,
            source,
            cookie,
        })
    }

    /// `BPF_LINK_CREATE` on a hook that exists in the daemon.
    pub fn link_create(&mut self, prog: WireHandle, hook: &str, cookie: u64) -> Result<WireHandle> {
        self.handle(&Request::LinkCreate {
            prog,
            hook: hook.into(),
            cookie,
        })
    }

    /// `BPF_LINK_DETACH`: the link stops firing (its handle stays open).
    pub fn link_detach(&mut self, link: WireHandle) -> Result<()> {
        self.ok(&Request::LinkDetach { link })
    }

    /// Ids of all live links.
    pub fn link_ids(&mut self) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        while let Some(id) = self.next_id(&Request::LinkGetNextId {
            start: ids.last().copied().unwrap_or(0),
        })? {
            ids.push(id);
        }
        Ok(ids)
    }

    /// `BPF_LINK_GET_FD_BY_ID`.
    pub fn link_by_id(&mut self, id: u32) -> Result<WireHandle> {
        self.handle(&Request::LinkGetById { id })
    }

    /// `close`.
    pub fn close(&mut self, handle: WireHandle) -> Result<()> {
        self.ok(&Request::Close { handle })
    }

    /// Consumes a ring buffer's records through the daemon, waiting up to `timeout_ms`.
    pub fn ringbuf_consume(&mut self, map: WireHandle, timeout_ms: u32) -> Result<Vec<Vec<u8>>> {
        match self.call(&Request::RingbufConsume { map, timeout_ms })? {
            Response::Records(r) => Ok(r),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// Maps the map's shared memory into this process (writable if this client may write).
    pub fn map_shm(&mut self, map: WireHandle) -> Result<SharedMap> {
        let Response::Shm {
            len,
            writable,
            notify,
            layout,
        } = self.call(&Request::MapShm { map })?
        else {
            return Err(ClientError::Unexpected);
        };
        let mut fds = std::mem::take(&mut self.fds).into_iter();
        let fd = fds.next().ok_or(ClientError::Unexpected)?;
        let notify = if notify {
            Some(fds.next().ok_or(ClientError::Unexpected)?)
        } else {
            None
        };
        let len = usize::try_from(len).map_err(|_| ClientError::Unexpected)?;
        let mapping = Mapping::map(fd.as_fd(), 0, len, writable)?;
        let hash = match layout {
            ShmLayout::Hash {
                map_type,
                key_size,
                value_size,
                max_entries,
                flags,
                ncpus,
                seed,
                spin_lock_off,
                timer_off,
            } => {
                let t = waggle_maps::MapType::from_u32(map_type).ok_or(ClientError::Unexpected)?;
                let mut spec = waggle_maps::MapSpec::new(t, key_size, value_size, max_entries)
                    .with_flags(flags);
                spec.spin_lock_off = spin_lock_off;
                spec.timer_off = timer_off;
                // A mapping of its own: the view owns it (reads only; the mapping is read-only).
                let st = Storage::from_mapping(Mapping::map(fd.as_fd(), 0, len, false)?);
                Some(SharedHashView::new(&spec, ncpus, seed, st).map_err(|e| {
                    ClientError::Io(io::Error::other(format!("hash map view: {e}")))
                })?)
            }
            _ => None,
        };
        Ok(SharedMap {
            mapping,
            layout,
            notify,
            hash,
        })
    }
}

/// A map's memory mapped into this process: the daemon's programs write it, this process
/// reads it (and, for ring buffers, advances the consumer position) without a round trip.
#[derive(Debug)]
pub struct SharedMap {
    mapping: Mapping,
    layout: ShmLayout,
    /// A ring buffer's notification eventfd (consumers only).
    notify: Option<OwnedFd>,
    /// A hash map's table, read with the map's own lookup.
    hash: Option<SharedHashView>,
}

impl SharedMap {
    /// The layout the daemon described.
    pub fn layout(&self) -> ShmLayout {
        self.layout
    }

    /// The mapping.
    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    fn array_off(&self, index: u32, cpu: u32) -> Option<(usize, usize)> {
        match self.layout {
            ShmLayout::Array {
                stride,
                ncpus,
                value_size,
                max_entries,
            } if index < max_entries && cpu < ncpus => Some((
                (index as usize * ncpus as usize + cpu as usize) * stride as usize,
                value_size as usize,
            )),
            _ => None,
        }
    }

    /// The first 8 bytes of array element `index` (CPU `cpu`'s copy for per-CPU arrays) as
    /// a little-endian `u64`: the common counter read, one atomic load.
    #[inline]
    pub fn array_u64(&self, index: u32, cpu: u32) -> Option<u64> {
        let (off, size) = self.array_off(index, cpu)?;
        if size < 8 {
            return None;
        }
        self.mapping.load_u64(off)
    }

    /// Copies array element `index` (CPU `cpu`'s copy) into `out` (`value_size` bytes).
    pub fn array_value(&self, index: u32, cpu: u32, out: &mut [u8]) -> bool {
        match self.array_off(index, cpu) {
            Some((off, size)) if out.len() == size => self.mapping.read(off, out),
            _ => false,
        }
    }

    /// Looks `key` up in a shared hash map, with the map's own lookup code over this
    /// process's read-only mapping (no round trip; consistent with concurrent updates through
    /// the buckets' sequence locks). Copies the value (every CPU's for per-CPU maps, as
    /// `BPF_MAP_LOOKUP_ELEM`) into `out`; `Ok(false)` if the key is absent.
    pub fn hash_lookup(&self, key: &[u8], out: &mut [u8]) -> Result<bool> {
        let h = self.hash.as_ref().ok_or_else(|| ClientError::Remote {
            errno: waggle_uapi::errno::EINVAL,
            message: "not a hash map".into(),
        })?;
        match h.lookup(key, out) {
            Ok(()) => Ok(true),
            Err(waggle_maps::MapError::NotFound) => Ok(false),
            Err(e) => Err(ClientError::Remote {
                errno: e.errno(),
                message: e.to_string(),
            }),
        }
    }

    /// Bytes of a value [`Self::hash_lookup`] copies (`None` if not a hash map).
    pub fn hash_value_size(&self) -> Option<usize> {
        self.hash.as_ref().map(SharedHashView::value_size)
    }

    /// Whether a committed record waits at the consumer position of a shared ring buffer.
    pub fn ringbuf_ready(&self) -> bool {
        let ShmLayout::RingBuf {
            consumer_off,
            producer_off,
            data_off,
            size,
            ..
        } = self.layout
        else {
            return false;
        };
        let (Some(cons), Some(prod)) = (
            self.mapping.load_u64(consumer_off as usize),
            self.mapping.load_u64(producer_off as usize),
        ) else {
            return false;
        };
        let at = data_off as usize + (cons & size.wrapping_sub(1)) as usize;
        cons < prod
            && self
                .mapping
                .load_u32(at)
                .is_some_and(|h| h & BPF_RINGBUF_BUSY_BIT == 0)
    }

    /// Blocks until a ring buffer record can be consumed or `timeout` passes (true if one
    /// can), sleeping on the ring buffer's eventfd: producers signal it on commit while a
    /// consumer waits, as the kernel's ring buffer wakes its epoll waiters. Without the
    /// eventfd (a read-only client) it returns at once with [`Self::ringbuf_ready`].
    pub fn ringbuf_wait(&self, timeout: Duration) -> Result<bool> {
        let (Some(efd), ShmLayout::RingBuf { waiters_off, .. }) = (&self.notify, self.layout)
        else {
            return Ok(self.ringbuf_ready());
        };
        let off = waiters_off as usize;
        if !self.mapping.fetch_add_u32(off, 1) {
            return Ok(self.ringbuf_ready());
        }
        // Registered as a waiter before the check: a commit after it sees the count and
        // signals; one before it is seen by the check.
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        let deadline = std::time::Instant::now() + timeout;
        let r = loop {
            if self.ringbuf_ready() {
                break Ok(true);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break Ok(false);
            }
            let ts = rustix::event::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: left.subsec_nanos().into(),
            };
            let mut pfd = [rustix::event::PollFd::new(
                efd,
                rustix::event::PollFlags::IN,
            )];
            match rustix::event::poll(&mut pfd, Some(&ts)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => break Err(ClientError::Io(e.into())),
            }
            // Reset the eventfd (non-blocking) so the next wait sleeps again.
            let mut b = [0u8; 8];
            let _ = rustix::io::read(efd, &mut b);
        };
        self.mapping.fetch_add_u32(off, u32::MAX);
        r
    }

    /// Consumes every committed ring buffer record in order, calling `f` with each sample,
    /// as libbpf's `ring_buffer__consume` does on the kernel's mapping. Needs a writable
    /// mapping (the consumer position is written); one consumer at a time per ring buffer.
    pub fn ringbuf_consume(&self, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let ShmLayout::RingBuf {
            consumer_off,
            producer_off,
            data_off,
            size,
            ..
        } = self.layout
        else {
            return Err(ClientError::Remote {
                errno: waggle_uapi::errno::EINVAL,
                message: "not a ring buffer".into(),
            });
        };
        if !self.mapping.writable() {
            return Err(ClientError::Remote {
                errno: waggle_uapi::errno::EPERM,
                message: "consuming a ring buffer needs a writable mapping".into(),
            });
        }
        let (cons_off, prod_off, data_off) = (
            consumer_off as usize,
            producer_off as usize,
            data_off as usize,
        );
        let mask = size.wrapping_sub(1);
        let bad = || ClientError::Io(io::Error::other("ring buffer mapping out of bounds"));
        let mut cons = self.mapping.load_u64(cons_off).ok_or_else(bad)?;
        let mut n = 0;
        let mut sample = Vec::new();
        loop {
            let prod = self.mapping.load_u64(prod_off).ok_or_else(bad)?;
            if cons >= prod {
                return Ok(n);
            }
            while cons < prod {
                let at = data_off + (cons & mask) as usize;
                let hdr = self.mapping.load_u32(at).ok_or_else(bad)?;
                if hdr & BPF_RINGBUF_BUSY_BIT != 0 {
                    return Ok(n);
                }
                let len = hdr & !(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
                if hdr & BPF_RINGBUF_DISCARD_BIT == 0 {
                    sample.resize(len as usize, 0);
                    if !self
                        .mapping
                        .read(at + BPF_RINGBUF_HDR_SZ as usize, &mut sample)
                    {
                        return Err(bad());
                    }
                    f(&sample);
                    n += 1;
                }
                cons += u64::from(len + BPF_RINGBUF_HDR_SZ).next_multiple_of(8);
                self.mapping.store_u64(cons_off, cons);
            }
        }
    }
}
