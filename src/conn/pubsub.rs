//! Pub/Sub through the proxy (issue 15; twemproxy 0.5.0 refuses it).
//!
//! PUBLISH is an ordinary command routed by its channel like a key. A
//! subscribing client gets one subscriber connection per server involved
//! (`Lease::Subscriber`, counted with the dedicated connections): SUBSCRIBE
//! goes to the server of each channel (the channel name hashed like a key,
//! so a publisher reaches it), PSUBSCRIBE to every server of the pool.
//!
//! ```text
//!   SUBSCRIBE a b c ──> server 1: SUBSCRIBE a c   (no reply slot: every
//!                  └──> server 2: SUBSCRIBE b      reply is a push)
//!   client's reply: its confirmations, built here in request order with
//!   its own count, written once every server confirmed (`Pending`)
//!   pushes `message` / `pmessage` ──> relayed as they come, in order
//! ```
//!
//! Unsubscribing is answered at once; a message still in flight for a
//! channel the client left is dropped (`Subs::wants`). When the client's
//! count drops to 0 its subscriber connections are closed.
//!
//! # Invariants
//! - the client's count is `channels.len() + patterns.len()`, as redis
//!   counts on one connection;
//! - a pending request is in the client's `omsg_q`, not done, with its
//!   reply already built; it is done once `waits` are all 0 (or their
//!   connections closed).

use crate::conn::dedicated::Step;
use crate::conn::server::{self, Lease};
use crate::conn::Close;
use crate::core::Core;
use crate::msg::{Expect, Owner, ReqError, State};
use crate::proto::redis::fragment::push_bulk;
use crate::proto::redis::local::push_null;
use crate::proto::redis::{Cmd, Resp};
use crate::proto::{span_bytes, Proto};
use crate::token::{ClientId, ConnRef, MsgId, PoolId, ServerConnId, ServerId};
use bytes::Bytes;
use std::collections::{BTreeSet, VecDeque};

/// A client's subscriptions.
#[derive(Debug, Default)]
pub struct Subs {
    conns: Vec<(ServerId, ServerConnId)>, // its subscriber connection per server
    channels: BTreeSet<Box<[u8]>>,        // SUBSCRIBE channels
    patterns: BTreeSet<Box<[u8]>>,        // PSUBSCRIBE patterns
    pending: VecDeque<Pending>,           // requests waiting for servers' confirmations
}

/// A (P)SUBSCRIBE waiting for its servers.
#[derive(Debug)]
struct Pending {
    mid: MsgId,                      // the client's request, reply built
    waits: Vec<(ServerConnId, u32)>, // confirmations still due per connection
}

impl Subs {
    /// Redis's subscription count for the client.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Whether a push for `name` (channel of `message`, pattern of
    /// `pmessage`) still concerns the client.
    fn wants(&self, pattern: bool, name: &[u8]) -> bool {
        match pattern {
            false => self.channels.contains(name),
            true => self.patterns.contains(name),
        }
    }
}

/// Whether a client in subscribed mode may send `cmd` (RESP2: the
/// subscribe family, PING and QUIT).
fn allowed(cmd: Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Subscribe | Cmd::Unsubscribe | Cmd::Psubscribe | Cmd::Punsubscribe | Cmd::Ping
    ) || cmd == Cmd::Quit
}

/// Whether the command belongs to the subscribe family.
pub fn is_pubsub(cmd: Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Subscribe | Cmd::Unsubscribe | Cmd::Psubscribe | Cmd::Punsubscribe
    )
}

/// Whether the client is in subscribed mode.
pub fn subscribed(core: &mut Core, cid: ClientId) -> bool {
    core.client(cid)
        .and_then(|c| c.ded()?.subs.as_ref())
        .is_some_and(|s| s.count() > 0 || !s.pending.is_empty())
}

/// A request of a subscribed client, or of the subscribe family.
pub fn filter(core: &mut Core, cid: ClientId, mid: MsgId, p: PoolId, cmd: Cmd) -> Step {
    let names: Vec<Box<[u8]>> = {
        let Some(m) = core.msgs.get(mid) else {
            return Step::Done;
        };
        let mut scratch = Vec::new();
        let spans = if cmd == Cmd::Ping {
            &m.meta.vals
        } else {
            &m.meta.keys
        };
        spans
            .iter()
            .map(|&k| Box::from(span_bytes(&m.data, k, &mut scratch)))
            .collect()
    };
    match cmd {
        Cmd::Subscribe => subscribe(core, cid, mid, p, names, false),
        Cmd::Psubscribe => subscribe(core, cid, mid, p, names, true),
        Cmd::Unsubscribe => Step::Reply(unsubscribe(core, cid, p, names, false)),
        Cmd::Punsubscribe => Step::Reply(unsubscribe(core, cid, p, names, true)),
        Cmd::Ping => {
            // Subscribed mode: `*2 pong <message>`.
            let mut out = b"*2\r\n$4\r\npong\r\n".to_vec();
            push_bulk(names.first().map_or(&b""[..], |n| n), &mut out);
            Step::Reply(Bytes::from(out))
        }
        _ if !allowed(cmd) => {
            let name = cmd.name().to_ascii_lowercase();
            Step::Reply(Bytes::from(format!(
                "-ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
            )))
        }
        _ => Step::Pass,
    }
}

/// One confirmation, as redis writes it in the client's protocol: `*3
/// <kind> <name> :<count>` (RESP2), a `>3` push with `_` for no name
/// (RESP3).
fn confirmation(resp: Resp, kind: &[u8], name: Option<&[u8]>, count: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(match resp {
        Resp::Resp2 => b"*3\r\n",
        Resp::Resp3 => b">3\r\n",
    });
    push_bulk(kind, out);
    match name {
        Some(n) => push_bulk(n, out),
        None => push_null(resp, out),
    }
    out.extend_from_slice(format!(":{count}\r\n").as_bytes());
}

/// A command `name args...` in RESP.
fn command(name: &[u8], args: &[&[u8]]) -> Bytes {
    let mut out = format!("*{}\r\n", args.len() + 1).into_bytes();
    push_bulk(name, &mut out);
    for a in args {
        push_bulk(a, &mut out);
    }
    Bytes::from(out)
}

/// SUBSCRIBE (channels, each to its server) or PSUBSCRIBE (patterns, to
/// every server).
fn subscribe(
    core: &mut Core,
    cid: ClientId,
    mid: MsgId,
    p: PoolId,
    names: Vec<Box<[u8]>>,
    pattern: bool,
) -> Step {
    // Where each name goes.
    let now = core.now;
    let mut groups: Vec<(ServerId, Vec<&[u8]>)> = Vec::new();
    if pattern {
        let all: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
        groups.extend(core.pools[p].order.iter().map(|&s| (s, all.clone())));
    } else {
        for n in &names {
            let Some(s) = core.pools[p].route(n, now) else {
                return Step::Reply(ReqError::NoServer.reply(Proto::Redis));
            };
            match groups.iter_mut().find(|g| g.0 == s) {
                Some(g) => g.1.push(n),
                None => groups.push((s, vec![n])),
            }
        }
    }
    // Every connection first: a refusal subscribes nothing.
    let mut conns = Vec::with_capacity(groups.len());
    for (s, _) in &groups {
        match sub_conn(core, cid, p, *s) {
            Ok(sid) => conns.push(sid),
            Err(e) => return Step::Reply(e),
        }
    }
    let verb: &[u8] = if pattern { b"PSUBSCRIBE" } else { b"SUBSCRIBE" };
    let mut waits = Vec::with_capacity(groups.len());
    for ((s, group), sid) in groups.iter().zip(conns) {
        let m = server::internal_enqueue_as(core, p, (*s, sid), command(verb, group), Owner::Setup);
        if let Some(m) = core.msgs.get_mut(m) {
            m.expect = Expect::None; // its replies are pushes
        }
        core.want_send(ConnRef::Server(sid));
        waits.push((sid, group.len() as u32));
    }
    // The client's confirmations, in its order, with its count.
    let kind: &[u8] = if pattern { b"psubscribe" } else { b"subscribe" };
    let mut out = Vec::new();
    let Some(c) = core.client(cid) else {
        return Step::Done;
    };
    let resp = c.resp;
    let Some(subs) = c.ext.as_mut().and_then(|x| x.ded.subs.as_mut()) else {
        return Step::Done;
    };
    for n in names {
        let set = if pattern {
            &mut subs.patterns
        } else {
            &mut subs.channels
        };
        set.insert(n.clone());
        let count = subs.count();
        confirmation(resp, kind, Some(&n), count, &mut out);
    }
    subs.pending.push_back(Pending { mid, waits });
    let Some(m) = core.msgs.get_mut(mid) else {
        return Step::Done;
    };
    m.owner = Owner::Client(cid);
    m.pool = p;
    m.rsp.push(Bytes::from(out));
    if let Some(c) = core.client(cid) {
        c.omsg_q.push_back(mid); // done when the servers confirm
    }
    Step::Done
}

/// UNSUBSCRIBE / PUNSUBSCRIBE: answered at once; the servers concerned are
/// told (or their connections closed when nothing is left).
fn unsubscribe(
    core: &mut Core,
    cid: ClientId,
    p: PoolId,
    names: Vec<Box<[u8]>>,
    pattern: bool,
) -> Bytes {
    let kind: &[u8] = if pattern {
        b"punsubscribe"
    } else {
        b"unsubscribe"
    };
    let now = core.now;
    let mut out = Vec::new();
    let Some(c) = core.client(cid) else {
        return Bytes::new();
    };
    let resp = c.resp;
    let subs = c.ext().ded.subs.get_or_insert_with(Box::default);
    let names: Vec<Box<[u8]>> = match (names.is_empty(), pattern) {
        (true, true) => subs.patterns.iter().cloned().collect(),
        (true, false) => subs.channels.iter().cloned().collect(),
        (false, _) => names,
    };
    let mut gone = Vec::new();
    for n in &names {
        let set = if pattern {
            &mut subs.patterns
        } else {
            &mut subs.channels
        };
        if set.remove(n) {
            gone.push(n.clone());
        }
        confirmation(resp, kind, Some(n), subs.count(), &mut out);
    }
    if names.is_empty() {
        confirmation(resp, kind, None, subs.count(), &mut out);
    }
    let (count, conns) = (subs.count(), subs.conns.clone());
    if count == 0 && subs.pending.is_empty() {
        close_all(core, cid);
        return Bytes::from(out);
    }
    let verb: &[u8] = if pattern {
        b"PUNSUBSCRIBE"
    } else {
        b"UNSUBSCRIBE"
    };
    for (s, sid) in conns {
        let mine: Vec<&[u8]> = gone
            .iter()
            .filter(|n| pattern || core.pools[p].route(n, now) == Some(s))
            .map(|n| &n[..])
            .collect();
        if mine.is_empty() {
            continue;
        }
        let m = server::internal_enqueue_as(core, p, (s, sid), command(verb, &mine), Owner::Setup);
        if let Some(m) = core.msgs.get_mut(m) {
            m.expect = Expect::None;
        }
        core.want_send(ConnRef::Server(sid));
    }
    Bytes::from(out)
}

/// The client's subscriber connection to server `s`, opened if needed.
fn sub_conn(core: &mut Core, cid: ClientId, p: PoolId, s: ServerId) -> Result<ServerConnId, Bytes> {
    let Some(c) = core.client(cid) else {
        return Err(ReqError::NoServer.reply(Proto::Redis));
    };
    let subs = c.ext().ded.subs.get_or_insert_with(Box::default);
    if let Some(&(_, sid)) = subs.conns.iter().find(|x| x.0 == s) {
        return Ok(sid);
    }
    crate::conn::dedicated::room(core, p, s)?;
    // in the client's protocol, so its replies relay untouched
    let resp = core.client(cid).map_or(Resp::Resp2, |c| c.resp);
    let sid = server::connect(core, p, s, Lease::Subscriber(cid), resp)
        .map_err(|e| ReqError::Connect(e).reply(Proto::Redis))?;
    if let Some(subs) = core
        .client(cid)
        .and_then(|c| c.ext.as_mut()?.ded.subs.as_mut())
    {
        subs.conns.push((s, sid));
    }
    Ok(sid)
}

/// Closes every subscriber connection of the client (it left subscribed
/// mode, or it is closing).
fn close_all(core: &mut Core, cid: ClientId) {
    if let Some(subs) = take(core, cid) {
        release(core, &subs);
    }
}

/// The client's Pub/Sub state, taken off it.
fn take(core: &mut Core, cid: ClientId) -> Option<Box<Subs>> {
    core.client(cid)
        .and_then(|c| c.ext.as_mut()?.ded.subs.take())
}

/// Closes the subscriber connections of `subs`.
fn release(core: &mut Core, subs: &Subs) {
    for &(_, sid) in &subs.conns {
        core.close_later(ConnRef::Server(sid), Close::Released);
    }
}

/// The client is closing: its subscriber connections go, and the requests
/// that waited for confirmations are freed (they are on no server queue).
pub fn client_closed(core: &mut Core, subs: Option<Box<Subs>>) {
    let Some(subs) = subs else { return };
    release(core, &subs);
    for pd in subs.pending {
        core.msgs.free(pd.mid);
    }
}

/// RESET: the client leaves every subscription, as on close; the requests
/// still waiting for confirmations are answered (their replies are built).
pub fn reset(core: &mut Core, cid: ClientId) {
    let Some(subs) = take(core, cid) else {
        return;
    };
    release(core, &subs);
    for pd in subs.pending {
        if let Some(m) = core.msgs.get_mut(pd.mid) {
            m.state = State::Done;
        }
    }
    core.want_send(ConnRef::Client(cid));
}

/// Subscriber connection `sid` of client `cid` closed: the requests that
/// waited for it are answered, and the subscriptions it held are gone
/// (the client sees them no more; it may subscribe again).
pub fn server_closed(core: &mut Core, cid: ClientId, sid: ServerConnId) {
    let Some(subs) = core
        .client(cid)
        .and_then(|c| c.ext.as_mut()?.ded.subs.as_mut())
    else {
        return;
    };
    subs.conns.retain(|x| x.1 != sid);
    for pd in subs.pending.iter_mut() {
        for w in pd.waits.iter_mut().filter(|w| w.0 == sid) {
            w.1 = 0;
        }
    }
    settle(core, cid);
}

/// Marks done the pending requests every server confirmed.
fn settle(core: &mut Core, cid: ClientId) {
    let Some(subs) = core
        .client(cid)
        .and_then(|c| c.ext.as_mut()?.ded.subs.as_mut())
    else {
        return;
    };
    let mut done = Vec::new();
    subs.pending.retain(|pd| {
        let finished = pd.waits.iter().all(|w| w.1 == 0);
        if finished {
            done.push(pd.mid);
        }
        !finished
    });
    for mid in done {
        if let Some(m) = core.msgs.get_mut(mid) {
            m.state = State::Done;
        }
        core.want_send(ConnRef::Client(cid));
    }
}

/// The bytes of a bulk element (`$<n>\r\n<bytes>\r\n`), if it is one.
fn bulk(elem: &[u8]) -> Option<&[u8]> {
    let rest = elem.strip_prefix(b"$")?;
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let body = rest.get(nl + 1..)?;
    body.strip_suffix(b"\r\n")
}

/// A push arrived on subscriber connection `sid` of client `cid` (its
/// bytes in the connection's `rdata`, its elements in `rmeta`).
pub fn on_push(core: &mut Core, sid: ServerConnId, cid: ClientId) {
    let Core {
        servers, clients, ..
    } = core;
    let Some(conn) = servers
        .get_mut(sid.idx as usize)
        .filter(|c| c.gen == sid.gen)
    else {
        return;
    };
    let rdata = std::mem::take(&mut conn.rdata);
    let elems = std::mem::take(&mut conn.rmeta.elems);
    let pool = conn.pool;
    let mut scratch = Vec::new();
    let mut elem = |i: usize| -> Option<Vec<u8>> {
        let e = elems.get(i)?;
        bulk(span_bytes(&rdata, *e, &mut scratch)).map(<[u8]>::to_vec)
    };
    let (Some(kind), Some(name)) = (elem(0), elem(1)) else {
        conn.rmeta.elems = elems;
        return;
    };
    conn.rmeta.elems = elems;
    let Some(c) = clients
        .get_mut(cid.idx as usize)
        .filter(|c| c.gen == cid.gen)
    else {
        return;
    };
    let Some(subs) = c.ext.as_mut().and_then(|x| x.ded.subs.as_mut()) else {
        return;
    };
    match &kind[..] {
        b"message" | b"pmessage" => {
            if !subs.wants(kind[0] == b'p', &name) {
                return; // unsubscribed meanwhile
            }
            let m = core.msgs.alloc(Owner::Client(cid));
            if let Some(msg) = core.msgs.get_mut(m) {
                msg.pool = pool;
                msg.rsp = rdata;
                msg.state = State::Done;
            }
            if let Some(c) = core.client(cid) {
                c.omsg_q.push_back(m);
            }
            core.want_send(ConnRef::Client(cid));
        }
        b"subscribe" | b"psubscribe" => {
            let due = subs
                .pending
                .iter_mut()
                .flat_map(|pd| pd.waits.iter_mut())
                .find(|w| w.0 == sid && w.1 > 0);
            if let Some(w) = due {
                w.1 -= 1;
            }
            settle(core, cid);
        }
        _ => {} // unsubscribe confirmations: answered already
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmations_are_redis_bytes() {
        let mut out = Vec::new();
        confirmation(Resp::Resp2, b"subscribe", Some(b"ch"), 3, &mut out);
        confirmation(Resp::Resp2, b"unsubscribe", None, 0, &mut out);
        assert_eq!(
            out,
            b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:3\r\n*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
        );
        out.clear();
        confirmation(Resp::Resp3, b"subscribe", Some(b"ch"), 1, &mut out);
        confirmation(Resp::Resp3, b"unsubscribe", None, 0, &mut out);
        assert_eq!(
            out,
            b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n>3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"
        );
        assert_eq!(
            &command(b"SUBSCRIBE", &[b"a", b"bc"])[..],
            b"*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$2\r\nbc\r\n"
        );
    }

    #[test]
    fn bulk_elements_only() {
        assert_eq!(bulk(b"$7\r\nmessage\r\n"), Some(&b"message"[..]));
        assert_eq!(bulk(b"$0\r\n\r\n"), Some(&b""[..]));
        for bad in [&b":1\r\n"[..], b"$-1\r\n", b"$3", b""] {
            assert_eq!(bulk(bad), None, "{bad:?}");
        }
    }
}
