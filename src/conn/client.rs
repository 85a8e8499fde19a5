//! Client connections (twemproxy: nc_client.c).
//!
//! A client reads requests and writes their replies strictly in request
//! order (§CONN.7): `omsg_q` holds every request that expects a reply, and
//! only its done prefix is ever written.
//!
//! # Invariants
//! - every id in `omsg_q` is done, or queued on exactly one server
//!   connection, or a fragmented parent whose children are;
//! - the bytes of the request being received (`rmsg`) are all in its
//!   `data`; `unparsed` starts at a request boundary;
//! - once `eof` is set nothing more is read; the connection closes when
//!   `omsg_q` drains.

use crate::conn::Close;
use crate::core::{Core, REQS_PER_EVENT};
use crate::msg::request;
use crate::proto::{ParseError, Progress, ReqParser};
use crate::sock::{self, Recv, Stream, IOV_MAX};
use crate::token::{ClientId, ConnRef, MsgId};
use bytes::Bytes;
use std::collections::VecDeque;
use std::io::IoSlice;

/// A client connection.
#[derive(Debug)]
pub struct ClientConn {
    pub gen: u32,  // generation (slab reuse)
    pub pool: u16, // pool it connected to
    pub sock: Stream,
    pub unparsed: Bytes,         // read, not yet parsed (budget spent)
    pub parser: ReqParser,       // resumable request parser
    pub rmsg: Option<MsgId>,     // request being received
    pub omsg_q: VecDeque<MsgId>, // requests awaiting their reply, in order
    pub send_off: usize,         // bytes of the head reply already written
    pub eof: bool,               // reading stopped (EOF, quit, framing lost)
    pub err_close: bool,         // count the eventual close as client_err
    pub authed: bool,            // passed AUTH (redis_auth pools)
    pub closing: bool,           // on Core::closing
    pub pending_send: bool,      // on Core::pending_send
    pub blocked: bool,           // last write hit WouldBlock
}

/// Takes a freshly accepted socket into the pool (§CONN.2).
pub fn accept(core: &mut Core, p: usize, mut sock: Stream) {
    let limit = core.pools[p].conf.client_connections as usize;
    if core.nclients >= core.opts.max_clients
        || (limit > 0 && core.pools[p].nclients as usize >= limit)
    {
        // Tell the client why instead of a silent close (0.5.0).
        let msg: &[u8] = match core.pools[p].proto {
            crate::proto::Proto::Redis => b"-ERR max number of clients reached\r\n",
            crate::proto::Proto::Memcache => b"SERVER_ERROR too many open connections\r\n",
        };
        let _ = sock.sendv(&[IoSlice::new(msg)]);
        log::warn!(
            "client connections limit reached in pool '{}', closing new client",
            core.pools[p].conf.name
        );
        return;
    }
    if core.pools[p].conf.tcpkeepalive {
        if let Stream::Tcp(s) = &sock {
            let _ = sock::set_keepalive(s);
        }
    }
    let gen = core.next_gen();
    let entry = core.clients.vacant_entry();
    let id = ClientId {
        idx: entry.key() as u32,
        gen,
    };
    let t = crate::token::encode(ConnRef::Client(id));
    if let Err(e) = sock.register(core.poll.registry(), t) {
        log::error!("register of client failed: {e}");
        return;
    }
    entry.insert(ClientConn {
        gen,
        pool: p as u16,
        sock,
        unparsed: Bytes::new(),
        parser: ReqParser::new(core.pools[p].proto),
        rmsg: None,
        omsg_q: VecDeque::new(),
        send_off: 0,
        eof: false,
        err_close: false,
        authed: core.pools[p].conf.redis_auth.is_none(),
        closing: false,
        pending_send: false,
        blocked: false,
    });
    core.nclients += 1;
    core.pools[p].nclients += 1;
    core.metrics.pool(p).client_connections += 1;
    core.stats_conn_open();
}

/// Readiness on a client socket: errors close, reads before writes.
pub fn on_event(core: &mut Core, id: ClientId, ev: &mio::event::Event) {
    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
        on_readable(core, id);
    }
    if ev.is_writable() {
        let Some(c) = core.client(id) else { return };
        if c.blocked {
            c.blocked = false;
            send(core, id);
        }
    }
}

/// Reads and parses until the socket is drained or the budget is spent.
///
/// Reads go into the loop's shared read chunk (`Core::arena`), and what
/// was read is frozen at once: every complete request takes a zero-copy
/// slice of it, and a partial request keeps the rest as the next piece of
/// its chain. So an idle client holds no buffer, and many clients' small
/// requests share one chunk.
pub fn on_readable(core: &mut Core, id: ClientId) {
    let mut budget = REQS_PER_EVENT;
    let left = match core.client(id) {
        Some(c) => std::mem::take(&mut c.unparsed),
        None => return,
    };
    if !left.is_empty() && !parse(core, id, left, &mut budget) {
        return;
    }
    loop {
        if budget == 0 {
            core.pending_recv.push(id);
            return;
        }
        let Core {
            clients,
            mbufs,
            arena,
            ..
        } = core;
        let Some(c) = clients.get_mut(id.idx as usize).filter(|c| c.gen == id.gen) else {
            return;
        };
        if c.eof || c.closing {
            return;
        }
        mbufs.ensure(arena);
        let spare = arena.capacity() - arena.len();
        match c.sock.recv(arena, spare) {
            Ok(Recv::Data(n)) => {
                let data = arena.split().freeze();
                if !parse(core, id, data, &mut budget) {
                    return;
                }
                if n < spare {
                    // Short read: drained (see crate::sock).
                    if budget == 0 {
                        core.pending_recv.push(id);
                    }
                    return;
                }
            }
            Ok(Recv::Eof) => {
                on_eof(core, id);
                return;
            }
            Ok(Recv::Blocked) => return,
            Err(e) => {
                core.close_later(ConnRef::Client(id), Close::Err(sock::errno_of(&e)));
                return;
            }
        }
    }
}

/// Feeds freshly read bytes to the parser; each complete request goes to
/// `req_recv_done`. Returns false when the client must not be read again.
fn parse(core: &mut Core, id: ClientId, mut data: Bytes, budget: &mut u32) -> bool {
    loop {
        let Core {
            clients,
            msgs,
            limits,
            ..
        } = core;
        let Some(c) = clients.get_mut(id.idx as usize).filter(|c| c.gen == id.gen) else {
            return false;
        };
        if c.eof || c.closing {
            return false;
        }
        if data.is_empty() {
            return true;
        }
        if *budget == 0 {
            c.unparsed = data;
            return true;
        }
        let mid = match c.rmsg {
            Some(m) => m,
            None => {
                let m = msgs.alloc();
                c.rmsg = Some(m);
                m
            }
        };
        let Some(msg) = msgs.get_mut(mid) else {
            return false;
        };
        match c.parser.parse(&data, limits, &mut msg.meta) {
            Ok(Progress::Incomplete) => {
                msg.mlen += data.len() as u32;
                msg.data.push(data);
                return true;
            }
            Ok(Progress::Complete { end }) => {
                let chunk = data.split_to(end);
                c.rmsg = None;
                c.parser.reset();
                msg.mlen += chunk.len() as u32;
                msg.data.push(chunk);
                *budget -= 1;
                request::req_recv_done(core, id, mid);
            }
            Err(e) => {
                c.rmsg = None;
                msgs.free(mid);
                protocol_error(core, id, e);
                return false;
            }
        }
    }
}

/// Framing is lost: answer with a protocol error, then close once every
/// earlier reply is written (0.5.0 closes at once and loses them).
fn protocol_error(core: &mut Core, id: ClientId, e: ParseError) {
    let Some(c) = core.client(id) else { return };
    c.eof = true;
    c.err_close = true;
    let p = c.pool as usize;
    log::warn!(
        "client {} in pool '{}': protocol error: {}",
        id.idx,
        core.pools[p].conf.name,
        e.reason()
    );
    let reply = crate::proto::protocol_error_reply(core.pools[p].proto, &e);
    let m = core.msgs.alloc();
    request::reply_local(core, id, m, reply);
}

/// The client closed its side: stop reading, close once replies are out.
fn on_eof(core: &mut Core, id: ClientId) {
    let Some(c) = core.client(id) else { return };
    c.eof = true;
    if let Some(m) = c.rmsg.take() {
        core.msgs.free(m);
    }
    let Some(c) = core.client(id) else { return };
    c.unparsed = Bytes::new();
    if c.omsg_q.is_empty() {
        core.close_later(ConnRef::Client(id), Close::Eof);
    }
}

/// Writes the done prefix of `omsg_q` with writev (twemproxy: msg_send on a
/// client, rsp_send_next/rsp_send_done).
pub fn send(core: &mut Core, id: ClientId) {
    loop {
        let Core { clients, msgs, .. } = core;
        let Some(c) = clients.get_mut(id.idx as usize).filter(|c| c.gen == id.gen) else {
            return;
        };
        c.pending_send = false;
        if c.closing {
            return;
        }
        let mut iov = [IoSlice::new(&[]); IOV_MAX];
        let mut n = 0;
        let mut total = 0usize;
        let mut skip = c.send_off;
        'gather: for mid in &c.omsg_q {
            let Some(m) = msgs.get(*mid) else { break };
            if !m.done {
                break;
            }
            for b in &m.rsp {
                if skip >= b.len() {
                    skip -= b.len();
                    continue;
                }
                if n == IOV_MAX {
                    break 'gather;
                }
                iov[n] = IoSlice::new(&b[skip..]);
                total += b.len() - skip;
                skip = 0;
                n += 1;
            }
        }
        let sent = if total == 0 {
            0
        } else {
            match c.sock.sendv(&iov[..n]) {
                Ok(0) => {
                    c.blocked = true;
                    return;
                }
                Ok(k) => k,
                Err(e) => {
                    let why = Close::Err(sock::errno_of(&e));
                    core.close_later(ConnRef::Client(id), why);
                    return;
                }
            }
        };
        // Advance past what was written; zero-length replies pop at once.
        let mut left = sent + c.send_off;
        c.send_off = 0;
        let mut quit = false;
        while let Some(&mid) = c.omsg_q.front() {
            let Some(m) = msgs.get_mut(mid) else {
                c.omsg_q.pop_front();
                continue;
            };
            if !m.done {
                break;
            }
            let len: usize = m.rsp.iter().map(|b| b.len()).sum();
            if left < len {
                c.send_off = left;
                break;
            }
            left -= len;
            c.omsg_q.pop_front();
            m.in_client = false;
            quit |= m.quit;
            if !m.in_server {
                msgs.free(mid);
            }
        }
        let drained = c.omsg_q.is_empty();
        let eof = c.eof;
        let err = c.err_close;
        if quit || (drained && eof) {
            let why = if err {
                Close::Err(libc::EPROTO)
            } else {
                Close::Eof
            };
            core.close_later(ConnRef::Client(id), why);
            return;
        }
        if sent < total || total == 0 {
            if sent < total {
                if let Some(c) = core.client(id) {
                    c.blocked = true;
                }
            }
            return;
        }
    }
}

/// Tears a client down (twemproxy: client_close). Requests still pending
/// are swallowed: still sent if not yet sent, their replies discarded.
pub fn close(core: &mut Core, id: ClientId, why: Close) {
    let Some(idx) = core.client(id).map(|_| id.idx as usize) else {
        return;
    };
    let mut c = core.clients.remove(idx);
    c.sock.deregister(core.poll.registry());
    if let Some(m) = c.rmsg.take() {
        core.msgs.free(m);
    }
    for mid in c.omsg_q.drain(..) {
        let Some(m) = core.msgs.get_mut(mid) else {
            continue;
        };
        m.in_client = false;
        m.client = None;
        if m.done && !m.in_server {
            request::free_tree(core, mid);
        } else {
            m.swallow = true;
        }
    }
    let p = c.pool as usize;
    core.nclients = core.nclients.saturating_sub(1);
    core.pools[p].nclients = core.pools[p].nclients.saturating_sub(1);
    let pm = core.metrics.pool(p);
    pm.client_connections -= 1;
    match why {
        Close::Eof => pm.client_eof += 1,
        _ => pm.client_err += 1,
    }
    core.stats_conn_close();
}
