//! Sockets (twemproxy: nc_util.c socket helpers, nc_connection.c conn_recv/conn_sendv).
//!
//! The drain contract lives here and nowhere else:
//! * `recv` reads into the spare capacity of a buffer; the caller reads
//!   until `Recv::Blocked` or a short read. A short read means the kernel
//!   buffer was drained at that instant, so with edge-triggered readiness a
//!   new edge arrives when more bytes come: stopping there is safe (this is
//!   twemproxy's `recv_ready = 0`).
//! * `sendv` writes with one `sendmsg` (`writev` semantics) over at most
//!   `IOV_MAX` slices (`GATHER_MAX` bytes) gathered across queued messages,
//!   adjacent slices merged and small ones copied into one staging slice
//!   (`STAGE_SMALL`); the caller advances by what was written.
//! * Sockets are registered once for READABLE|WRITABLE (edge-triggered), so
//!   the loop never calls `epoll_ctl` to arm or disarm write interest: a
//!   writable edge after `WouldBlock` resumes the pending write.

use bytes::BytesMut;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use std::io::{self, ErrorKind, IoSlice, Write};
use std::marker::PhantomData;
use std::os::fd::AsRawFd;

/// At most this many slices per writev (twemproxy: NC_IOV_MAX).
pub const IOV_MAX: usize = 128;

/// A gather stops adding messages past this many bytes: adjacent slices
/// merge, so `IOV_MAX` alone would no longer bound the queue walked per
/// writev (more than a loopback socket takes at once anyway).
pub const GATHER_MAX: usize = 1 << 20;

/// Slices up to this size are copied into the gather's staging buffer
/// rather than given an iovec of their own: the kernel's per-iovec cost
/// (a user-copy with its checks) is higher than a user-space copy of a
/// few hundred bytes, and small requests and replies of a pipelined batch
/// that are not adjacent in memory (replies from several servers' reads,
/// requests of several clients for one server) then go out as one slice.
const STAGE_SMALL: usize = 256;

/// The staging buffer's fixed size; once it is full, slices get iovecs
/// again.
const STAGE_CAP: usize = 32 * 1024;

/// The loop's reusable iovec array for writev (no per-write setup) and
/// its staging buffer (`STAGE_SMALL`).
pub struct IovBuf(Vec<libc::iovec>, Vec<u8>);

impl IovBuf {
    pub fn new() -> IovBuf {
        IovBuf(Vec::with_capacity(IOV_MAX), Vec::with_capacity(STAGE_CAP))
    }
}

impl Default for IovBuf {
    fn default() -> IovBuf {
        IovBuf::new()
    }
}

impl std::fmt::Debug for IovBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IovBuf({} slices)", self.0.len())
    }
}

/// Slices gathered for one writev, across the chains of several queued
/// messages, skipping what an earlier partial write already sent. The
/// chains stay borrowed for `'a`, so the memory the iovecs point at lives,
/// unchanged, until the gather is dropped.
#[derive(Debug)]
pub struct Gather<'a> {
    buf: &'a mut IovBuf,                    // the iovecs
    pub total: usize,                       // bytes in them
    skip: usize,                            // bytes still to skip
    _chains: PhantomData<&'a bytes::Bytes>, // what they point into
}

impl<'a> Gather<'a> {
    /// A gather that first skips `skip` bytes (the head already written).
    pub fn new(buf: &'a mut IovBuf, skip: usize) -> Gather<'a> {
        buf.0.clear();
        buf.1.clear();
        Gather {
            buf,
            total: 0,
            skip,
            _chains: PhantomData,
        }
    }

    /// Adds a message's chunks; false once the slices or `GATHER_MAX`
    /// are used up. A chunk that starts where the last slice ends (the
    /// next request or reply of the same read chunk) extends that slice:
    /// a pipelined batch goes out as one iovec, not one per message.
    pub fn push(&mut self, chain: &'a [bytes::Bytes]) -> bool {
        for b in chain {
            if self.skip >= b.len() {
                self.skip -= b.len();
                continue;
            }
            if self.total >= GATHER_MAX {
                return false;
            }
            let part = &b[self.skip..];
            self.total += part.len();
            self.skip = 0;
            if part.len() <= STAGE_SMALL && self.stage(part) {
                continue;
            }
            match self.buf.0.last_mut() {
                Some(last) if last.iov_base as usize + last.iov_len == part.as_ptr() as usize => {
                    last.iov_len += part.len();
                    continue;
                }
                _ => {}
            }
            if self.buf.0.len() == IOV_MAX {
                self.total -= part.len();
                return false;
            }
            self.buf.0.push(libc::iovec {
                iov_base: part.as_ptr() as *mut libc::c_void,
                iov_len: part.len(),
            });
        }
        true
    }
}

impl Gather<'_> {
    /// Copies a small slice into the staging buffer, extending the last
    /// iovec when it ends where the staged bytes do; false when the buffer
    /// is full or the iovecs are used up. The buffer never grows (its
    /// capacity is fixed), so staged iovecs stay valid.
    // COPY: slices of at most STAGE_SMALL bytes, at most STAGE_CAP per writev.
    fn stage(&mut self, part: &[u8]) -> bool {
        let IovBuf(iov, stage) = &mut *self.buf;
        if stage.capacity() - stage.len() < part.len() {
            return false;
        }
        let at = stage.len();
        let end = stage.as_ptr() as usize + at;
        let full = iov.len() == IOV_MAX;
        match iov.last_mut() {
            Some(last) if at > 0 && last.iov_base as usize + last.iov_len == end => {
                stage.extend_from_slice(part);
                last.iov_len += part.len();
            }
            _ if full => return false,
            _ => {
                stage.extend_from_slice(part);
                iov.push(libc::iovec {
                    iov_base: stage[at..].as_ptr() as *mut libc::c_void,
                    iov_len: part.len(),
                });
            }
        }
        true
    }
}

/// What one read gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recv {
    Data(usize), // bytes appended to the buffer
    Eof,         // peer closed its side
    Blocked,     // nothing to read now
}

/// A connected stream socket, TCP or unix.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub fn register(&mut self, r: &Registry, t: Token) -> io::Result<()> {
        let i = Interest::READABLE | Interest::WRITABLE;
        match self {
            Stream::Tcp(s) => r.register(s, t, i),
            Stream::Unix(s) => r.register(s, t, i),
        }
    }

    pub fn deregister(&mut self, r: &Registry) {
        let _ = match self {
            Stream::Tcp(s) => r.deregister(s),
            Stream::Unix(s) => r.deregister(s),
        };
    }

    fn fd(&self) -> i32 {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    /// The pending socket error (SO_ERROR), used to finish a connect.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
        }
    }

    /// Reads once into the spare capacity of `buf` (at most `max` bytes).
    pub fn recv(&self, buf: &mut BytesMut, max: usize) -> io::Result<Recv> {
        let spare = buf.spare_capacity_mut();
        let want = spare.len().min(max);
        if want == 0 {
            return Ok(Recv::Data(0));
        }
        loop {
            let n = read_fd(self.fd(), spare.as_mut_ptr().cast(), want);
            if n > 0 {
                let n = n as usize;
                advance_len(buf, n);
                return Ok(Recv::Data(n));
            }
            if n == 0 {
                return Ok(Recv::Eof);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                ErrorKind::Interrupted => continue,
                ErrorKind::WouldBlock => return Ok(Recv::Blocked),
                _ => return Err(e),
            }
        }
    }

    /// One writev of a gather; `Ok(0)` when the socket would block.
    pub fn sendv_gather(&mut self, g: &Gather<'_>) -> io::Result<usize> {
        if g.buf.0.is_empty() {
            return Ok(0);
        }
        loop {
            let n = writev_fd(self.fd(), &g.buf.0);
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                ErrorKind::Interrupted => continue,
                ErrorKind::WouldBlock => return Ok(0),
                _ => return Err(e),
            }
        }
    }

    /// One writev; `Ok(0)` when the socket would block.
    pub fn sendv(&mut self, iov: &[IoSlice<'_>]) -> io::Result<usize> {
        loop {
            let r = match self {
                Stream::Tcp(s) => s.write_vectored(iov),
                Stream::Unix(s) => s.write_vectored(iov),
            };
            match r {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(0),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Writes the slices with `send(2)` (one slice) or `sendmsg(2)`: the
/// socket calls skip the VFS layers `write(2)`/`writev(2)` go through
/// (file position lock, permission hooks), about 3% of the proxy's CPU
/// per unpipelined request.
#[allow(unsafe_code)]
fn writev_fd(fd: i32, iov: &[libc::iovec]) -> isize {
    if let [one] = iov {
        // SAFETY: the iovec points at live bytes borrowed by the `Gather`
        // for the duration of this call (see `Gather`).
        return unsafe { libc::send(fd, one.iov_base, one.iov_len, libc::MSG_NOSIGNAL) };
    }
    // SAFETY: an all-zero msghdr is valid (no address, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_ptr().cast_mut();
    msg.msg_iovlen = iov.len() as _;
    // SAFETY: each iovec points at live bytes borrowed by the `Gather` for
    // the duration of this call (see `Gather`); at most IOV_MAX entries,
    // which sendmsg(2) only reads.
    unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) }
}

#[allow(unsafe_code)]
fn read_fd(fd: i32, ptr: *mut libc::c_void, len: usize) -> isize {
    // SAFETY: `ptr` points at `len` writable bytes of the buffer's spare
    // capacity (checked by the caller); recv(2) writes at most `len` bytes.
    unsafe { libc::recv(fd, ptr, len, 0) }
}

#[allow(unsafe_code)]
fn advance_len(buf: &mut BytesMut, n: usize) {
    debug_assert!(n <= buf.capacity() - buf.len());
    // SAFETY: read(2) just initialised `n` bytes right after `len`, within
    // the spare capacity.
    unsafe { buf.set_len(buf.len() + n) }
}

/// `strerror(e)` as glibc spells it, for synthesised error replies (§ERR.2).
/// The peer of a client stream in log lines: `ip:port`, or `unix` for a
/// unix-socket client (its address has no name). One `getpeername(2)`,
/// made only when a line is actually written.
#[derive(Debug)]
pub struct Peer<'a>(pub &'a Stream);

impl std::fmt::Display for Peer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Stream::Tcp(s) => match s.peer_addr() {
                Ok(a) => write!(f, "{a}"),
                Err(_) => f.write_str("?"),
            },
            Stream::Unix(_) => f.write_str("unix"),
        }
    }
}

pub fn strerror(errno: i32) -> String {
    if errno == 0 {
        return String::from("unknown");
    }
    let s = io::Error::from_raw_os_error(errno).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The errno of an I/O error (EIO when there is none).
pub fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// Enables TCP keepalive on a socket.
pub fn set_keepalive(s: &TcpStream) -> io::Result<()> {
    setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)
}

/// The soft RLIMIT_NOFILE (1024 when it cannot be read).
#[allow(unsafe_code)]
pub fn nofile_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 1024;
    }
    r.rlim_cur
}

/// Sets an integer socket option.
#[allow(unsafe_code)]
pub fn setsockopt_int(fd: i32, level: i32, name: i32, val: i32) -> io::Result<()> {
    // SAFETY: passes a pointer to a live i32 and its exact size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&val as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_texts() {
        assert_eq!(strerror(libc::ECONNREFUSED), "Connection refused");
        assert_eq!(strerror(libc::ETIMEDOUT), "Connection timed out");
        assert_eq!(strerror(libc::EINVAL), "Invalid argument");
        assert_eq!(strerror(0), "unknown");
    }

    /// The bytes a gather's writev sends, read back through a socket pair.
    fn sent(g: &Gather<'_>) -> Vec<u8> {
        use std::io::Read;
        let (a, mut b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let n = writev_fd(a.as_raw_fd(), &g.buf.0);
        assert_eq!(n, g.total as isize);
        drop(a);
        let mut out = Vec::new();
        b.read_to_end(&mut out).expect("read back");
        out
    }

    /// Messages cut from one read chunk go out as one slice; others, and
    /// the part of the head already written, keep their own (slices past
    /// `STAGE_SMALL`, which are not copied).
    #[test]
    fn gather_merges_adjacent_chunks() {
        let m = |c: u8| [vec![c; STAGE_SMALL + 8], b"\r\n".to_vec()].concat();
        let read = bytes::Bytes::from([m(b'a'), m(b'b'), m(b'c')].concat());
        let n = STAGE_SMALL + 10;
        let (a, b, c) = (read.slice(0..n), read.slice(n..2 * n), read.slice(2 * n..));
        let other = bytes::Bytes::from(vec![b'o'; STAGE_SMALL + 1]);
        let chains = [vec![a], vec![b, other.clone()], vec![c]];
        let mut iov = IovBuf::new();
        let mut g = Gather::new(&mut iov, 3);
        for ch in &chains {
            assert!(g.push(ch));
        }
        let lens: Vec<usize> = g.buf.0.iter().map(|v| v.iov_len).collect();
        assert_eq!(lens, [2 * n - 3, other.len(), n]);
        assert_eq!(g.buf.0[0].iov_base as usize, read.as_ptr() as usize + 3);
        let want = [&read[3..2 * n], &other[..], &read[2 * n..]].concat();
        assert_eq!(sent(&g), want);
    }

    /// Small slices that are not adjacent are copied into the staging
    /// buffer and go out as one; a large one between them keeps its own,
    /// and once the buffer is full small slices get iovecs again.
    #[test]
    fn gather_stages_small_slices() {
        let small: Vec<bytes::Bytes> = (0..4u8)
            .map(|i| bytes::Bytes::from(vec![b'0' + i; 10 + usize::from(i)]))
            .collect();
        let big = bytes::Bytes::from(vec![b'B'; STAGE_SMALL + 1]);
        let chain = [
            small[0].clone(),
            small[1].clone(),
            big.clone(),
            small[2].clone(),
            small[3].clone(),
        ];
        let mut iov = IovBuf::new();
        let mut g = Gather::new(&mut iov, 5);
        assert!(g.push(&chain));
        let lens: Vec<usize> = g.buf.0.iter().map(|v| v.iov_len).collect();
        assert_eq!(lens, [5 + 11, big.len(), 12 + 13]);
        assert_eq!(g.buf.0[1].iov_base as usize, big.as_ptr() as usize);
        let want = [
            &small[0][5..],
            &small[1][..],
            &big[..],
            &small[2][..],
            &small[3][..],
        ]
        .concat();
        assert_eq!(sent(&g), want);
        // a full staging buffer: the rest get iovecs of their own
        let fill: Vec<bytes::Bytes> = (0..STAGE_CAP / STAGE_SMALL + 3)
            .map(|i| bytes::Bytes::from(vec![i as u8; STAGE_SMALL]))
            .collect();
        let mut g = Gather::new(&mut iov, 0);
        assert!(g.push(&fill));
        assert_eq!(g.buf.0.len(), 1 + 3);
        assert_eq!(g.buf.0[0].iov_len, STAGE_CAP);
        assert_eq!(sent(&g), fill.concat());
    }

    /// A gather stops at `IOV_MAX` slices and after `GATHER_MAX` bytes.
    #[test]
    fn gather_is_bounded() {
        let len = STAGE_SMALL + 1; // not staged
        let chunks: Vec<bytes::Bytes> = (0..IOV_MAX + 1)
            .map(|_| bytes::Bytes::from(vec![0u8; len]))
            .collect();
        let mut iov = IovBuf::new();
        let mut g = Gather::new(&mut iov, 0);
        assert!(!g.push(&chunks));
        assert_eq!((g.buf.0.len(), g.total), (IOV_MAX, len * IOV_MAX));
        let big = [bytes::Bytes::from(vec![0u8; GATHER_MAX])];
        let mut g = Gather::new(&mut iov, 0);
        assert!(g.push(&big) && !g.push(&big));
        assert_eq!(g.total, GATHER_MAX);
    }
}
