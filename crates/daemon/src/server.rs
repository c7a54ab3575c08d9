//! The daemon: a [`Runtime`] behind a Unix socket, one tokio task per connection.
//!
//! Each connection is a [`Session`] with its own handle numbers (like a process's fds);
//! when the connection ends, however it ends, its handles are closed, so everything nobody
//! else (another client, a pin, a link) holds is freed. Pins are global. Peer credentials
//! decide whether a client may change things (load, pin, attach, write maps) or only read.

use crate::fdpass::send_with_fds;
use crate::proto::{
    FormattedEntry, MAX_FRAME, ObjInfo, ProtoError, Request, Response, ShmLayout, VERSION,
    WireHandle, decode, encode, frame_len,
};
use crate::sources::Sources;
use crate::state;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::UnixStream;
use waggle_object::Btf;
use waggle_runtime::{Handle, Info, MapCreate, Object, Runtime, TestRun};
use waggle_uapi::errno;

/// Most handles one connection may hold open (`EMFILE` beyond), so one client cannot grow
/// the daemon's tables without bound.
pub const MAX_HANDLES: usize = 1 << 16;

/// Longest a `RingbufConsume` waits, whatever the client asks.
const MAX_RINGBUF_WAIT: Duration = Duration::from_secs(5);

/// How the daemon runs.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Socket path ([`crate::default_socket_path`] if `None`).
    pub socket: Option<PathBuf>,
    /// A group whose members may load and attach too (socket mode 0660, group-owned).
    pub group: Option<u32>,
    /// Let every user connect (socket mode 0666); those not privileged may only read maps.
    pub public: bool,
    /// Save pinned maps here on shutdown and restore them on start.
    pub state_dir: Option<PathBuf>,
}

/// Who a peer is and what it may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Peer uid (SO_PEERCRED).
    pub uid: u32,
    /// Peer gid.
    pub gid: u32,
    /// Peer pid, if known.
    pub pid: Option<i32>,
}

/// Whether `peer` may load, attach, pin and write: root, the daemon's owner, or a member of
/// `group` (primary group, or a supplementary group listed in `/proc/PID/status`).
pub fn is_privileged(peer: Peer, owner: u32, group: Option<u32>) -> bool {
    if peer.uid == 0 || peer.uid == owner {
        return true;
    }
    let Some(g) = group else { return false };
    peer.gid == g
        || peer
            .pid
            .is_some_and(|pid| supplementary_groups(pid).contains(&g))
}

fn supplementary_groups(pid: i32) -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|g| {
            g.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The BTF of maps loaded from objects, by map id (for dumps shown with types); entries of
/// freed maps are dropped as new ones come.
pub(crate) type Btfs = Arc<Mutex<HashMap<u32, (Weak<waggle_runtime::Map>, Arc<Btf>)>>>;

/// What all connections share besides the runtime.
#[derive(Clone, Default)]
pub(crate) struct Shared {
    pub(crate) btfs: Btfs,
    pub(crate) sources: Arc<Sources>,
    pub(crate) objects: state::Objects,
}

/// Remembers the BTF of an object's maps, for dumps shown with types.
pub(crate) fn register_btf(rt: &Runtime, btfs: &Btfs, btf: Option<Btf>, maps: &[(String, Handle)]) {
    let Some(btf) = btf else { return };
    let btf = Arc::new(btf);
    let mut reg = btfs.lock().unwrap_or_else(|e| e.into_inner());
    reg.retain(|_, (m, _)| m.strong_count() > 0);
    for (_, h) in maps {
        if let Ok(m) = rt.map(*h)
            && (m.btf_key_type_id != 0 || m.btf_value_type_id != 0)
        {
            reg.insert(m.id, (Arc::downgrade(&m), btf.clone()));
        }
    }
}

/// One connection's view of the runtime: its handles, closed when it is dropped.
pub struct Session {
    rt: Runtime,
    btfs: Btfs,
    sources: Arc<Sources>,
    objects: state::Objects,
    handles: HashMap<WireHandle, Handle>,
    next: WireHandle,
    privileged: bool,
    uid: u32,
}

impl Drop for Session {
    fn drop(&mut self) {
        for (_, h) in self.handles.drain() {
            let _ = self.rt.close(h);
        }
        // Links only this client held are gone: their sources stop.
        self.sources.reap(&self.rt);
    }
}

fn err(e: waggle_runtime::Error) -> Response {
    Response::Error {
        errno: e.errno,
        message: e.message,
    }
}

fn error(errno: i32, message: impl Into<String>) -> Response {
    Response::Error {
        errno,
        message: message.into(),
    }
}

impl Session {
    /// A session on `rt` for a peer with `uid`, privileged or read-only.
    pub fn new(rt: Runtime, uid: u32, privileged: bool) -> Session {
        Session::with_shared(rt, Shared::default(), uid, privileged)
    }

    pub(crate) fn with_shared(rt: Runtime, shared: Shared, uid: u32, privileged: bool) -> Session {
        Session {
            rt,
            btfs: shared.btfs,
            sources: shared.sources,
            objects: shared.objects,
            handles: HashMap::new(),
            next: 1,
            privileged,
            uid,
        }
    }

    /// Handles this session holds.
    pub fn open_handles(&self) -> usize {
        self.handles.len()
    }

    fn get(&self, h: WireHandle) -> Result<Handle, Response> {
        self.handles
            .get(&h)
            .copied()
            .ok_or_else(|| error(errno::EBADF, format!("handle {h} is not open")))
    }

    fn adopt(&mut self, h: Handle) -> Result<WireHandle, Response> {
        if self.handles.len() >= MAX_HANDLES {
            let _ = self.rt.close(h);
            return Err(error(errno::EMFILE, "too many open handles"));
        }
        while self.next == 0 || self.handles.contains_key(&self.next) {
            self.next = self.next.wrapping_add(1);
        }
        let w = self.next;
        self.next = self.next.wrapping_add(1);
        self.handles.insert(w, h);
        Ok(w)
    }

    fn new_handle(&mut self, r: waggle_runtime::Result<Handle>) -> Response {
        match r.map_err(err).and_then(|h| self.adopt(h)) {
            Ok(w) => Response::Handle(w),
            Err(e) => e,
        }
    }

    /// Serves one request; a map's memfd (and a ring buffer's eventfd) comes back alongside
    /// for `MapShm`. Never panics outward: a panic inside the runtime becomes an `EFAULT`
    /// reply.
    pub fn handle(&mut self, req: Request) -> (Response, Vec<OwnedFd>) {
        if req.writes() && !self.privileged {
            return (
                error(
                    errno::EPERM,
                    format!(
                        "permission denied: uid {} may only read maps (loading, attaching, \
                         pinning and map writes need the daemon's owner, root or its group)",
                        self.uid
                    ),
                ),
                Vec::new(),
            );
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.dispatch(req)));
        match r {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => (e, Vec::new()),
            Err(_) => (
                error(errno::EFAULT, "internal error serving the request"),
                Vec::new(),
            ),
        }
    }

    fn dispatch(&mut self, req: Request) -> Result<(Response, Vec<OwnedFd>), Response> {
        let rt = self.rt.clone();
        let ok = |r: waggle_runtime::Result<()>| r.map(|()| Response::Ok).map_err(err);
        let resp = match req {
            Request::Hello { .. } => Response::Hello {
                version: VERSION,
                privileged: self.privileged,
                uid: self.uid,
            },
            Request::MapCreate {
                map_type,
                key_size,
                value_size,
                max_entries,
                flags,
                name,
            } => {
                let t = waggle_maps::MapType::from_u32(map_type)
                    .ok_or_else(|| error(errno::EINVAL, format!("unknown map type {map_type}")))?;
                let spec = waggle_maps::MapSpec::new(t, key_size, value_size, max_entries)
                    .with_flags(flags);
                self.new_handle(rt.map_create(&MapCreate::new(spec, name)))
            }
            Request::MapLookup { map, key } => {
                Response::Bytes(rt.map_lookup_elem(self.get(map)?, &key).map_err(err)?)
            }
            Request::MapUpdate {
                map,
                key,
                value,
                flags,
            } => ok(rt.map_update_elem(self.get(map)?, &key, &value, flags))?,
            Request::MapDelete { map, key } => ok(rt.map_delete_elem(self.get(map)?, &key))?,
            Request::MapGetNextKey { map, key } => Response::Bytes(
                rt.map_get_next_key(self.get(map)?, key.as_deref())
                    .map_err(err)?,
            ),
            Request::MapLookupAndDelete { map, key } => Response::Bytes(
                rt.map_lookup_and_delete_elem(self.get(map)?, &key)
                    .map_err(err)?,
            ),
            Request::MapFreeze { map } => ok(rt.map_freeze(self.get(map)?))?,
            Request::MapDump { map } => {
                Response::Entries(rt.map_dump(self.get(map)?).map_err(err)?)
            }
            Request::MapShm { map } => return self.map_shm(map),
            Request::MapDumpBtf { map } => {
                let h = self.get(map)?;
                let entries = rt.map_dump(h).map_err(err)?;
                let m = rt.map(h).map_err(err)?;
                let btf = self
                    .btfs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&m.id)
                    .map(|(_, b)| b.clone());
                let spec = m.inner.spec();
                let percpu = spec.map_type.is_percpu();
                let vsize = spec.value_size as usize;
                let stride = spec.value_size_aligned();
                let show_value = |btf: &Btf, v: &[u8]| -> Option<String> {
                    if !percpu {
                        return crate::btf_fmt::format(btf, m.btf_value_type_id, v);
                    }
                    let cpus: Option<Vec<String>> = v
                        .chunks(stride)
                        .map(|c| crate::btf_fmt::format(btf, m.btf_value_type_id, c.get(..vsize)?))
                        .collect();
                    Some(format!("[{}]", cpus?.join(", ")))
                };
                Response::Formatted(
                    entries
                        .into_iter()
                        .map(|(key, value)| FormattedEntry {
                            key_text: btf
                                .as_deref()
                                .and_then(|b| crate::btf_fmt::format(b, m.btf_key_type_id, &key)),
                            value_text: btf.as_deref().and_then(|b| show_value(b, &value)),
                            key,
                            value,
                        })
                        .collect(),
                )
            }
            Request::RingbufConsume { map, timeout_ms } => {
                let m = rt.map(self.get(map)?).map_err(err)?;
                let rb = m
                    .inner
                    .as_ringbuf()
                    .ok_or_else(|| error(errno::EINVAL, "not a ring buffer"))?;
                let mut records = Vec::new();
                let wait = Duration::from_millis(timeout_ms.into()).min(MAX_RINGBUF_WAIT);
                tokio::task::block_in_place(|| rb.poll(wait, |s| records.push(s.to_vec())));
                Response::Records(records)
            }
            Request::ObjectLoad { name, elf } => {
                let opts = waggle_object::ParseOptions {
                    name: &name,
                    target_btf: None,
                };
                let obj = waggle_object::Object::parse_with(&elf, &opts)
                    .map_err(|e| error(errno::EINVAL, format!("{name}: {e}")))?;
                let loaded =
                    tokio::task::block_in_place(|| rt.load_object(&obj, 0)).map_err(|e| {
                        let mut m = e.error.message;
                        if !e.log.is_empty() {
                            m = format!("{m}\n{}", e.log);
                        }
                        error(e.error.errno, m)
                    })?;
                register_btf(&rt, &self.btfs, obj.btf, &loaded.maps);
                // Kept (while its programs or maps live) so `--state` can reload it.
                state::record_object(&rt, &self.objects, &name, elf, &loaded);
                let mut maps = Vec::new();
                let mut programs = Vec::new();
                for (n, h) in loaded.maps {
                    maps.push((n, self.adopt(h)?));
                }
                for (n, h) in loaded.programs {
                    programs.push((n, self.adopt(h)?));
                }
                Response::Loaded { maps, programs }
            }
            Request::ProgTestRun {
                prog,
                data,
                ctx,
                repeat,
            } => {
                let h = self.get(prog)?;
                let t = TestRun {
                    data_in: &data,
                    ctx_in: ctx.as_deref(),
                    repeat,
                };
                let r = tokio::task::block_in_place(|| rt.prog_test_run(h, &t)).map_err(err)?;
                Response::TestRun {
                    retval: r.retval,
                    data_out: r.data_out,
                    ctx_out: r.ctx_out,
                    duration_ns: r.duration_ns,
                }
            }
            Request::ObjPin { handle, path } => {
                check_pin_path(&path)?;
                ok(rt.obj_pin(self.get(handle)?, &path))?
            }
            Request::ObjGet { path } => self.new_handle(rt.obj_get(&path)),
            Request::Unpin { path } => {
                let r = ok(rt.unpin(&path))?;
                self.sources.reap(&rt);
                r
            }
            Request::Pins => Response::Pins(rt.pins()),
            Request::ObjGetInfo { handle } => {
                Response::Info(info(&rt, &self.sources, self.get(handle)?)?)
            }
            Request::ProgGetNextId { start } => Response::NextId(rt.prog_get_next_id(start)),
            Request::MapGetNextId { start } => Response::NextId(rt.map_get_next_id(start)),
            Request::ProgGetById { id } => self.new_handle(rt.prog_get_handle_by_id(id)),
            Request::MapGetById { id } => self.new_handle(rt.map_get_handle_by_id(id)),
            Request::LinkCreate { prog, hook, cookie } => {
                let h = self.get(prog)?;
                self.new_handle(rt.link_create(h, &hook, cookie))
            }
            Request::LinkDetach { link } => {
                let r = ok(rt.link_detach(self.get(link)?))?;
                self.sources.reap(&rt);
                r
            }
            Request::Close { handle } => {
                let h = self.get(handle)?;
                self.handles.remove(&handle);
                let r = ok(rt.close(h))?;
                self.sources.reap(&rt);
                r
            }
            Request::Attach {
                prog,
                source,
                cookie,
            } => {
                let h = self.get(prog)?;
                let link =
                    tokio::task::block_in_place(|| self.sources.attach(&rt, h, source, cookie))
                        .map_err(|(errno, message)| Response::Error { errno, message })?;
                Response::Handle(self.adopt(link)?)
            }
            Request::LinkGetNextId { start } => Response::NextId(rt.link_get_next_id(start)),
            Request::LinkGetById { id } => self.new_handle(rt.link_get_handle_by_id(id)),
        };
        Ok((resp, Vec::new()))
    }

    fn map_shm(&mut self, map: WireHandle) -> Result<(Response, Vec<OwnedFd>), Response> {
        let m = self.rt.map(self.get(map)?).map_err(err)?;
        let (fd, len) = m.shared_memory().ok_or_else(|| {
            error(
                errno::EOPNOTSUPP,
                "this map is not in shared memory (arrays, hashes and ring buffers are)",
            )
        })?;
        let spec = m.inner.spec();
        let layout = match spec.map_type {
            waggle_maps::MapType::Array | waggle_maps::MapType::PercpuArray => ShmLayout::Array {
                stride: spec.value_size_aligned() as u32,
                ncpus: if spec.map_type.is_percpu() {
                    m.inner.ncpus()
                } else {
                    1
                },
                value_size: spec.value_size,
                max_entries: spec.max_entries,
            },
            waggle_maps::MapType::Ringbuf => ShmLayout::RingBuf {
                consumer_off: waggle_maps::ringbuf::CONSUMER_POS_OFF as u64,
                producer_off: waggle_maps::ringbuf::PRODUCER_POS_OFF as u64,
                data_off: waggle_maps::ringbuf::DATA_OFF as u64,
                size: spec.max_entries.into(),
                waiters_off: waggle_maps::ringbuf::CONSUMER_WAITERS_OFF as u64,
            },
            _ => match m.inner.kind() {
                waggle_maps::MapKind::Hash(h) => ShmLayout::Hash {
                    map_type: spec.map_type as u32,
                    key_size: spec.key_size,
                    value_size: spec.value_size,
                    max_entries: spec.max_entries,
                    flags: spec.flags,
                    ncpus: m.inner.ncpus(),
                    seed: h.seed(),
                    spin_lock_off: spec.spin_lock_off,
                    timer_off: spec.timer_off,
                },
                _ => return Err(error(errno::EOPNOTSUPP, "no shared layout for this map")),
            },
        };
        // Read-only clients get a read-only file description: the kernel then refuses any
        // writable mapping of it, whatever the client tries. Hash tables are read-only for
        // everyone: their layout (indices, locks) is the daemon's, and a client writing it
        // could only corrupt the map.
        let writable = self.privileged && !matches!(layout, ShmLayout::Hash { .. });
        let share_err =
            |e: io::Error| error(errno::ENOMEM, format!("sharing the map's memory: {e}"));
        let fd = if writable {
            fd.try_clone_to_owned()
        } else {
            reopen_read_only(fd)
        }
        .map_err(share_err)?;
        let mut fds = vec![fd];
        // Only a consumer (writable mapping) waits for records.
        if writable && let Some(efd) = m.inner.as_ringbuf().and_then(|r| r.notify_fd()) {
            fds.push(efd.try_clone_to_owned().map_err(share_err)?);
        }
        Ok((
            Response::Shm {
                len: len as u64,
                writable,
                notify: fds.len() > 1,
                layout,
            },
            fds,
        ))
    }
}

/// A new, read-only open file description of the same memfd (through `/proc/self/fd`).
fn reopen_read_only(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(rustix::fs::open(
        path.as_str(),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?)
}

fn check_pin_path(path: &str) -> Result<(), Response> {
    if path.is_empty() || path.len() > 4096 || path.contains('\0') {
        return Err(error(errno::EINVAL, "bad pin path"));
    }
    Ok(())
}

fn info(rt: &Runtime, sources: &Sources, h: Handle) -> Result<ObjInfo, Response> {
    Ok(match rt.obj_get_info(h).map_err(err)? {
        Info::Program(p) => ObjInfo::Program {
            id: p.id,
            name: p.name,
            prog_type: p.prog_type.name().to_string(),
            insn_count: p.insn_count as u64,
            map_ids: p.map_ids,
            run_count: p.run_count,
            run_time_ns: p.run_time_ns,
        },
        Info::Map(m) => {
            let ncpus = match rt.object(h).map_err(err)? {
                Object::Map(map) => map.inner.ncpus(),
                _ => 1,
            };
            ObjInfo::Map {
                id: m.id,
                name: m.name,
                map_type: m.map_type,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                map_flags: m.map_flags,
                frozen: m.frozen,
                memory_bytes: m.memory_bytes as u64,
                ncpus,
            }
        }
        Info::Link {
            id,
            program_id,
            hook,
        } => ObjInfo::Link {
            id,
            program_id,
            hook,
            detached: matches!(rt.object(h), Ok(Object::Link(l)) if l.is_detached()),
            source: sources.describe(id),
        },
    })
}

/// Writes a whole frame, with `fds` attached to its first byte if any.
async fn send(stream: &mut UnixStream, frame: &[u8], fds: Vec<OwnedFd>) -> io::Result<()> {
    let mut sent = 0;
    if !fds.is_empty() {
        let borrowed: Vec<_> = fds.iter().map(AsFd::as_fd).collect();
        sent = stream
            .async_io(Interest::WRITABLE, || {
                send_with_fds(stream.as_fd(), frame, &borrowed)
            })
            .await?;
    }
    if sent < frame.len() {
        stream.write_all(&frame[sent..]).await?;
    }
    Ok(())
}

/// Serves one connection until it closes or breaks the protocol.
async fn connection(
    rt: Runtime,
    shared: Shared,
    mut stream: UnixStream,
    peer: Peer,
    privileged: bool,
) {
    let mut session = Session::with_shared(rt, shared, peer.uid, privileged);
    // Bytes received and not yet served: one read usually brings a whole frame.
    let mut buf: Vec<u8> = Vec::with_capacity(8 << 10);
    // Replies are encoded into one reused buffer.
    let mut out: Vec<u8> = Vec::with_capacity(1 << 10);
    loop {
        let n = match buf.first_chunk::<4>().map(|p| frame_len(*p)) {
            Some(Ok(n)) => n,
            Some(Err(e)) => {
                let _ = send(
                    &mut stream,
                    &encode(&error(errno::EINVAL, e.to_string())),
                    Vec::new(),
                )
                .await;
                break;
            }
            None => 0,
        };
        if n == 0 || buf.len() < 4 + n {
            // Grow as bytes arrive rather than trusting the prefix with one big allocation.
            if buf.capacity() - buf.len() < 4 << 10 {
                buf.reserve((4 + n).saturating_sub(buf.len()).clamp(4 << 10, 1 << 20));
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        let (resp, fd, close) = match decode::<Request>(&buf[4..4 + n]) {
            Ok(req) => {
                let (r, fd) = session.handle(req);
                (r, fd, false)
            }
            Err(e @ ProtoError::Version(_)) => {
                (error(errno::EPROTO, e.to_string()), Vec::new(), true)
            }
            Err(e) => (error(errno::EINVAL, e.to_string()), Vec::new(), false),
        };
        if buf.len() == 4 + n {
            buf.clear();
        } else {
            buf.drain(..4 + n);
        }
        crate::proto::encode_into(&resp, &mut out);
        if send(&mut stream, &out, fd).await.is_err() || close {
            break;
        }
        if out.capacity() > 1 << 20 {
            // A big reply (a dump) does not pin its memory for the connection's life.
            out = Vec::with_capacity(1 << 10);
        }
    }
    // `session` drops here (or when the task is aborted): its handles close.
}

/// A bound daemon, ready to serve.
pub struct Server {
    rt: Runtime,
    shared: Shared,
    config: Config,
    path: PathBuf,
    listener: std::os::unix::net::UnixListener,
}

impl Server {
    /// Binds the socket (refusing if a daemon already answers there; a stale socket file is
    /// replaced), sets its mode, and restores saved state.
    pub fn bind(config: Config) -> io::Result<Server> {
        let path = config
            .socket
            .clone()
            .unwrap_or_else(crate::default_socket_path);
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            std::fs::create_dir_all(dir)?;
        }
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("a daemon already listens on {}", path.display()),
                ));
            }
            std::fs::remove_file(&path)?;
        }
        let listener = std::os::unix::net::UnixListener::bind(&path)?;
        let mode = if config.public {
            0o666
        } else if config.group.is_some() {
            0o660
        } else {
            0o600
        };
        if let Some(g) = config.group {
            rustix::fs::chown(&path, None, Some(rustix::fs::Gid::from_raw(g)))?;
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        listener.set_nonblocking(true)?;
        let rt = Runtime::new();
        let shared = Shared::default();
        if let Some(dir) = &config.state_dir {
            state::restore(&rt, &shared, dir)?;
        }
        Ok(Server {
            rt,
            shared,
            config,
            path,
            listener,
        })
    }

    /// The runtime the daemon serves (for in-process inspection, e.g. tests).
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves until `shutdown` completes, then closes every connection (their handles with
    /// them), saves state if configured and removes the socket file.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let listener = tokio::net::UnixListener::from_std(self.listener)?;
        let owner = rustix::process::geteuid().as_raw();
        let mut tasks = tokio::task::JoinSet::new();
        let sources = self.shared.sources.clone();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let Ok(cred) = stream.peer_cred() else { continue };
                    let peer = Peer { uid: cred.uid(), gid: cred.gid(), pid: cred.pid() };
                    let privileged = is_privileged(peer, owner, self.config.group);
                    let shared = self.shared.clone();
                    tasks.spawn(connection(self.rt.clone(), shared, stream, peer, privileged));
                }
                // Reap finished connections so the set does not grow.
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        // SIGTERM detaches programs: every source stops (pinned links stay, without events).
        tokio::task::block_in_place(|| sources.stop_all(&self.rt));
        drop(listener);
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = &self.config.state_dir {
            state::save(&self.rt, &self.shared.objects, dir)?;
        }
        Ok(())
    }

    /// Serves on a thread of its own with its own tokio runtime, until
    /// [`ServerHandle::stop`] (tests, benchmarks, embedding).
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rt = self.rt.clone();
        let path = self.path.clone();
        let tokio_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("waggle-daemon".into())
            .spawn(move || {
                tokio_rt.block_on(self.serve(async {
                    let _ = rx.await;
                }))
            })?;
        Ok(ServerHandle {
            stop: Some(tx),
            thread: Some(thread),
            rt,
            path,
        })
    }
}

/// A daemon serving on a background thread; stopping it (or dropping this) shuts it down.
pub struct ServerHandle {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
    rt: Runtime,
    path: PathBuf,
}

impl ServerHandle {
    /// The daemon's runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Shuts the daemon down and waits for it.
    pub fn stop(mut self) -> io::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("daemon thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

// One worker thread: requests are microseconds of work, and a single event loop saves the
// cross-thread wake-ups that dominate a round trip (23 vs 31 µs median in `benches/daemon.rs`).
// Long requests (object loads, test runs, ring-buffer waits) use `block_in_place`, which
// hands the event loop to another thread meanwhile, so they do not stall other clients.

/// `waggle daemon`: binds, serves until SIGTERM or SIGINT, then shuts down cleanly.
pub fn run(config: Config) -> io::Result<()> {
    let server = Server::bind(config)?;
    eprintln!("waggle daemon: listening on {}", server.path().display());
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    tokio_rt.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        server
            .serve(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            })
            .await
    })?;
    eprintln!("waggle daemon: stopped");
    Ok(())
}

const _: () = assert!(MAX_FRAME <= u32::MAX as usize);

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32) -> Peer {
        Peer {
            uid,
            gid,
            pid: None,
        }
    }

    #[test]
    fn root_owner_and_group_members_are_privileged_others_not() {
        assert!(is_privileged(peer(0, 0), 1000, None), "root");
        assert!(is_privileged(peer(1000, 1000), 1000, None), "owner");
        assert!(!is_privileged(peer(1001, 1001), 1000, None), "stranger");
        assert!(
            is_privileged(peer(1001, 50), 1000, Some(50)),
            "group by gid"
        );
        assert!(
            !is_privileged(peer(1001, 51), 1000, Some(50)),
            "other group"
        );
        // Supplementary groups come from /proc/PID/status: this process's own.
        let me = std::process::id() as i32;
        let groups = supplementary_groups(me);
        if let Some(&g) = groups.first() {
            let p = Peer {
                uid: 4242,
                gid: 4242,
                pid: Some(me),
            };
            assert!(is_privileged(p, 1000, Some(g)), "supplementary group {g}");
        } else {
            eprintln!(
                "SKIPPED supplementary-group check: this process has no supplementary groups"
            );
        }
    }

    #[test]
    fn read_only_sessions_are_refused_writes_with_eperm() {
        let mut s = Session::new(Runtime::new(), 4242, false);
        let (r, _) = s.handle(Request::MapCreate {
            map_type: 2,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            flags: 0,
            name: "x".into(),
        });
        assert!(matches!(r, Response::Error { errno, .. } if errno == errno::EPERM));
        let (r, _) = s.handle(Request::Pins);
        assert_eq!(r, Response::Pins(vec![]));
        assert_eq!(s.open_handles(), 0);
        // Attaching is for loaders only, whatever the source.
        for source in [
            crate::proto::AttachSource::Every { period_ns: 1 },
            crate::proto::AttachSource::Hook { name: "h".into() },
        ] {
            let (r, _) = s.handle(Request::Attach {
                prog: 1,
                source,
                cookie: 0,
            });
            assert!(matches!(r, Response::Error { errno, .. } if errno == errno::EPERM));
        }
        let (r, _) = s.handle(Request::LinkCreate {
            prog: 1,
            hook: "h".into(),
            cookie: 0,
        });
        assert!(matches!(r, Response::Error { errno, .. } if errno == errno::EPERM));
        // Listing links is a read.
        let (r, _) = s.handle(Request::LinkGetNextId { start: 0 });
        assert_eq!(r, Response::NextId(None));
    }
}
