//! Backend connections (twemproxy: nc_server.c, the connection half).
//!
//! Requests wait in `imsg_q` until written, then in `omsg_q` until their
//! response arrives; responses are matched to the head of `omsg_q`.
//! Connections are made lazily on first use (or at startup with
//! `preconnect`), resolving the server's host every time.
//!
//! A redis server has two sets of connections: `conns` for RESP2 clients
//! and `conns3`, switched to RESP3 by `HELLO 3` right after AUTH/SELECT,
//! for clients that sent HELLO 3 (issue 14.2). A request always goes to a
//! connection of its client's protocol, so replies are relayed untouched.
//! A RESP3 push (`>`) answers no request: on a Subscriber connection it is
//! a Pub/Sub message or confirmation (`conn::pubsub`), elsewhere it is
//! dropped, never paired.
//!
//! # Invariants
//! - every id in `imsg_q` names a `Queued` request, every id in `omsg_q`
//!   a `Sent` one, each with `server` pointing here (checked by
//!   `debug_assert!`s in `send`, `rsp_recv_done` and `close`);
//! - a connection is in `conns` iff its `resp` is RESP2, in `conns3` iff
//!   RESP3;
//! - `rdata` holds the pieces of the response being received.

use crate::conf::ServerAddr;
use crate::conn::{Close, Errno};
use crate::core::{Core, Timer};
use crate::msg::done::req_fail;
use crate::msg::{response, Expect, Owner, ReqError, State};
use crate::pool::Failure;
use crate::proto::redis::Resp;
use crate::proto::{Progress, Proto, RspKind, RspMeta, RspParser};
use crate::sock::{self, Gather, Recv, Stream};
use crate::token::{ClientId, ConnRef, MsgId, PoolId, ServerConnId, ServerId};
use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::net::ToSocketAddrs;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A connection to a backend server.
#[derive(Debug)]
pub struct ServerConn {
    pub gen: u32,         // generation (slab reuse)
    pub pool: PoolId,     // its pool
    pub server: ServerId, // its server in the pool
    pub resp: Resp,       // redis: protocol of the replies (RESP3: HELLO 3 sent first)
    pub sock: Stream,
    pub connected: bool,             // connect completed
    pub parser: RspParser,           // resumable response parser
    pub rstarted: bool,              // parser set up for the current response
    pub rdata: Vec<Bytes>,           // earlier chunks of the current response
    pub rmeta: RspMeta,              // parse result of the current response
    pub imsg_q: VecDeque<MsgId>,     // requests to write
    pub omsg_q: VecDeque<MsgId>,     // requests written, awaiting a response
    pub send_off: usize,             // bytes of the head of imsg_q already written
    pub closing: bool,               // on Core::closing
    pub pending_send: bool,          // on Core::pending_send
    pub blocked: bool,               // last write hit WouldBlock
    pub tmo_armed: bool,             // a Timer::Conn for this connection is pending
    pub lease: Lease,                // shared by a lane's clients, or one client's own
    pub held_since: Option<Instant>, // requests held since (Core::hold_server)
}

/// Whom a connection serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    Lane(usize),          // shared: lane `n` of its server (`Server::conns`)
    Dedicated(ClientId),  // one client's own (`Server::dedicated`, conn::dedicated)
    Subscriber(ClientId), // one client's Pub/Sub connection (also in `Server::dedicated`, conn::pubsub)
}

/// The connection of server `s` for a request of a client on `lane` (see
/// `pool`, Lanes) speaking `resp`: that lane's connection of the protocol,
/// opened if it is not. RESP2 and RESP3 requests never share a connection,
/// so every reply is relayed as the backend wrote it.
pub fn conn_for(
    core: &mut Core,
    p: PoolId,
    s: ServerId,
    lane: u32,
    resp: Resp,
) -> Result<ServerConnId, Errno> {
    let max = core.pools[p].conf.server_connections.max(1);
    let slot = (lane % max) as usize;
    match core.pools[p].servers[s].lanes(resp).get(slot) {
        Some(Some(id)) => Ok(*id),
        _ => connect(core, p, s, Lease::Lane(slot), resp),
    }
}

/// The first lane of server `s` without a RESP2 connection (preconnect,
/// probes).
pub fn free_lane(core: &Core, p: PoolId, s: ServerId) -> usize {
    let conns = &core.pools[p].servers[s].conns;
    conns
        .iter()
        .position(Option::is_none)
        .unwrap_or(conns.len())
}

/// Opens a connection of protocol `resp` to server `s` of pool `p` for
/// `lease` (twemproxy: server_connect); `resp` matters to redis pools only.
pub fn connect(
    core: &mut Core,
    p: PoolId,
    s: ServerId,
    lease: Lease,
    resp: Resp,
) -> Result<ServerConnId, Errno> {
    let r = open(&core.pools[p].servers[s].addr);
    let sock = match r {
        Ok(sock) => sock,
        Err(e) => {
            core.metrics.server(p, s).server_err += 1;
            server_failure(core, p, s);
            return Err(e);
        }
    };
    let gen = core.next_gen();
    let proto = core.pools[p].proto;
    let entry = core.servers.vacant_entry();
    let id = ServerConnId {
        idx: entry.key() as u32,
        gen,
    };
    let conn = entry.insert(ServerConn {
        gen,
        pool: p,
        server: s,
        resp,
        sock,
        connected: false,
        parser: RspParser::new(proto, false),
        rstarted: false,
        rdata: Vec::new(),
        rmeta: RspMeta::default(),
        imsg_q: VecDeque::new(),
        omsg_q: VecDeque::new(),
        send_off: 0,
        closing: false,
        pending_send: false,
        held_since: None,
        blocked: false,
        tmo_armed: false,
        lease,
    });
    let t = crate::token::encode(ConnRef::Server(id));
    if let Err(e) = conn.sock.register(core.poll.registry(), t) {
        core.servers.remove(id.idx as usize);
        return Err(Errno::of(&e));
    }
    let srv = &mut core.pools[p].servers[s];
    match lease {
        Lease::Lane(lane) => {
            let conns = srv.lanes_mut(resp);
            if conns.len() <= lane {
                conns.resize(lane + 1, None);
            }
            conns[lane] = Some(id);
        }
        Lease::Dedicated(_) | Lease::Subscriber(_) => {
            srv.dedicated.push(id);
            core.metrics.server(p, s).dedicated_connections += 1;
        }
    }
    core.stats_conn_open();
    if let Some(t) = core.pools[p].timeout {
        let when = core.now + t;
        core.timer_add(when, Timer::Connect(id));
    }
    if proto == Proto::Redis {
        setup_redis(core, p, s, id, resp);
    }
    Ok(id)
}

/// Resolves (every time: DNS may have changed) and starts a non-blocking
/// connect.
fn open(addr: &ServerAddr) -> Result<Stream, Errno> {
    match addr {
        ServerAddr::Tcp { host, port } => {
            let sa = (host.as_str(), *port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or(Errno(libc::EHOSTDOWN))?;
            let s = mio::net::TcpStream::connect(sa).map_err(|e| Errno::of(&e))?;
            let _ = s.set_nodelay(true);
            Ok(Stream::Tcp(s))
        }
        ServerAddr::Unix(path) => {
            let s = mio::net::UnixStream::connect(path).map_err(|e| Errno::of(&e))?;
            Ok(Stream::Unix(s))
        }
    }
}

/// AUTH first, then SELECT, ahead of every request on a new redis
/// connection (0.5.0 sent SELECT first, so it failed with NOAUTH: #491);
/// then HELLO 3 on a connection for RESP3 clients. A backend older than
/// redis 6 refuses HELLO: the failure is logged and its replies stay RESP2.
fn setup_redis(core: &mut Core, p: PoolId, s: ServerId, id: ServerConnId, resp: Resp) {
    let mut cmds: Vec<Vec<u8>> = Vec::new();
    if let Some(pw) = &core.pools[p].conf.redis_auth {
        let mut b = format!("*2\r\n$4\r\nAUTH\r\n${}\r\n", pw.len()).into_bytes();
        b.extend_from_slice(pw.as_bytes());
        b.extend_from_slice(b"\r\n");
        cmds.push(b);
    }
    let db = core.pools[p].conf.redis_db;
    if db > 0 {
        let d = db.to_string();
        cmds.push(format!("*2\r\n$6\r\nSELECT\r\n${}\r\n{}\r\n", d.len(), d).into_bytes());
    }
    if resp == Resp::Resp3 {
        cmds.push(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n".to_vec());
    }
    for b in cmds {
        internal_enqueue(core, p, s, id, Bytes::from(b));
    }
}

/// Queues one of the proxy's own requests (AUTH, SELECT, probe) on
/// connection `id` of server `s`. It counts in the queue gauges (§STATS.4)
/// but never as a client request.
fn internal_enqueue(core: &mut Core, p: PoolId, s: ServerId, id: ServerConnId, b: Bytes) -> MsgId {
    internal_enqueue_as(core, p, (s, id), b, Owner::Setup)
}

pub fn internal_enqueue_as(
    core: &mut Core,
    p: PoolId,
    (s, id): (ServerId, ServerConnId),
    b: Bytes,
    owner: Owner,
) -> MsgId {
    let m = core.msgs.alloc(owner);
    let len = b.len();
    if let Some(msg) = core.msgs.get_mut(m) {
        msg.pool = p;
        msg.mlen = len as u32;
        msg.data.push(b);
        msg.state = State::Queued;
        msg.server = Some((s, id));
    }
    if let Some(c) = core.server(id) {
        c.imsg_q.push_back(m);
    }
    let sm = core.metrics.server(p, s);
    sm.in_queue += 1;
    sm.in_queue_bytes += len as i64;
    m
}

/// Probes every ejected server whose retry time has passed, in pools with
/// `server_probe: true` (beyond 0.5.0, which re-admits blindly). Called
/// once per loop iteration; cheap when nothing is due.
pub fn server_probe_due(core: &mut Core) {
    let now = core.now;
    for i in 0..core.pool_order.len() {
        let p = core.pool_order[i];
        if core.pools[p].probe_at().is_none_or(|t| now <= t) {
            continue;
        }
        for s in core.pools[p].probes_due(now) {
            server_probe(core, p, s);
        }
    }
}

/// Opens a fresh connection to ejected server `s` and sends it one
/// internal request (redis `PING`, memcache `version`) behind any
/// AUTH/SELECT. `response::probe_done` judges the outcome. The probe is
/// not a client request: it counts in the queue gauges only.
fn server_probe(core: &mut Core, p: PoolId, s: ServerId) {
    let now = core.now;
    log::info!(
        "probing server '{}' of pool '{}'",
        core.pools[p].servers[s].pname,
        core.pools[p].conf.name
    );
    let id = match connect(core, p, s, Lease::Lane(free_lane(core, p, s)), Resp::Resp2) {
        Ok(id) => id,
        Err(e) => {
            log::warn!(
                "probe of server '{}' failed: {}",
                core.pools[p].servers[s].pname,
                sock::strerror(e.0)
            );
            core.pools[p].probe_failed(s, now);
            return;
        }
    };
    let cmd: &'static [u8] = match core.pools[p].proto {
        Proto::Redis => b"*1\r\n$4\r\nPING\r\n",
        Proto::Memcache => b"version\r\n",
    };
    internal_enqueue_as(core, p, (s, id), Bytes::from_static(cmd), Owner::Probe);
    // The probe gets the pool timeout, or one retry period without one, for
    // connect and reply together: a silent server must not stay probing.
    let wait = core.pools[p].timeout.unwrap_or(Duration::from_millis(
        core.pools[p].conf.server_retry_timeout_ms.max(1),
    ));
    core.timer_add(now + wait, Timer::Probe(id));
    core.want_send(ConnRef::Server(id));
}

/// Whether a probe is still waiting on connection `id` (for its timer).
pub fn probe_pending(core: &mut Core, id: ServerConnId) -> bool {
    let Core { servers, msgs, .. } = core;
    let Some(c) = servers.get(id.idx as usize).filter(|c| c.gen == id.gen) else {
        return false;
    };
    let probe = |m: &MsgId| msgs.get(*m).is_some_and(|m| m.owner == Owner::Probe);
    c.imsg_q.iter().any(probe) || c.omsg_q.iter().any(probe)
}

/// Readiness on a backend socket.
pub fn on_event(core: &mut Core, id: ServerConnId, ev: &mio::event::Event) {
    let Some(c) = core.server(id) else { return };
    if !c.connected {
        if !(ev.is_writable() || ev.is_error() || ev.is_write_closed() || ev.is_read_closed()) {
            return;
        }
        match c.sock.take_error() {
            Ok(None) if !ev.is_error() => {}
            Ok(Some(e)) | Err(e) => {
                let why = Close::Io(Errno::of(&e));
                core.close_later(ConnRef::Server(id), why);
                return;
            }
            Ok(None) => {
                core.close_later(ConnRef::Server(id), Close::Io(Errno(libc::ECONNREFUSED)));
                return;
            }
        }
        c.connected = true;
        let (p, s) = (c.pool, c.server);
        core.metrics.server(p, s).server_connections += 1;
        send(core, id);
    }
    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
        on_readable(core, id, ev.is_read_closed());
    }
    if ev.is_writable() {
        let Some(c) = core.server(id) else { return };
        if c.blocked {
            c.blocked = false;
            send(core, id);
        }
    }
}

/// Read chunks one server connection may fill per loop iteration; the
/// rest waits for the next (`Core::pending_srv_recv`), so replies pile up
/// for a client that does not read them by at most this much before its
/// `client_max_pending_bytes` is checked again.
const READ_BUDGET_MBUFS: usize = 64;

/// Reads until drained or the budget is spent. `hup`: the peer's FIN came
/// with this edge, so a short read is not the end: no later edge would
/// report the EOF (a backend that replies half and closes would hang its
/// requests).
pub fn on_readable(core: &mut Core, id: ServerConnId, hup: bool) {
    let mut budget = READ_BUDGET_MBUFS * core.mbufs.size();
    loop {
        let Core {
            servers,
            mbufs,
            arena,
            ..
        } = core;
        let Some(c) = servers.get_mut(id.idx as usize).filter(|c| c.gen == id.gen) else {
            return;
        };
        if c.closing {
            return;
        }
        mbufs.ensure(arena);
        let spare = arena.capacity() - arena.len();
        match c.sock.recv(arena, spare) {
            Ok(Recv::Data(n)) => {
                let data = arena.split().freeze();
                if !parse(core, id, data) {
                    return;
                }
                if n < spare && !hup {
                    return;
                }
                budget = budget.saturating_sub(n);
                if budget == 0 {
                    core.pending_srv_recv.push(id);
                    return;
                }
            }
            Ok(Recv::Eof) => {
                core.close_later(ConnRef::Server(id), Close::Eof);
                return;
            }
            Ok(Recv::Blocked) => return,
            Err(e) => {
                core.close_later(ConnRef::Server(id), Close::Io(Errno::of(&e)));
                return;
            }
        }
    }
}

/// Parses every complete response in freshly read bytes; a partial one
/// keeps its piece in `rdata`. False when the connection is going away.
fn parse(core: &mut Core, id: ServerConnId, mut data: Bytes) -> bool {
    loop {
        let Core {
            servers,
            msgs,
            limits,
            ..
        } = core;
        let Some(c) = servers.get_mut(id.idx as usize).filter(|c| c.gen == id.gen) else {
            return false;
        };
        if c.closing {
            return false;
        }
        if data.is_empty() {
            return true;
        }
        if !c.rstarted {
            // Fragment replies need their element spans for coalescing,
            // Pub/Sub pushes for relaying.
            let want = match c.omsg_q.front() {
                Some(m) => msgs.get(*m).is_some_and(|m| m.parent().is_some()),
                None => matches!(c.lease, Lease::Subscriber(_)),
            };
            c.parser.restart(want);
            c.rmeta.clear();
            c.rstarted = true;
        }
        match c.parser.parse(&data, limits, &mut c.rmeta) {
            Ok(Progress::Incomplete) => {
                c.rdata.push(data);
                return true;
            }
            Ok(Progress::Complete { end })
                if c.rmeta.kind == RspKind::Push && !matches!(c.lease, Lease::Subscriber(_)) =>
            {
                // Out of band (RESP3 push): no request asked for it. The
                // proxy subscribes on Subscriber connections only (their
                // pushes are Pub/Sub messages: relayed by `response`) and
                // never tracks keys, so none is expected here; it is
                // dropped, not paired.
                data.advance(end);
                c.rdata.clear();
                c.rstarted = false;
                log::info!("server connection {} sent a push message: dropped", id.idx);
            }
            Ok(Progress::Complete { end }) => {
                c.rdata.push(data.split_to(end));
                c.rstarted = false;
                response::rsp_recv_done(core, id);
            }
            Err(e) => {
                log::warn!(
                    "server connection {} sent an unparsable response: {}",
                    id.idx,
                    e.reason()
                );
                core.close_later(ConnRef::Server(id), Close::BadReply);
                return false;
            }
        }
    }
}

/// Writes queued requests with writev (twemproxy: msg_send on a server,
/// req_send_next/req_send_done).
pub fn send(core: &mut Core, id: ServerConnId) {
    loop {
        let Core {
            servers, msgs, iov, ..
        } = core;
        let Some(c) = servers.get_mut(id.idx as usize).filter(|c| c.gen == id.gen) else {
            return;
        };
        c.pending_send = false;
        if c.closing || !c.connected {
            return;
        }
        let mut g = Gather::new(iov, c.send_off);
        for mid in &c.imsg_q {
            let Some(m) = msgs.get(*mid) else { continue };
            debug_assert!(m.state == State::Queued && m.server.map(|x| x.1) == Some(id));
            if !g.push(&m.data) {
                break;
            }
        }
        let total = g.total;
        if total == 0 {
            return;
        }
        let sent = match c.sock.sendv_gather(&g) {
            Ok(0) => {
                c.blocked = true;
                return;
            }
            Ok(k) => k,
            Err(e) => {
                core.close_later(ConnRef::Server(id), Close::Io(Errno::of(&e)));
                return;
            }
        };
        let left = sent + c.send_off;
        c.send_off = 0;
        core.ls.write(true);
        req_send_done(core, id, left);
        core.ls.write_done(true);
        if sent < total {
            if let Some(c) = core.server(id) {
                c.blocked = true;
            }
            return;
        }
    }
}

/// `left` bytes from the head of `imsg_q` are written: each request
/// fully written moves to `omsg_q` to await its reply (a noreply one is
/// forgotten), and the queue gauges move by the batch at once.
fn req_send_done(core: &mut Core, id: ServerConnId, mut left: usize) {
    let now = core.now;
    let Core {
        servers,
        msgs,
        metrics,
        pools,
        ls,
        ..
    } = core;
    let Some(c) = servers.get_mut(id.idx as usize).filter(|c| c.gen == id.gen) else {
        return;
    };
    let (p, s) = (c.pool, c.server);
    let tmo = pools[p].timeout;
    let sent_us = metrics.micros(now);
    let (mut nsent, mut sent_bytes, mut nout, mut out_bytes) = (0i64, 0i64, 0i64, 0i64);
    let mut arm = None;
    while let Some(&mid) = c.imsg_q.front() {
        let Some(m) = msgs.get_mut(mid) else {
            c.imsg_q.pop_front();
            continue;
        };
        let len = m.mlen as usize;
        if left < len {
            c.send_off = left;
            break;
        }
        left -= len;
        c.imsg_q.pop_front();
        ls.sent(true, m.stamp);
        debug_assert_eq!(m.state, State::Queued, "written from imsg_q");
        m.sent_us = Some(sent_us);
        m.data.clear(); // the read chunk can be reused as soon as possible
        nsent += 1;
        sent_bytes += len as i64;
        if m.expect == Expect::None {
            m.state = State::Done; // written: nothing more will come
            msgs.free(mid);
            continue;
        }
        m.state = State::Sent;
        nout += 1;
        out_bytes += len as i64;
        // A blocking command waits as long as its own timeout says.
        let when = tmo
            .filter(|_| !crate::conn::dedicated::unbounded(&m.meta))
            .map(|t| now + t);
        m.deadline = when;
        c.omsg_q.push_back(mid);
        if let Some(w) = when.filter(|_| !c.tmo_armed) {
            c.tmo_armed = true;
            arm = Some(w);
        }
    }
    let sm = metrics.server(p, s);
    sm.in_queue -= nsent;
    sm.in_queue_bytes -= sent_bytes;
    sm.out_queue += nout;
    sm.out_queue_bytes += out_bytes;
    if let Some(w) = arm {
        core.timer_add(w, Timer::Conn(id));
    }
}

/// Tears a backend connection down; every request on it completes with the
/// error of §FAIL.4 (twemproxy: server_close).
pub fn close(core: &mut Core, id: ServerConnId, why: Close) {
    if core.server(id).is_none() {
        return;
    }
    let mut c = core.servers.remove(id.idx as usize);
    c.sock.deregister(core.poll.registry());
    let (p, s) = (c.pool, c.server);
    // The server may have left its pool already (a reload removed it), or
    // taken this connection off its lanes and dedicated list (a reload or
    // a failover moved it): then a failure here is its old address's.
    let mut routed = false;
    if let Some(srv) = core.pools.get_mut(p).and_then(|x| x.servers.get_mut(s)) {
        for lane in srv.lanes_mut(c.resp) {
            if *lane == Some(id) {
                *lane = None;
                routed = true;
            }
        }
        let n = srv.dedicated.len();
        srv.dedicated.retain(|&d| d != id);
        routed |= srv.dedicated.len() < n;
    }
    match c.lease {
        Lease::Lane(_) => {}
        Lease::Dedicated(cid) => {
            core.metrics.server(p, s).dedicated_connections -= 1;
            crate::conn::dedicated::server_closed(core, cid, id);
        }
        Lease::Subscriber(cid) => {
            core.metrics.server(p, s).dedicated_connections -= 1;
            crate::conn::pubsub::server_closed(core, cid, id);
        }
    }
    let sent = c.omsg_q.len();
    for (i, mid) in c.omsg_q.drain(..).chain(c.imsg_q.drain(..)).enumerate() {
        let Some(m) = core.msgs.get_mut(mid) else {
            continue;
        };
        let len = i64::from(m.mlen);
        debug_assert_eq!(
            m.state,
            if i < sent { State::Sent } else { State::Queued },
            "omsg_q holds sent requests, imsg_q queued ones"
        );
        m.state = State::New; // off the server
        m.deadline = None;
        let sm = core.metrics.server(p, s);
        if i < sent {
            sm.out_queue -= 1;
            sm.out_queue_bytes -= len;
        } else {
            sm.in_queue -= 1;
            sm.in_queue_bytes -= len;
        }
        req_fail(core, mid, ReqError::Closed(why));
    }
    let sm = core.metrics.server(p, s);
    match why {
        Close::Eof => sm.server_eof += 1,
        Close::Timeout => sm.server_timedout += 1,
        Close::Shutdown | Close::Reconfigured | Close::MasterMoved | Close::Released => {}
        Close::Io(_) | Close::BadReply | Close::Protocol | Close::PendingLimit => {
            sm.server_err += 1
        }
    }
    if c.connected {
        sm.server_connections -= 1;
    }
    core.stats_conn_close();
    if why.server_failure() && routed {
        server_failure(core, p, s);
    }
}

/// Counts a failure of server `s`; ejects it at the limit (§FAIL.2).
fn server_failure(core: &mut Core, p: PoolId, s: ServerId) {
    let now = core.now;
    if core.pools[p].failure(s, now) == Some(Failure::Ejected) {
        let us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        core.metrics.pool(p).server_ejects += 1;
        core.metrics.server(p, s).server_ejected_at = us;
        log::warn!(
            "server '{}' in pool '{}' ejected after {} failures, retry in {} ms",
            core.pools[p].servers[s].pname,
            core.pools[p].conf.name,
            core.pools[p].conf.server_failure_limit.max(1),
            core.pools[p].conf.server_retry_timeout_ms
        );
    }
}
