//! Pool listeners (twemproxy: nc_proxy.c).
//!
//! One listening socket per pool: TCP (v4 or v6, `SO_REUSEADDR`, optional
//! `SO_REUSEPORT` so several instances, one per core, share a port, and the
//! pool's `backlog`) or a unix socket (unlinked first, then `chmod`ed to
//! the configured mode). Accepts until `WouldBlock`.

use crate::conf::{Listen, PoolConf};
use crate::conn::client;
use crate::core::Core;
use crate::sock::{setsockopt_int, Stream};
use crate::token::{self, ConnRef, ListenerId, PoolId};
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A listening socket.
#[derive(Debug)]
pub enum ListenSock {
    Tcp(mio::net::TcpListener),
    Unix(mio::net::UnixListener),
}

/// A pool's listener (twemproxy: the proxy conn).
#[derive(Debug)]
pub struct Listener {
    pub gen: u32,     // generation (slab reuse)
    pub pool: PoolId, // owning pool
    pub sock: ListenSock,
}

/// Binds pool `p`'s listener and registers it (§CONN.1).
pub fn bind(core: &mut Core, p: PoolId) -> Result<(), String> {
    let sock = open(&core.pools[p].conf)?;
    add(core, p, sock)
}

/// Binds and listens on a pool's `listen:` address without registering it:
/// a reload binds every new address this way first, so a failure rejects
/// it before anything changed.
pub fn open(pool: &PoolConf) -> Result<ListenSock, String> {
    let backlog = i32::try_from(pool.backlog).unwrap_or(i32::MAX);
    let what = &pool.listen_str;
    let sock = match &pool.listen {
        Listen::Tcp(addr) => bind_tcp(*addr, backlog, pool.reuseport)
            .map(|l| ListenSock::Tcp(mio::net::TcpListener::from_std(l)))
            .map_err(|e| format!("bind on p to addr '{what}' failed: {e}"))?,
        Listen::Unix { path, perm } => {
            let _ = std::fs::remove_file(path);
            let l = std::os::unix::net::UnixListener::bind(path)
                .map_err(|e| format!("bind on p to addr '{what}' failed: {e}"))?;
            l.set_nonblocking(true)
                .map_err(|e| format!("bind on p to addr '{what}' failed: {e}"))?;
            if *perm != 0 {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*perm))
                    .map_err(|e| format!("chmod on p on addr '{what}' failed: {e}"))?;
            }
            relisten(l.as_raw_fd(), backlog)
                .map_err(|e| format!("listen on p on addr '{what}' failed: {e}"))?;
            ListenSock::Unix(mio::net::UnixListener::from_std(l))
        }
    };
    Ok(sock)
}

/// Registers a socket from [`open`] as pool `p`'s listener.
pub fn add(core: &mut Core, p: PoolId, sock: ListenSock) -> Result<(), String> {
    let what = core.pools[p].conf.listen_str.clone();
    let gen = core.next_gen();
    let entry = core.listeners.vacant_entry();
    let id = ListenerId {
        idx: entry.key() as u32,
        gen,
    };
    let l = entry.insert(Listener { gen, pool: p, sock });
    let t = token::encode(ConnRef::Listener(id));
    let r = match &mut l.sock {
        ListenSock::Tcp(s) => core.poll.registry().register(s, t, mio::Interest::READABLE),
        ListenSock::Unix(s) => core.poll.registry().register(s, t, mio::Interest::READABLE),
    };
    r.map_err(|e| format!("listen on p on addr '{what}' failed: {e}"))?;
    core.stats_conn_open();
    log::info!(
        "p {} listening on '{}' in {} pool '{}'",
        id.idx,
        what,
        proto_name(core, p),
        core.pools[p].conf.name
    );
    Ok(())
}

/// Stops listening (a reload removed the pool or moved its address);
/// clients already accepted stay. Connections already queued are accepted
/// first: their connect succeeded, and closing the socket would reset them.
pub fn close(core: &mut Core, id: ListenerId) {
    if core.listener(id).is_none() {
        return;
    }
    on_event(core, id);
    let mut l = core.listeners.remove(id.idx as usize);
    let r = match &mut l.sock {
        ListenSock::Tcp(s) => core.poll.registry().deregister(s),
        ListenSock::Unix(s) => core.poll.registry().deregister(s),
    };
    if let Err(e) = r {
        log::warn!("deregister of listener {} failed: {e}", id.idx);
    }
    core.stats_conn_close();
    log::info!("p {} closed", id.idx);
}

/// Sets a new backlog on a listening socket (a reload that keeps the
/// address but changes `backlog:`).
pub fn set_backlog(sock: &ListenSock, backlog: u32) -> io::Result<()> {
    let fd = match sock {
        ListenSock::Tcp(s) => s.as_raw_fd(),
        ListenSock::Unix(s) => s.as_raw_fd(),
    };
    relisten(fd, i32::try_from(backlog).unwrap_or(i32::MAX))
}

fn proto_name(core: &Core, p: PoolId) -> &'static str {
    if core.pools[p].conf.redis {
        "redis"
    } else {
        "memcache"
    }
}

/// Accepts every pending connection (§CONN.2).
pub fn on_event(core: &mut Core, id: ListenerId) {
    loop {
        let Some(l) = core.listener(id) else { return };
        let pool = l.pool;
        let r = match &l.sock {
            ListenSock::Tcp(s) => s.accept().map(|(c, _)| {
                let _ = c.set_nodelay(true);
                Stream::Tcp(c)
            }),
            ListenSock::Unix(s) => s.accept().map(|(c, _)| Stream::Unix(c)),
        };
        match r {
            Ok(s) => client::accept(core, pool, s),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e)
                if e.kind() == ErrorKind::WouldBlock
                    || e.raw_os_error() == Some(libc::ECONNABORTED) =>
            {
                return
            }
            Err(e) => {
                // EMFILE/ENFILE: keep the listener, try again on the next event.
                log::error!("accept on p {} failed: {}", id.idx, e);
                return;
            }
        }
    }
}

/// A TCP listening socket with the options mio's `bind` does not offer.
#[allow(unsafe_code)]
fn bind_tcp(addr: SocketAddr, backlog: i32, reuseport: bool) -> io::Result<std::net::TcpListener> {
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if reuseport {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    let r = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
            let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = a.port().to_be();
            sa.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            // SAFETY: passes a live sockaddr_in and its exact size.
            unsafe {
                libc::bind(
                    fd,
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = a.port().to_be();
            sa.sin6_flowinfo = a.flowinfo();
            sa.sin6_addr.s6_addr = a.ip().octets();
            sa.sin6_scope_id = a.scope_id();
            // SAFETY: passes a live sockaddr_in6 and its exact size.
            unsafe {
                libc::bind(
                    fd,
                    (&sa as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    relisten(fd, backlog)?;
    Ok(std::net::TcpListener::from(owned))
}

/// listen(2) with our backlog (also resets it on an already listening socket).
#[allow(unsafe_code)]
fn relisten(fd: i32, backlog: i32) -> io::Result<()> {
    // SAFETY: plain listen(2) on a socket we own.
    if unsafe { libc::listen(fd, backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
