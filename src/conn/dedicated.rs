//! Dedicated server connections (issue 15; no twemproxy counterpart: 0.5.0
//! refuses these commands because its server connections are shared).
//!
//! A client that needs connection state on a server (a transaction, a
//! WATCH, a blocking command) gets a server connection of its own to that
//! server (`Lease::Dedicated`), opened on demand and kept attached while
//! the client lives (reused by its next transaction or block there; closed,
//! never returned to the shared pool, when the client goes, when it needs
//! another server, or when the connection fails). Everything else about
//! the connection is ordinary: AUTH/SELECT setup, writev, reply pairing.
//!
//! ```text
//!   MULTI ─────────── +OK (local) ─── Multi{sent: false}
//!   PING, ECHO ─────── +QUEUED (local, bytes kept for the replay)
//!   SET {t}a 1 ─────── bind to {t}'s server: MULTI + replay (replies
//!                      swallowed), then SET ─── Multi{sent: true}
//!   SET other 1 ────── other server: -CROSSSLOT ─── Aborted
//!   EXEC ───────────── forwarded (or -EXECABORT local + DISCARD swallowed)
//! ```
//!
//! WATCH binds at once; while a client watches, its commands whose keys
//! live on the bound server go over the bound connection too, so they keep
//! their order with the WATCH and the EXEC. Blocking commands (BLPOP ...,
//! XREAD with BLOCK, WAIT) run on the dedicated connection without the
//! pool `timeout` (`unbounded`): their own timeout applies, and no shared
//! pipeline waits behind them.
//!
//! Pub/Sub uses connections of the same kind, one per server
//! (`Lease::Subscriber`, see `pubsub`); `filter` hands the subscribe family
//! and everything a subscribed client sends to `pubsub::filter`.
//!
//! # Invariants
//! - a client holds at most one dedicated connection (`Dedicated::conn`),
//!   and that connection's lease names the client;
//! - `Txn::Multi { sent: true }`, `Txn::Watching` and `Aborted { sent:
//!   true }` imply `conn` is set (a lost connection resets them:
//!   `server_closed`);
//! - every server connection in `Server::dedicated` counts once in the
//!   `dedicated_connections` gauge, and at most
//!   `server_dedicated_connections` are open per server.

use crate::conn::pubsub::{self, Subs};
use crate::conn::server::{self, Lease};
use crate::conn::Close;
use crate::core::Core;
use crate::msg::{Owner, ReqError};
use crate::proto::redis::{reply, Cmd, Resp};
use crate::proto::{span_bytes, Proto, ReqMeta};
use crate::token::{ClientId, ConnRef, MsgId, PoolId, ServerConnId, ServerId};
use bytes::Bytes;

/// A client's dedicated connection and transaction state.
#[derive(Debug, Default)]
pub struct Dedicated {
    pub conn: Option<(ServerId, ServerConnId)>, // its own server connection, if any
    pub txn: Txn,                               // where its transaction is
    pub queued: Vec<Bytes>, // keyless commands queued before MULTI was sent (replayed)
    pub subs: Option<Box<Subs>>, // Pub/Sub state, while it subscribes (pubsub.rs)
}

/// Where a client's transaction is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Txn {
    #[default]
    None, // no MULTI, no WATCH
    Watching,  // WATCH sent on `conn`, no MULTI yet
    WatchLost, // the watching connection failed: EXEC will answer nil
    Multi {
        sent: bool,
    }, // in MULTI; `sent`: MULTI is on `conn`
    Aborted {
        sent: bool,
        why: Abort,
    }, // in MULTI after a refused command
}

/// What EXEC answers for an aborted transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abort {
    Refused,   // a command was refused: -EXECABORT
    WatchLost, // the WATCH connection failed: nil, as a touched WATCH does
}

/// What `filter` did with a request.
#[derive(Debug)]
pub enum Step {
    Pass,         // an ordinary request: the shared path takes it
    Reply(Bytes), // answer locally
    Done,         // queued on a server connection (or failed) by `filter`
}

/// How the proxy treats a command here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Plain,    // keyed as the command table says
    Txn,      // MULTI, EXEC, DISCARD, WATCH, UNWATCH
    Blocking, // may block its connection
    Echo,     // answered locally outside a transaction
    PubSub,   // (P)SUBSCRIBE, (P)UNSUBSCRIBE: conn::pubsub
}

fn class(cmd: Cmd) -> Class {
    match cmd {
        Cmd::Multi | Cmd::Exec | Cmd::Discard | Cmd::Watch | Cmd::Unwatch => Class::Txn,
        Cmd::Blpop | Cmd::Brpop | Cmd::Brpoplpush | Cmd::Blmove | Cmd::Blmpop => Class::Blocking,
        Cmd::Bzpopmin | Cmd::Bzpopmax | Cmd::Bzmpop | Cmd::Wait => Class::Blocking,
        Cmd::Xread | Cmd::Xreadgroup => Class::Blocking,
        Cmd::Echo => Class::Echo,
        c if pubsub::is_pubsub(c) => Class::PubSub,
        _ => Class::Plain,
    }
}

/// Whether the command runs on a client's dedicated connection
/// (transactions, blocking commands).
pub fn on_own_connection(cmd: Cmd) -> bool {
    matches!(class(cmd), Class::Txn | Class::Blocking | Class::PubSub)
}

/// Whether a request of the client must go through `filter`.
pub fn wants(ded: Option<&Dedicated>, cmd: Cmd) -> bool {
    class(cmd) != Class::Plain || ded.is_some_and(|d| d.txn != Txn::None || d.subs.is_some())
}

/// Whether a request must never be cut short by the pool `timeout`: a
/// blocking command waits as long as its own timeout says.
pub fn unbounded(meta: &ReqMeta) -> bool {
    match meta.cmd {
        // XREAD without BLOCK (no value recorded) answers at once.
        crate::proto::Cmd::Redis(Cmd::Xread | Cmd::Xreadgroup) => !meta.vals.is_empty(),
        crate::proto::Cmd::Redis(c) => class(c) == Class::Blocking,
        _ => false,
    }
}

pub const QUEUED: &[u8] = b"+QUEUED\r\n";
const EXECABORT: &[u8] = b"-EXECABORT Transaction discarded because of previous errors.\r\n";
const NESTED: &[u8] = b"-ERR MULTI calls can not be nested\r\n";
const EXEC_WITHOUT: &[u8] = b"-ERR EXEC without MULTI\r\n";
const DISCARD_WITHOUT: &[u8] = b"-ERR DISCARD without MULTI\r\n";
const WAIT_UNBOUND: &[u8] =
    b"-ERR WAIT needs a connection of its own: WATCH a key of the server first\r\n";
const PUBSUB_IN_MULTI: &[u8] = b"-ERR Pub/Sub inside MULTI is not served by the proxy\r\n";
const NIL_ARRAY: &[u8] = b"*-1\r\n";
const EMPTY_ARRAY: &[u8] = b"*0\r\n";
const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
const DISCARD: &[u8] = b"*1\r\n$7\r\nDISCARD\r\n";

/// Where the keys of a request live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Keyless,
    One(ServerId),
    Many,     // keys on several servers
    NoServer, // every server is ejected
}

/// Where the keys of request `mid` live (the parser found them: the
/// command table's key specs, issue 14).
fn target(core: &mut Core, mid: MsgId, p: PoolId) -> Target {
    let Core {
        msgs, pools, now, ..
    } = core;
    let Some(m) = msgs.get(mid) else {
        return Target::Keyless;
    };
    let mut scratch = Vec::new();
    let mut t = Target::Keyless;
    for &k in &m.meta.keys {
        let key = span_bytes(&m.data, k, &mut scratch);
        let Some(s) = pools[p].route(key, *now) else {
            return Target::NoServer;
        };
        t = match t {
            Target::Keyless => Target::One(s),
            Target::One(x) if x == s => t,
            _ => return Target::Many,
        };
    }
    t
}

fn err_reply(e: ReqError) -> Bytes {
    e.reply(Proto::Redis)
}

/// Decides what happens to a request of a client that holds or needs a
/// dedicated connection (`wants`).
pub fn filter(core: &mut Core, cid: ClientId, mid: MsgId, p: PoolId, cmd: Cmd) -> Step {
    let Some(c) = core.client(cid) else {
        return Step::Done;
    };
    let (txn, bound) = c.ded().map_or((Txn::None, None), |d| (d.txn, d.conn));
    let resp = c.resp;
    if let Some(m) = core.msgs.get_mut(mid) {
        m.pool = p;
    }
    let in_multi = matches!(txn, Txn::Multi { .. } | Txn::Aborted { .. });
    // Subscribed mode restricts RESP2 clients only: redis serves every
    // command to a subscribed RESP3 client (messages are pushes there).
    let restricted = resp == Resp::Resp2 && pubsub::subscribed(core, cid);
    if !in_multi && (class(cmd) == Class::PubSub || restricted) {
        return pubsub::filter(core, cid, mid, p, cmd);
    }
    match (class(cmd), cmd) {
        (_, Cmd::Multi) => match (txn, bound) {
            _ if in_multi => Step::Reply(Bytes::from_static(NESTED)),
            (Txn::Watching, Some(conn)) => {
                set_txn(core, cid, Txn::Multi { sent: true });
                forward(core, cid, mid, p, conn)
            }
            (Txn::WatchLost, _) => {
                let why = Abort::WatchLost;
                set_txn(core, cid, Txn::Aborted { sent: false, why });
                Step::Reply(Bytes::from_static(reply::OK))
            }
            _ => {
                set_txn(core, cid, Txn::Multi { sent: false });
                Step::Reply(Bytes::from_static(reply::OK))
            }
        },
        (_, Cmd::Exec) => exec(core, cid, mid, p, txn, bound),
        (_, Cmd::Discard) => {
            set_txn(core, cid, Txn::None);
            match (txn, bound) {
                (Txn::Multi { sent: true } | Txn::Aborted { sent: true, .. }, Some(conn)) => {
                    forward(core, cid, mid, p, conn)
                }
                (Txn::Multi { .. } | Txn::Aborted { .. }, _) => {
                    Step::Reply(Bytes::from_static(reply::OK))
                }
                _ => Step::Reply(Bytes::from_static(DISCARD_WITHOUT)),
            }
        }
        _ if in_multi => queue(core, cid, mid, p, cmd, txn, bound),
        (_, Cmd::Unwatch) => {
            set_txn(core, cid, Txn::None);
            match (txn, bound) {
                (Txn::Watching, Some(conn)) => forward(core, cid, mid, p, conn),
                _ => Step::Reply(Bytes::from_static(reply::OK)),
            }
        }
        (_, Cmd::Watch) => match target(core, mid, p) {
            Target::One(s) => match bind(core, cid, p, s) {
                Ok(conn) => {
                    set_txn(core, cid, Txn::Watching);
                    forward(core, cid, mid, p, conn)
                }
                Err(e) => Step::Reply(e),
            },
            Target::Many | Target::Keyless => Step::Reply(Bytes::from_static(reply::CROSS_SERVER)),
            Target::NoServer => Step::Reply(err_reply(ReqError::NoServer)),
        },
        (Class::Echo, _) => {
            let Some(m) = core.msgs.get(mid) else {
                return Step::Done;
            };
            let mut scratch = Vec::new();
            let arg = m
                .meta
                .vals
                .first()
                .map_or(&b""[..], |&v| span_bytes(&m.data, v, &mut scratch));
            let mut out = Vec::with_capacity(arg.len() + 16);
            reply::ping_msg(arg, &mut out);
            Step::Reply(Bytes::from(out))
        }
        (_, Cmd::Wait) => match bound {
            Some(conn) => forward(core, cid, mid, p, conn),
            None => Step::Reply(Bytes::from_static(WAIT_UNBOUND)),
        },
        (Class::Blocking, _) => {
            // XREAD without BLOCK is an ordinary read (the parser records
            // BLOCK's argument as a value).
            let streams = matches!(cmd, Cmd::Xread | Cmd::Xreadgroup);
            let blocks = !streams || core.msgs.get(mid).is_some_and(|m| !m.meta.vals.is_empty());
            match target(core, mid, p) {
                Target::One(s) if !blocks => {
                    crate::msg::request::forward_shared(core, cid, mid, p, s);
                    Step::Done
                }
                Target::One(s) => match bind(core, cid, p, s) {
                    Ok(conn) => forward(core, cid, mid, p, conn),
                    Err(e) => Step::Reply(e),
                },
                Target::Many | Target::Keyless => {
                    Step::Reply(Bytes::from_static(reply::CROSS_SERVER))
                }
                Target::NoServer => Step::Reply(err_reply(ReqError::NoServer)),
            }
        }
        // Watching: keep the order with WATCH and EXEC on the bound server.
        _ => match (txn, bound) {
            (Txn::Watching, Some((bs, sid))) if target(core, mid, p) == Target::One(bs) => {
                forward(core, cid, mid, p, (bs, sid))
            }
            _ => Step::Pass,
        },
    }
}

/// A request inside MULTI (MULTI, EXEC and DISCARD aside).
fn queue(
    core: &mut Core,
    cid: ClientId,
    mid: MsgId,
    p: PoolId,
    cmd: Cmd,
    txn: Txn,
    bound: Option<(ServerId, ServerConnId)>,
) -> Step {
    let sent = match txn {
        Txn::Multi { sent } if pubsub::is_pubsub(cmd) => {
            let why = Abort::Refused;
            set_txn(core, cid, Txn::Aborted { sent, why });
            return Step::Reply(Bytes::from_static(PUBSUB_IN_MULTI));
        }
        Txn::Multi { sent } => sent,
        // Nothing will run: queue nothing, answer as redis does.
        _ => return Step::Reply(Bytes::from_static(QUEUED)),
    };
    let abort = |core: &mut Core, e: Bytes| {
        let why = Abort::Refused;
        set_txn(core, cid, Txn::Aborted { sent, why });
        Step::Reply(e)
    };
    match (target(core, mid, p), bound) {
        (Target::Keyless, Some(conn)) if sent => forward(core, cid, mid, p, conn),
        (Target::Keyless, _) => {
            let Some(m) = core.msgs.get(mid) else {
                return Step::Done;
            };
            let bytes: Vec<u8> = m.data.iter().flat_map(|b| b.iter().copied()).collect();
            if let Some(c) = core.client(cid) {
                c.ext().ded.queued.push(Bytes::from(bytes));
            }
            Step::Reply(Bytes::from_static(QUEUED))
        }
        (Target::One(s), Some((bs, sid))) if sent => {
            if s == bs {
                forward(core, cid, mid, p, (bs, sid))
            } else {
                abort(core, Bytes::from_static(reply::CROSS_SERVER))
            }
        }
        (Target::One(s), _) => match bind(core, cid, p, s) {
            Ok(conn) => {
                begin(core, cid, p, conn);
                forward(core, cid, mid, p, conn)
            }
            Err(e) => abort(core, e),
        },
        (Target::Many, _) => abort(core, Bytes::from_static(reply::CROSS_SERVER)),
        (Target::NoServer, _) => abort(core, err_reply(ReqError::NoServer)),
    }
}

/// EXEC: forwarded, or answered here for a transaction that never reached
/// a server or was aborted.
fn exec(
    core: &mut Core,
    cid: ClientId,
    mid: MsgId,
    p: PoolId,
    txn: Txn,
    bound: Option<(ServerId, ServerConnId)>,
) -> Step {
    match txn {
        Txn::None | Txn::Watching | Txn::WatchLost => Step::Reply(Bytes::from_static(EXEC_WITHOUT)),
        Txn::Aborted { sent, why } => {
            set_txn(core, cid, Txn::None);
            if let (true, Some(conn)) = (sent, bound) {
                swallowed(core, p, conn, DISCARD);
            }
            Step::Reply(Bytes::from_static(match why {
                Abort::Refused => EXECABORT,
                Abort::WatchLost => NIL_ARRAY,
            }))
        }
        Txn::Multi { sent: true } => {
            set_txn(core, cid, Txn::None);
            match bound {
                Some(conn) => forward(core, cid, mid, p, conn),
                None => Step::Reply(err_reply(ReqError::NoServer)),
            }
        }
        Txn::Multi { sent: false } => {
            let queued = core
                .client(cid)
                .and_then(|c| c.ded())
                .is_some_and(|d| !d.queued.is_empty());
            if !queued {
                set_txn(core, cid, Txn::None);
                return Step::Reply(Bytes::from_static(EMPTY_ARRAY));
            }
            // Keyless commands only: any server runs them; the bound one
            // if there is one.
            let now = core.now;
            let s = match bound {
                Some((s, _)) => Some(s),
                None => core.pools[p].route(b"", now),
            };
            let r = match s {
                Some(s) => bind(core, cid, p, s),
                None => Err(err_reply(ReqError::NoServer)),
            };
            if let Ok(conn) = r {
                begin(core, cid, p, conn);
            }
            set_txn(core, cid, Txn::None);
            match r {
                Ok(conn) => forward(core, cid, mid, p, conn),
                Err(e) => Step::Reply(e),
            }
        }
    }
}

/// Sends MULTI and the keyless commands queued so far on the freshly bound
/// connection; their replies (+OK, +QUEUED) were already given locally.
fn begin(core: &mut Core, cid: ClientId, p: PoolId, conn: (ServerId, ServerConnId)) {
    swallowed(core, p, conn, MULTI);
    let queued = core
        .client(cid)
        .and_then(|c| c.ext.as_mut())
        .map(|x| std::mem::take(&mut x.ded.queued))
        .unwrap_or_default();
    for b in queued {
        server::internal_enqueue_as(core, p, conn, b, Owner::Swallowed);
    }
    if let Some(x) = core.client(cid).and_then(|c| c.ext.as_mut()) {
        if let Txn::Multi { .. } = x.ded.txn {
            x.ded.txn = Txn::Multi { sent: true };
        }
    }
}

fn swallowed(core: &mut Core, p: PoolId, conn: (ServerId, ServerConnId), b: &'static [u8]) {
    server::internal_enqueue_as(core, p, conn, Bytes::from_static(b), Owner::Swallowed);
    core.want_send(ConnRef::Server(conn.1));
}

fn set_txn(core: &mut Core, cid: ClientId, txn: Txn) {
    let Some(c) = core.client(cid) else { return };
    if txn == Txn::None && c.ext.is_none() {
        return; // nothing to clear
    }
    let ded = &mut c.ext().ded;
    ded.txn = txn;
    if txn == Txn::None {
        ded.queued.clear();
    }
}

fn forward(
    core: &mut Core,
    cid: ClientId,
    mid: MsgId,
    p: PoolId,
    conn: (ServerId, ServerConnId),
) -> Step {
    crate::msg::request::forward_on(core, cid, mid, p, conn);
    Step::Done
}

/// The client's dedicated connection to server `s`: the one it holds, or a
/// new one (closing an idle one it holds elsewhere). The error is the
/// client's reply: keys on another server than its transaction's, or the
/// server's cap reached.
fn bind(
    core: &mut Core,
    cid: ClientId,
    p: PoolId,
    s: ServerId,
) -> Result<(ServerId, ServerConnId), Bytes> {
    let Some(c) = core.client(cid) else {
        return Err(err_reply(ReqError::NoServer));
    };
    let (txn, bound) = c.ded().map_or((Txn::None, None), |d| (d.txn, d.conn));
    match bound {
        Some((bs, sid)) if bs == s => return Ok((s, sid)),
        Some((_, sid)) => {
            let busy = txn != Txn::None
                || core
                    .server(sid)
                    .is_some_and(|x| !x.imsg_q.is_empty() || !x.omsg_q.is_empty());
            if busy {
                return Err(Bytes::from_static(reply::CROSS_SERVER));
            }
            release(core, cid);
        }
        None => {}
    }
    room(core, p, s)?;
    // in the client's protocol, so its replies relay untouched
    let resp = core.client(cid).map_or(Resp::Resp2, |c| c.resp);
    let sid = server::connect(core, p, s, Lease::Dedicated(cid), resp)
        .map_err(|e| err_reply(ReqError::Connect(e)))?;
    if let Some(c) = core.client(cid) {
        c.ext().ded.conn = Some((s, sid));
    }
    Ok((s, sid))
}

/// Whether server `s` may take one more dedicated connection
/// (`server_dedicated_connections`); the error is the client's reply.
pub fn room(core: &Core, p: PoolId, s: ServerId) -> Result<(), Bytes> {
    let srv = &core.pools[p].servers[s];
    let cap = core.pools[p].conf.server_dedicated_connections as usize;
    if srv.dedicated.len() < cap {
        return Ok(());
    }
    log::warn!(
        "server '{}' of pool '{}': server_dedicated_connections {} reached",
        srv.pname,
        core.pools[p].conf.name,
        cap
    );
    let msg = format!(
        "-ERR too many dedicated connections to server '{}'\r\n",
        srv.name
    );
    Err(Bytes::from(msg))
}

/// Closes the client's dedicated connection (it never goes back to the
/// shared pool: it may hold a MULTI, a WATCH or a block).
fn release(core: &mut Core, cid: ClientId) {
    if let Some((_, sid)) = core
        .client(cid)
        .and_then(|c| c.ext.as_mut()?.ded.conn.take())
    {
        core.close_later(ConnRef::Server(sid), Close::Released);
    }
}

/// Whether the client waits on a blocking command of its dedicated
/// connection.
pub fn blocked(core: &mut Core, cid: ClientId) -> bool {
    let Core {
        clients,
        servers,
        msgs,
        ..
    } = core;
    let Some(c) = clients.get(cid.idx as usize).filter(|c| c.gen == cid.gen) else {
        return false;
    };
    let Some(conn) = c
        .ded()
        .and_then(|d| d.conn)
        .and_then(|(_, sid)| servers.get(sid.idx as usize).filter(|x| x.gen == sid.gen))
    else {
        return false;
    };
    let blocking = |m: &MsgId| msgs.get(*m).is_some_and(|m| unbounded(&m.meta));
    conn.imsg_q.iter().any(blocking) || conn.omsg_q.iter().any(blocking)
}

/// The client is closing: its dedicated connection goes with it (the
/// server drops the MULTI, WATCH or block).
pub fn client_closed(core: &mut Core, ded: &mut Dedicated) {
    if let Some((_, sid)) = ded.conn {
        core.close_later(ConnRef::Server(sid), Close::Released);
    }
    pubsub::client_closed(core, ded.subs.take());
}

/// RESET: the client leaves its transaction, watch, block and
/// subscriptions; its dedicated connections close as on client close.
pub fn reset(core: &mut Core, cid: ClientId) {
    let Some(c) = core.client(cid) else { return };
    if let Some(x) = c.ext.as_mut() {
        let conn = x.ded.conn.take();
        x.ded.txn = Txn::None;
        x.ded.queued.clear();
        if let Some((_, sid)) = conn {
            core.close_later(ConnRef::Server(sid), Close::Released);
        }
    }
    pubsub::reset(core, cid);
}

/// Dedicated connection `sid` of client `cid` closed: the client holds no
/// connection any more, and what the server kept for it is gone.
pub fn server_closed(core: &mut Core, cid: ClientId, sid: ServerConnId) {
    let Some(ded) = core
        .client(cid)
        .and_then(|c| c.ext.as_mut())
        .map(|x| &mut x.ded)
    else {
        return;
    };
    if ded.conn.map(|x| x.1) != Some(sid) {
        return;
    }
    ded.conn = None;
    ded.txn = match ded.txn {
        Txn::None => Txn::None,
        Txn::Watching | Txn::WatchLost => Txn::WatchLost,
        Txn::Multi { sent: false } => Txn::Multi { sent: false },
        Txn::Multi { sent: true } | Txn::Aborted { .. } => Txn::Aborted {
            sent: false,
            why: Abort::Refused,
        },
    };
}

/// A request refused by the proxy inside MULTI aborts the transaction, as
/// a command redis refuses does.
pub fn refused(ded: &mut Dedicated) {
    if let Txn::Multi { sent } = ded.txn {
        ded.txn = Txn::Aborted {
            sent,
            why: Abort::Refused,
        };
    }
}
