//! Sentinel connections (issue 13; twemproxy: none).
//!
//! A pool with `sentinels:` keeps one connection to one of them. On connect it sends the
//! [`Session`] hello (AUTH, one `get-master-addr-by-name` per server, `SUBSCRIBE
//! +switch-master`); every answer and every announcement that names a server of the pool
//! moves that server to the address Sentinel gives ([`server_moved`]). When the
//! connection fails, is refused, is slow to answer (the pool's `timeout`, 1 s without one,
//! for the queries and then for each keep-alive PING sent as often) or speaks garbage, it
//! is logged and closed, and the pool tries the next sentinel of its
//! list after the [`Rotation`]'s wait (never longer than `server_retry_timeout`). Nothing
//! here blocks the loop: connects are non-blocking, the hello is written as the socket
//! allows, replies are parsed as they come.
//!
//! # Reload (issue 13.5)
//! `Core::apply` keeps following Sentinel across a reload: `ServerPool::apply` leaves a
//! server whose name did not change at the address Sentinel gave it (whatever the file
//! now says), [`restart`] runs after a pool was added or its `sentinels`, `sentinel_auth`
//! or server names changed (the new session asks for every name it has now), and [`stop`]
//! before a pool is removed.
//!
//! # Invariants
//! - a pool has at most one sentinel connection (`SentinelLink::conn`), and while it has
//!   none exactly one `Timer::SentinelRetry` of it is armed (once started);
//! - a connection's `Timer::SentinelQuery` closes it if its session is not ready by then;
//!   once ready, one `Timer::SentinelPing` of it is armed at a time.

use crate::conf::ServerAddr;
use crate::conn::Close;
use crate::conn::Errno;
use crate::core::{Core, Timer};
use crate::sentinel::{Addr, Event, Rotation, Session};
use crate::sock;
use crate::token::{ConnRef, PoolId, SentinelConnId, ServerId};
use mio::net::TcpStream;
use mio::Interest;
use std::io::{ErrorKind, Read, Write};
use std::net::ToSocketAddrs;
use std::time::Duration;

/// How long a sentinel may take to answer every query when the pool has no `timeout`.
const QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// Bytes read from a sentinel per read call (its replies are short).
const READ_CHUNK: usize = 4096;

/// A pool's side of its sentinels.
#[derive(Debug)]
pub struct SentinelLink {
    pub rotation: Rotation,           // which sentinel next, and how long to wait
    pub conn: Option<SentinelConnId>, // the current connection
    pub due: Option<usize>,           // the sentinel to connect to when the retry timer fires
}

impl SentinelLink {
    pub fn new(nsentinels: usize, max_wait: Duration) -> SentinelLink {
        SentinelLink {
            rotation: Rotation::new(nsentinels, max_wait),
            conn: None,
            due: None,
        }
    }
}

/// A connection to one sentinel.
#[derive(Debug)]
pub struct SentinelConn {
    pub gen: u32,         // generation (slab reuse)
    pub pool: PoolId,     // its pool
    pub idx: usize,       // index in the pool's `sentinels:` list
    pub sock: TcpStream,  // non-blocking
    pub connected: bool,  // connect completed
    pub session: Session, // what was asked, what is owed
    pub out: Vec<u8>,     // hello bytes not yet written
    pub closing: bool,    // on Core::closing
}

/// Connects every pool that has sentinels to its first one (at start).
pub fn start(core: &mut Core) {
    for p in core.pool_order.clone() {
        restart(core, p);
    }
}

/// The sentinel side of pool `p`, if it has one.
fn link(core: &mut Core, p: PoolId) -> Option<&mut SentinelLink> {
    core.pools
        .get_mut(p)
        .and_then(|pool| pool.sentinel.as_mut())
}

/// Connects pool `p` to the first sentinel of its rotation, if it has sentinels.
fn begin(core: &mut Core, p: PoolId) {
    let Some(link) = link(core, p) else {
        return;
    };
    let (i, _) = link.rotation.pick();
    connect(core, p, i);
}

/// At start, and on reload when pool `p` was added or its `sentinels`, `sentinel_auth` or
/// server names changed: drops the current sentinel connection (quietly) and starts again
/// from the first sentinel of the pool's list, asking for every server it has now; a pool
/// left without sentinels stops following Sentinel (its servers keep the addresses in
/// use).
pub fn restart(core: &mut Core, p: PoolId) {
    let Some(pool) = core.pools.get_mut(p) else {
        return;
    };
    let old = pool.sentinel.take().and_then(|link| link.conn);
    let n = pool.conf.sentinels.len();
    let retry = Duration::from_millis(pool.conf.server_retry_timeout_ms);
    pool.sentinel = (n > 0).then(|| SentinelLink::new(n, retry));
    if let Some(id) = old {
        close(core, id, Close::Shutdown);
    }
    begin(core, p);
}

/// On reload, pool `p` is about to be removed: its sentinel connection goes with it,
/// quietly.
pub fn stop(core: &mut Core, p: PoolId) {
    let old = link(core, p).and_then(|link| link.conn.take());
    if let Some(id) = old {
        close(core, id, Close::Shutdown);
    }
}

/// Whether `id` is the connection its pool currently follows (a connection left over
/// from before a reload is not: its events are ignored and its end starts nothing).
fn current(core: &Core, p: PoolId, id: SentinelConnId) -> bool {
    core.pools
        .get(p)
        .and_then(|pool| pool.sentinel.as_ref())
        .is_some_and(|link| link.conn == Some(id))
}

/// `sentinel 127.0.0.1:26379 of pool 'p'`, for logs.
fn who(core: &Core, p: PoolId, i: usize) -> String {
    let Some(pool) = core.pools.get(p) else {
        return "sentinel of a removed pool".to_owned();
    };
    format!("sentinel {} of pool '{}'", nth(core, p, i), pool.conf.name)
}

/// `host:port` of sentinel `i` of pool `p` ("" if there is none).
fn nth(core: &Core, p: PoolId, i: usize) -> String {
    core.pools
        .get(p)
        .and_then(|pool| pool.conf.sentinels.get(i))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// Starts a non-blocking connect to sentinel `i` of pool `p`; a failure schedules the next.
fn connect(core: &mut Core, p: PoolId, i: usize) {
    let Some(pool) = core.pools.get(p) else {
        return;
    };
    let Some(conf) = pool.conf.sentinels.get(i) else {
        return;
    };
    let target = (conf.host.as_str(), conf.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next());
    let sock = match target.map(TcpStream::connect) {
        Some(Ok(s)) => s,
        Some(Err(e)) => return failed(core, p, i, &sock::strerror(sock::errno_of(&e))),
        None => return failed(core, p, i, "address resolution failed"),
    };
    let _ = sock.set_nodelay(true);
    let names = pool.order.iter().map(|&s| pool.servers[s].name.clone());
    let auth = pool.conf.sentinel_auth.as_deref();
    let (session, out) = Session::new(auth, names.collect());
    let wait = patience(core, p);
    let gen = core.next_gen();
    let entry = core.sentinels.vacant_entry();
    let id = SentinelConnId {
        idx: entry.key() as u32,
        gen,
    };
    let conn = entry.insert(SentinelConn {
        gen,
        pool: p,
        idx: i,
        sock,
        connected: false,
        session,
        out,
        closing: false,
    });
    let t = crate::token::encode(ConnRef::Sentinel(id));
    let r =
        core.poll
            .registry()
            .register(&mut conn.sock, t, Interest::READABLE | Interest::WRITABLE);
    if let Err(e) = r {
        core.sentinels.remove(id.idx as usize);
        return failed(core, p, i, &sock::strerror(sock::errno_of(&e)));
    }
    if let Some(link) = link(core, p) {
        link.conn = Some(id);
        link.due = None;
    }
    let when = core.now + wait;
    core.timer_add(when, Timer::SentinelQuery(id));
    log::debug!("{}: connecting", who(core, p, i));
}

/// An attempt on sentinel `i` failed: log it, arm the retry timer for the next one.
fn failed(core: &mut Core, p: PoolId, i: usize, why: &str) {
    let Some(link) = link(core, p) else {
        return;
    };
    link.conn = None;
    link.rotation.failed();
    let (next, wait) = link.rotation.pick();
    link.due = Some(next);
    let when = core.now + wait;
    core.timer_add(when, Timer::SentinelRetry(p));
    log::warn!(
        "{}: {why}; trying sentinel {} in {} ms",
        who(core, p, i),
        nth(core, p, next),
        wait.as_millis()
    );
}

/// The retry timer of pool `p` fired.
pub fn retry_due(core: &mut Core, p: PoolId) {
    let due = link(core, p)
        .filter(|link| link.conn.is_none())
        .and_then(|link| link.due.take());
    if let Some(i) = due {
        connect(core, p, i);
    }
}

/// How long a sentinel of pool `p` may take to answer: the pool's `timeout`, 1 s without.
fn patience(core: &Core, p: PoolId) -> Duration {
    core.pools
        .get(p)
        .and_then(|pool| pool.timeout)
        .unwrap_or(QUERY_TIMEOUT)
}

/// The keep-alive timer of connection `id` fired: the last PING must have been answered;
/// send the next.
pub fn ping_due(core: &mut Core, id: SentinelConnId) {
    let Some(c) = core.sentinel(id).filter(|c| !c.closing) else {
        return;
    };
    let p = c.pool;
    if !current(core, p, id) {
        core.close_later(ConnRef::Sentinel(id), Close::Shutdown);
        return;
    }
    let Some(c) = core.sentinel(id) else { return };
    if c.session.ping_owed() {
        core.close_later(ConnRef::Sentinel(id), Close::Timeout);
        return;
    }
    let ping = c.session.ping();
    c.out.extend_from_slice(ping);
    send(core, id);
    let when = core.now + patience(core, p);
    core.timer_add(when, Timer::SentinelPing(id));
}

/// The query timer of connection `id` fired: a session still not ready is too slow.
pub fn query_due(core: &mut Core, id: SentinelConnId) {
    if core.sentinel(id).is_some_and(|c| !c.session.ready()) {
        core.close_later(ConnRef::Sentinel(id), Close::Timeout);
    }
}

/// Readiness on a sentinel socket.
pub fn on_event(core: &mut Core, id: SentinelConnId, ev: &mio::event::Event) {
    let Some(c) = core.sentinel(id) else { return };
    if !c.connected {
        if !(ev.is_writable() || ev.is_error() || ev.is_write_closed() || ev.is_read_closed()) {
            return;
        }
        let why = match c.sock.take_error() {
            Ok(None) if !ev.is_error() && c.sock.peer_addr().is_ok() => None,
            Ok(Some(e)) | Err(e) => Some(Close::Io(Errno::of(&e))),
            Ok(None) => Some(Close::Io(Errno(libc::ECONNREFUSED))),
        };
        if let Some(why) = why {
            core.close_later(ConnRef::Sentinel(id), why);
            return;
        }
        c.connected = true;
        let (p, i) = (c.pool, c.idx);
        log::info!("{}: connected", who(core, p, i));
    }
    if ev.is_writable() {
        send(core, id);
    }
    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
        on_readable(core, id);
    }
}

/// Writes what is left of the hello.
fn send(core: &mut Core, id: SentinelConnId) {
    let Some(c) = core.sentinel(id) else { return };
    while !c.out.is_empty() && !c.closing {
        match c.sock.write(&c.out) {
            Ok(0) => break,
            Ok(n) => {
                c.out.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => {
                let why = Close::Io(Errno::of(&e));
                core.close_later(ConnRef::Sentinel(id), why);
                return;
            }
        }
    }
}

/// Reads until drained, feeding the session and applying what it says.
fn on_readable(core: &mut Core, id: SentinelConnId) {
    let mut buf = [0u8; READ_CHUNK];
    let mut events = Vec::new();
    loop {
        let Some(c) = core.sentinel(id) else { return };
        if c.closing {
            return;
        }
        let n = match c.sock.read(&mut buf) {
            Ok(0) => {
                core.close_later(ConnRef::Sentinel(id), Close::Eof);
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => {
                core.close_later(ConnRef::Sentinel(id), Close::Io(Errno::of(&e)));
                return;
            }
        };
        let was_ready = c.session.ready();
        let r = c.session.feed(&buf[..n], &mut events);
        let became_ready = !was_ready && c.session.ready();
        let (p, i) = (c.pool, c.idx);
        if became_ready {
            let when = core.now + patience(core, p);
            core.timer_add(when, Timer::SentinelPing(id));
        }
        if !current(core, p, id) {
            core.close_later(ConnRef::Sentinel(id), Close::Shutdown);
            return;
        }
        for ev in events.drain(..) {
            apply(core, p, i, ev);
        }
        if let Err(e) = r {
            log::warn!("{}: {e}", who(core, p, i));
            core.close_later(ConnRef::Sentinel(id), Close::Protocol);
            return;
        }
    }
}

/// Acts on one thing sentinel `i` of pool `p` said.
fn apply(core: &mut Core, p: PoolId, i: usize, ev: Event) {
    let Some(pool) = core.pools.get_mut(p) else {
        return;
    };
    match ev {
        Event::Master { name, addr }
        | Event::Switch {
            name, new: addr, ..
        } => {
            let found = pool.servers.iter().find(|(_, s)| s.name == name);
            if let Some(s) = found.map(|(s, _)| s) {
                server_moved(core, p, s, &addr);
            }
        }
        Event::NoMaster { name, why } => {
            log::warn!(
                "{}: no address for server '{name}' ({why}); keeping the one in use",
                who(core, p, i)
            );
        }
        Event::Subscribed => {
            let n = pool.servers.len();
            if let Some(link) = pool.sentinel.as_mut() {
                link.rotation.ready();
            }
            log::info!(
                "{}: watching {n} masters for +switch-master",
                who(core, p, i)
            );
        }
    }
}

/// Sentinel says server `s` of pool `p` lives at `addr`. If that is news: new requests go
/// there from now on, the old connections close (their requests in flight get an error
/// reply), and the server's failure and ejection state is reset.
pub fn server_moved(core: &mut Core, p: PoolId, s: ServerId, addr: &Addr) {
    let new = ServerAddr::Tcp {
        host: addr.host.clone(),
        port: addr.port,
    };
    let Some(pool) = core.pools.get_mut(p) else {
        return;
    };
    let Some(srv) = pool.servers.get_mut(s).filter(|srv| srv.addr != new) else {
        return;
    };
    log::info!(
        "pool '{}' server '{}' switched from {} to {addr}",
        pool.conf.name,
        srv.name,
        srv.addr
    );
    pool.reset_failures(s);
    core.metrics.server(p, s).sentinel_switches += 1;
    core.set_server_addr(p, s, new, Close::MasterMoved);
}

/// Tears a sentinel connection down; unless the proxy is stopping, the pool tries the
/// next sentinel.
pub fn close(core: &mut Core, id: SentinelConnId, why: Close) {
    if core.sentinel(id).is_none() {
        return;
    }
    let mut c = core.sentinels.remove(id.idx as usize);
    let _ = core.poll.registry().deregister(&mut c.sock);
    let (p, i) = (c.pool, c.idx);
    if why == Close::Shutdown || !current(core, p, id) {
        return;
    }
    let text = match why {
        Close::Eof => "connection closed by the sentinel".to_owned(),
        Close::Timeout => "no answer in time".to_owned(),
        Close::Protocol => "garbage from the sentinel".to_owned(),
        other => sock::strerror(other.errno()),
    };
    failed(core, p, i, &text);
}
