//! Passing file descriptors over the Unix socket (SCM_RIGHTS), and reading whole frames on
//! the client side while collecting any descriptors that arrive with them.

use crate::proto::{ProtoError, frame_len};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Most descriptors one message carries (a map's memfd and a ring buffer's eventfd).
pub const MAX_FDS: usize = 4;

/// Sends `data` with `fd` attached to its first byte; returns the bytes sent (the caller
/// writes the rest, if any, normally). `WouldBlock` on a non-blocking socket that is full.
pub fn send_with_fd(sock: BorrowedFd<'_>, data: &[u8], fd: BorrowedFd<'_>) -> io::Result<usize> {
    send_with_fds(sock, data, &[fd])
}

/// [`send_with_fd`] for up to [`MAX_FDS`] descriptors.
pub fn send_with_fds(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    if fds.len() > MAX_FDS || !anc.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("ancillary buffer too small"));
    }
    Ok(sendmsg(
        sock,
        &[IoSlice::new(data)],
        &mut anc,
        SendFlags::NOSIGNAL,
    )?)
}

/// Receives into `buf` (blocking), appending descriptors that came along to `fds`.
/// Returns the bytes read (0 at end of stream).
pub fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let r = loop {
        match recvmsg(
            sock,
            &mut [IoSliceMut::new(buf)],
            &mut anc,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            r => break r?,
        }
    };
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(it) = m {
            fds.extend(it);
        }
    }
    Ok(r.bytes)
}

/// Reads one frame's payload (version and body) from a blocking socket. `pending` keeps
/// bytes read past the frame (none in strict request/reply use) for the next call.
pub fn recv_frame(
    sock: impl AsFd,
    pending: &mut Vec<u8>,
    fds: &mut Vec<OwnedFd>,
) -> io::Result<Vec<u8>> {
    let n = recv_frame_in_place(sock, pending, fds)?;
    let payload = pending[4..4 + n].to_vec();
    pending.drain(..4 + n);
    Ok(payload)
}

/// Reads until `pending` starts with a whole frame and returns its payload length: the
/// payload is `pending[4..4 + len]` (decode it there, then drain `4 + len` bytes), so a
/// reply is not copied out of the receive buffer.
pub fn recv_frame_in_place(
    sock: impl AsFd,
    pending: &mut Vec<u8>,
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    let sock = sock.as_fd();
    loop {
        if let Some(prefix) = pending.first_chunk::<4>() {
            let n = frame_len(*prefix).map_err(|e: ProtoError| io::Error::other(e.to_string()))?;
            if pending.len() >= 4 + n {
                return Ok(n);
            }
            pending.reserve((4 + n - pending.len()).min(1 << 20));
        }
        // Receive straight into the spare capacity (at least 8 KiB of it).
        let have = pending.len();
        pending.reserve(8 << 10);
        let cap = pending.capacity();
        pending.resize(cap, 0);
        let got = recv_with_fds(sock, &mut pending[have..], fds);
        let got = match got {
            Ok(g) => g,
            Err(e) => {
                pending.truncate(have);
                return Err(e);
            }
        };
        pending.truncate(have + got);
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}
