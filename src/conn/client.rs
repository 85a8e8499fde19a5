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
//!   `data`; `ext.unparsed` starts at a request boundary;
//! - once `eof` is set nothing more is read; the connection closes when
//!   `omsg_q` drains;
//! - `rsp_bytes` is the reply bytes of the first `naccounted` entries of
//!   `omsg_q`, all done; `ext.throttled` is set iff it exceeded the pool's
//!   `client_max_pending_bytes` at the last `send`, and then nothing is read.
//!
//! # Unread replies (issue 8.4)
//! A client that pipelines requests and never reads the replies would make
//! the proxy buffer them without bound. Once its unwritten replies pass
//! `client_max_pending_bytes`, reading from it pauses (back-pressure: its
//! requests wait in the kernel); when they drain back under the limit it
//! resumes. If it stays over for `PENDING_STALL`, or reaches twice the
//! limit (requests already forwarded keep answering), it is closed and
//! counted in `client_err` and `client_pending_closed`.
//!
//! # Memory per connection
//! An idle client costs its socket and its slab slot, a `ClientConn` of at
//! most 216 bytes (`size_test`), and no heap: the state only some clients
//! use (bytes left when the budget ran out, a name, throttling, dedicated
//! connections and Pub/Sub) is one `ClientExt` allocated on first use,
//! and `omsg_q` holds a single outstanding request inline (`MsgQ`): only a
//! client that pipelines gives it a buffer, which it then keeps.

use crate::conn::dedicated::{self, Dedicated};
use crate::conn::{Close, Errno};
use crate::core::{Core, Timer, REQS_PER_EVENT};
use crate::msg::done::{free_tree, reply_local};
use crate::msg::queue::MsgQ;
use crate::msg::{request, Msg, MsgArena, Owner, State};
use crate::proto::redis::local::Session;
use crate::proto::redis::Resp;
use crate::proto::{Limit, ParseError, Progress, Reject, ReqParser};
use crate::sock::{self, Gather, Recv, Stream};
use crate::token::{ClientId, ConnRef, MsgId, PoolId};
use bytes::Bytes;
use std::io::IoSlice;
use std::time::{Duration, Instant};

/// How long a client may keep more than `client_max_pending_bytes` of
/// replies unread before it is closed (redis: the soft output-buffer limit).
pub const PENDING_STALL: Duration = Duration::from_secs(10);

/// A client connection.
///
/// Sized for 10,000s of idle clients (`size_test`): what every request
/// reads stays inline, what only some clients use lives in `ext`.
#[derive(Debug)]
pub struct ClientConn {
    pub gen: u32,     // generation (slab reuse)
    pub pool: PoolId, // pool it connected to
    pub sock: Stream,
    pub parser: ReqParser,           // resumable request parser
    pub rmsg: Option<MsgId>,         // request being received
    pub omsg_q: MsgQ,                // requests awaiting their reply, in order
    pub send_off: usize,             // bytes of the head reply already written
    pub rsp_bytes: u64,              // unwritten reply bytes of the accounted prefix
    pub naccounted: u32,             // leading omsg_q entries counted in rsp_bytes
    pub lane: Option<u32>,           // server connection lane, from the first request (pool.rs)
    pub authed: Option<u32>,         // redis: the pool's auth epoch at its last good AUTH
    pub ext: Option<Box<ClientExt>>, // what only some clients use, from its first use
    pub resp: Resp,                  // redis: protocol of the replies (HELLO)
    pub eof: bool,                   // reading stopped (EOF, quit, framing lost)
    pub err_close: bool,             // count the eventual close as client_err
    pub closing: bool,               // on Core::closing
    pub pending_send: bool,          // on Core::pending_send
    pub blocked: bool,               // last write hit WouldBlock
    pub hup: bool,                   // the peer's FIN was reported: read on to EOF
}

/// The state of a client that pipelines past its budget, names itself,
/// runs a transaction or a blocking command, subscribes or is throttled:
/// allocated on first use and kept while the client lives (one allocation
/// per such client, never one per request).
#[derive(Debug, Default)]
pub struct ClientExt {
    pub unparsed: Bytes,            // read, not yet parsed (budget spent)
    pub name: Option<Box<[u8]>>,    // redis: CLIENT SETNAME / HELLO SETNAME
    pub throttled: Option<Instant>, // reading paused since (unread replies over the limit)
    pub ded: Dedicated,             // its own server connection and transaction (dedicated.rs)
}

impl ClientConn {
    /// The rare state, allocated now if this is its first use.
    pub fn ext(&mut self) -> &mut ClientExt {
        self.ext.get_or_insert_with(Box::default)
    }

    /// Its dedicated connection and transaction, if it ever had any.
    pub fn ded(&self) -> Option<&Dedicated> {
        self.ext.as_deref().map(|x| &x.ded)
    }

    /// When reading from it paused on unread replies, if it is paused.
    pub fn throttled(&self) -> Option<Instant> {
        self.ext.as_deref().and_then(|x| x.throttled)
    }

    /// The session the local commands read and change (`redis::local`);
    /// `set_session` stores it back. The name moves out and back: no copy.
    pub fn session(&mut self) -> Session {
        Session {
            resp: self.resp,
            name: self.ext.as_mut().and_then(|x| x.name.take()),
            authed: self.authed,
        }
    }

    pub fn set_session(&mut self, s: Session) {
        self.resp = s.resp;
        self.authed = s.authed;
        if s.name.is_some() {
            self.ext().name = s.name;
        }
    }
}

/// Takes a freshly accepted socket into the pool (§CONN.2).
pub fn accept(core: &mut Core, p: PoolId, mut sock: Stream) {
    let limit = core.pools[p].conf.client_connections as usize;
    if core.nclients >= core.max_clients || (limit > 0 && core.pools[p].nclients as usize >= limit)
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
        pool: p,
        sock,
        parser: ReqParser::new(core.pools[p].proto),
        rmsg: None,
        omsg_q: MsgQ::default(),
        send_off: 0,
        rsp_bytes: 0,
        naccounted: 0,
        lane: None,
        authed: None,
        ext: None,
        resp: Resp::Resp2,
        eof: false,
        err_close: false,
        closing: false,
        pending_send: false,
        blocked: false,
        hup: false,
    });
    core.nclients += 1;
    core.pools[p].nclients += 1;
    core.metrics.pool(p).client_connections += 1;
    core.stats_conn_open();
}

/// Readiness on a client socket: errors close, reads before writes.
pub fn on_event(core: &mut Core, id: ClientId, ev: &mio::event::Event) {
    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
        if ev.is_read_closed() || ev.is_error() {
            // The FIN came with the last data: a short read does not mean
            // drained, the EOF is still to be read and no new edge will come.
            if let Some(c) = core.client(id) {
                c.hup = true;
            }
        }
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
    let left = match core.client(id) {
        Some(c) if c.throttled().is_some() => return,
        Some(c) => c.ext.as_mut().map(|x| std::mem::take(&mut x.unparsed)),
        None => return,
    };
    let mut budget = REQS_PER_EVENT;
    let left = left.unwrap_or_default();
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
        let hup = c.hup;
        match c.sock.recv(arena, spare) {
            Ok(Recv::Data(n)) => {
                let data = arena.split().freeze();
                if !parse(core, id, data, &mut budget) {
                    return;
                }
                if n < spare && !hup {
                    // Short read: drained (see crate::sock), unless the FIN
                    // came with this edge: then read on to the EOF.
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
                core.close_later(ConnRef::Client(id), Close::Io(Errno::of(&e)));
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
            pools,
            metrics,
            ls,
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
            c.ext().unparsed = data;
            return true;
        }
        let mid = match c.rmsg {
            Some(m) => m,
            None => {
                let m = msgs.alloc(Owner::Client(id));
                c.rmsg = Some(m);
                m
            }
        };
        let Some(msg) = msgs.get_mut(mid) else {
            return false;
        };
        let lim = pools.get(c.pool).map_or(&*limits, |p| &p.limits);
        match c.parser.parse(&data, lim, &mut msg.meta) {
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
                msg.pool = c.pool;
                msg.stamp = ls.stamp();
                *budget -= 1;
                if msg.meta.reject == Some(Reject::TooLarge) {
                    // memcache: a get with more than max_request_args keys
                    // (the line is whole, so the connection stays usable)
                    let pm = metrics.pool(c.pool);
                    match c.parser {
                        ReqParser::Memcache(_) => pm.requests_too_many_args += 1,
                        ReqParser::Redis(_) => pm.requests_too_large += 1,
                    }
                }
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
    let p = c.pool;
    match e.limit() {
        Some(Limit::Bytes) => core.metrics.pool(p).requests_too_large += 1,
        Some(Limit::Args) => core.metrics.pool(p).requests_too_many_args += 1,
        None => {}
    }
    if let Some(c) = core.clients.get(id.idx as usize) {
        log::info!(
            "parsed bad req from client {} in pool '{}': {}, closing",
            crate::sock::Peer(&c.sock),
            core.pools[p].conf.name,
            e.reason()
        );
    }
    let reply = crate::proto::protocol_error_reply(core.pools[p].proto, &e);
    let m = core.msgs.alloc(Owner::Client(id));
    reply_local(core, id, m, reply);
}

/// Stops reading a client as if it had sent EOF: it gets the replies to
/// the requests it sent, then closes (a reload removed its pool).
pub fn stop_reading(core: &mut Core, id: ClientId) {
    on_eof(core, id);
}

/// The client closed its side: stop reading, close once replies are out.
/// A request it left unfinished is dropped and logged, as 0.5.0 does.
fn on_eof(core: &mut Core, id: ClientId) {
    let Some(c) = core.client(id) else { return };
    c.eof = true;
    if let Some(m) = c.rmsg.take() {
        let len = core.msgs.get(m).map_or(0, |m| m.mlen);
        if let Some(c) = core.clients.get(id.idx as usize) {
            log::error!(
                "eof c {} discarding incomplete req len {len} in pool '{}'",
                crate::sock::Peer(&c.sock),
                core.pools[c.pool].conf.name
            );
        }
        core.msgs.free(m);
    }
    // A blocked client that leaves is gone, as redis sees it: its reply
    // may never come, so waiting for it would hold the connection forever.
    let blocked = dedicated::blocked(core, id);
    let Some(c) = core.client(id) else { return };
    if let Some(x) = c.ext.as_mut() {
        x.unparsed = Bytes::new();
    }
    if c.omsg_q.is_empty() || blocked {
        core.close_later(ConnRef::Client(id), Close::Eof);
    }
}

/// Whether `c` has replies ready to write with requests still unanswered
/// behind them (see `Core::hold_client`): the answered prefix of `omsg_q`
/// is not empty, holds no QUIT, and is not the whole queue.
pub fn replies_wait_behind(c: &ClientConn, msgs: &MsgArena) -> bool {
    let mut ready = false;
    for mid in c.omsg_q.iter() {
        match msgs.get(*mid) {
            Some(m) if m.state == State::Done => {
                if m.quit {
                    return false;
                }
                ready = true;
            }
            Some(_) => return ready,
            None => return false,
        }
    }
    false
}

/// Writes the done prefix of `omsg_q` with writev (twemproxy: msg_send on a
/// client, rsp_send_next/rsp_send_done), then applies the pool's limit on
/// unread replies.
pub fn send(core: &mut Core, id: ClientId) {
    send_replies(core, id);
    pending_check(core, id);
}

fn send_replies(core: &mut Core, id: ClientId) {
    loop {
        let Core {
            clients,
            msgs,
            iov,
            ls,
            ..
        } = core;
        let Some(c) = clients.get_mut(id.idx as usize).filter(|c| c.gen == id.gen) else {
            return;
        };
        c.pending_send = false;
        if c.closing {
            return;
        }
        let mut g = Gather::new(iov, c.send_off);
        for mid in c.omsg_q.iter() {
            let Some(m) = msgs.get(*mid) else { break };
            debug_assert_eq!(
                m.owner.client(),
                Some(id),
                "omsg_q holds this client's requests"
            );
            if m.state != State::Done || !g.push(&m.rsp) || m.quit {
                break; // not answered yet, iov full, or nothing after quit
            }
        }
        let total = g.total;
        let sent = if total == 0 {
            0
        } else {
            match c.sock.sendv_gather(&g) {
                Ok(0) => {
                    c.blocked = true;
                    return;
                }
                Ok(k) => k,
                Err(e) => {
                    let why = Close::Io(Errno::of(&e));
                    core.close_later(ConnRef::Client(id), why);
                    return;
                }
            }
        };
        // Advance past what was written; zero-length replies pop at once.
        let mut left = sent + c.send_off;
        c.send_off = 0;
        if sent > 0 {
            ls.write(false);
        }
        let mut quit = false;
        while let Some(&mid) = c.omsg_q.front() {
            let Some(m) = msgs.get_mut(mid) else {
                c.omsg_q.pop_front();
                c.naccounted = c.naccounted.saturating_sub(1);
                continue;
            };
            if m.state != State::Done {
                break;
            }
            let len = rsp_len(m);
            if left < len {
                c.send_off = left;
                break;
            }
            left -= len;
            c.omsg_q.pop_front();
            if c.naccounted > 0 {
                // counted by `account`: no longer unwritten (a reply
                // written before it was counted never is)
                c.naccounted -= 1;
                c.rsp_bytes = c.rsp_bytes.saturating_sub(len as u64);
            }
            if sent > 0 {
                ls.sent(false, m.stamp);
            }
            quit |= m.quit;
            msgs.free(mid);
        }
        if sent > 0 {
            ls.write_done(false);
        }
        let drained = c.omsg_q.is_empty();
        let eof = c.eof;
        let err = c.err_close;
        if quit || (drained && eof) {
            let why = if err { Close::Protocol } else { Close::Eof };
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

/// Bytes of a done request's reply.
fn rsp_len(m: &Msg) -> usize {
    m.rsp.iter().map(|b| b.len()).sum()
}

/// Adds the replies that joined the done prefix of `omsg_q` since the last
/// call to `rsp_bytes` (each reply is counted once, so this is O(1) per
/// reply however long the queue). Called after the writes of a `send`, so
/// a reply written at once is never counted at all.
fn account(c: &mut ClientConn, msgs: &MsgArena) {
    debug_assert!(
        c.naccounted as usize <= c.omsg_q.len(),
        "accounted past omsg_q"
    );
    while let Some(&mid) = c.omsg_q.get(c.naccounted as usize) {
        match msgs.get(mid) {
            Some(m) if m.state != State::Done => break,
            Some(m) => c.rsp_bytes += rsp_len(m) as u64,
            None => {}
        }
        c.naccounted = c.naccounted.saturating_add(1);
    }
}

/// Applies `client_max_pending_bytes` after a send (see the module doc):
/// pause reading over the limit, resume under it, close at twice it.
fn pending_check(core: &mut Core, id: ClientId) {
    let now = core.now;
    let Core {
        clients,
        pools,
        metrics,
        msgs,
        ..
    } = core;
    let Some(c) = clients.get_mut(id.idx as usize).filter(|c| c.gen == id.gen) else {
        return;
    };
    let p = c.pool;
    let limit = u64::from(pools[p].conf.client_max_pending_bytes);
    if limit == 0 || c.closing {
        return;
    }
    account(c, msgs);
    let pending = c.rsp_bytes;
    if pending > 2 * limit {
        pending_close(core, id, pending);
        return;
    }
    match c.throttled() {
        None if pending > limit => {
            c.ext().throttled = Some(now);
            metrics.pool(p).client_throttled += 1;
            core.timer_add(now + PENDING_STALL, Timer::Client(id));
        }
        Some(since) if pending <= limit => {
            c.ext().throttled = None;
            core.timers
                .remove(&(since + PENDING_STALL, Timer::Client(id)));
            // Edge-triggered: bytes that arrived meanwhile raise no event.
            core.pending_recv.push(id);
        }
        _ => {}
    }
}

/// The stall timer of a throttled client fired (`Timer::Client`): close it
/// if it is still over the limit since the time the timer was armed for.
pub fn pending_expired(core: &mut Core, id: ClientId, when: Instant) {
    let Some(c) = core.client(id) else { return };
    if c.closing || c.throttled().map(|t| t + PENDING_STALL) != Some(when) {
        return;
    }
    let pending = c.rsp_bytes;
    pending_close(core, id, pending);
}

fn pending_close(core: &mut Core, id: ClientId, pending: u64) {
    let Some(c) = core.client(id) else { return };
    let p = c.pool;
    log::warn!(
        "client {} in pool '{}': {} bytes of replies unread, over client_max_pending_bytes {}: closing",
        id.idx,
        core.pools[p].conf.name,
        pending,
        core.pools[p].conf.client_max_pending_bytes
    );
    core.metrics.pool(p).client_pending_closed += 1;
    core.close_later(ConnRef::Client(id), Close::PendingLimit);
}

/// Tears a client down (twemproxy: client_close). Requests still pending
/// are swallowed: still sent if not yet sent, their replies discarded.
pub fn close(core: &mut Core, id: ClientId, why: Close) {
    let Some(idx) = core.client(id).map(|_| id.idx as usize) else {
        return;
    };
    let mut c = core.clients.remove(idx);
    c.sock.deregister(core.poll.registry());
    if let Some(since) = c.throttled() {
        core.timers
            .remove(&(since + PENDING_STALL, Timer::Client(id)));
    }
    if let Some(m) = c.rmsg.take() {
        core.msgs.free(m);
    }
    for mid in c.omsg_q.drain() {
        let Some(m) = core.msgs.get_mut(mid) else {
            continue;
        };
        debug_assert_eq!(
            m.owner.client(),
            Some(id),
            "omsg_q holds this client's requests"
        );
        if m.state == State::Done {
            free_tree(core, mid);
        } else {
            m.owner = Owner::Swallowed; // still sent if not yet; reply dropped
        }
    }
    if let Some(x) = c.ext.as_mut() {
        dedicated::client_closed(core, &mut x.ded);
    }
    let p = c.pool;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Limits, Proto, ReqMeta};

    fn parse_err(proto: Proto, input: &[u8], lim: &Limits) -> Option<ParseError> {
        let mut parser = ReqParser::new(proto);
        parser.parse(input, lim, &mut ReqMeta::default()).err()
    }

    #[test]
    fn request_limits_are_classified() {
        let lim = Limits {
            max_msg: 64,
            max_narg: 4,
            max_line: 32,
            ..Limits::default()
        };
        let cases: [(Proto, &[u8], Option<Limit>); 7] = [
            (Proto::Redis, b"*5\r\n", Some(Limit::Args)),
            (Proto::Redis, b"PING a b c d e\r\n", Some(Limit::Args)),
            (
                Proto::Redis,
                b"*2\r\n$3\r\nGET\r\n$100\r\n",
                Some(Limit::Bytes),
            ),
            (Proto::Redis, &[b'P'; 40], Some(Limit::Bytes)),
            (Proto::Redis, b"*1\r\n$x", None),
            (Proto::Memcache, b"set k 0 0 100\r\n", Some(Limit::Bytes)),
            (Proto::Memcache, b"bogus\x00\r\n", None),
        ];
        for (proto, input, want) in cases {
            let e = parse_err(proto, input, &lim);
            let got = e.as_ref().and_then(ParseError::limit);
            assert_eq!(got, want, "{:?}: {e:?}", String::from_utf8_lossy(input));
        }
    }

    /// A 1 GiB bulk header is refused on its digits, before any CRLF, so
    /// nothing is ever sized from it.
    #[test]
    fn huge_bulk_header_refused_on_its_digits() {
        let lim = Limits::default();
        let e = parse_err(Proto::Redis, b"*2\r\n$3\r\nSET\r\n$1073741824", &lim);
        assert_eq!(
            e,
            Some(ParseError::TooLarge {
                what: "bulk length",
                max: 536870912
            })
        );
        let reply = crate::proto::protocol_error_reply(Proto::Redis, &e.unwrap());
        assert_eq!(
            &reply[..],
            b"-ERR Protocol error: bulk length larger than 536870912\r\n"
        );
        let e = parse_err(Proto::Redis, b"*4294967296\r\n", &lim);
        assert_eq!(e.as_ref().and_then(ParseError::limit), Some(Limit::Args));
    }

    #[test]
    fn pool_limits_bound_lines_too() {
        let text = "p:\n  listen: 127.0.0.1:22121\n  max_request_bytes: 100\n  max_request_args: 3\n  servers:\n    - 127.0.0.1:6379:1\n";
        let conf = crate::conf::parse(text, "t.yml").unwrap();
        let lim = crate::pool::req_limits(&conf.pools[0]);
        assert_eq!((lim.max_msg, lim.max_narg, lim.max_line), (100, 3, 100));
        let d = crate::pool::req_limits(
            &crate::conf::parse(&text.replace("100", "1000000"), "t")
                .unwrap()
                .pools[0],
        );
        assert_eq!(
            (d.max_msg, d.max_line),
            (1000000, Limits::default().max_line)
        );
    }

    /// What an idle client costs besides its socket: the slab slot holds a
    /// `ClientConn`, and nothing else is allocated until it is used. The
    /// bytes: the parser (88, `ReqParser`: redis's, with the command name
    /// and the key scan), the reply queue (24, `MsgQ`), the socket (24), the reply
    /// bookkeeping (`send_off`, `rsp_bytes`, `naccounted`: 20), the request
    /// being received (12), lane, auth epoch, pool and generation (28),
    /// `ext` (8), and the protocol byte and six flags. Everything else goes
    /// in `ClientExt`: raise this bound only with a reason (10,000 idle
    /// clients take 10,000 slots).
    #[test]
    fn size_test() {
        assert!(
            std::mem::size_of::<ClientConn>() <= 216,
            "ClientConn is {} bytes",
            std::mem::size_of::<ClientConn>()
        );
    }
}
