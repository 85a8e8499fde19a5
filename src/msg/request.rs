//! Requests (twemproxy: nc_request.c).
//!
//! `req_recv_done` decides what happens to each complete request: answered
//! locally (PING, AUTH, QUIT, rejected commands), fragmented over servers
//! (MGET, DEL, get k1 k2 ...) or forwarded whole to the server of its key;
//! a redis request with several keys that is not fragmented (SINTER a b,
//! RENAME a b, EVAL with two keys, ...) is forwarded only when every key
//! lives on the first key's server, else answered `-CROSSSLOT ...`
//! (`redis::reply::CROSS_SERVER`).
//!
//! # Invariants
//! - a request enters the client's `omsg_q` in parse order, before it is
//!   forwarded, so replies keep request order (§CONN.7);
//! - a parent's `frag` lists every child before any child is forwarded, so
//!   coalescing never starts early.

use crate::conn::dedicated::{self, Step};
use crate::conn::server;
use crate::conn::Errno;
use crate::core::Core;
use crate::hashkit::Distribution;
use crate::msg::done::{reply_local, req_fail};
use crate::msg::fragment::fragments;
use crate::msg::{Expect, Owner, ReqError, State};
use crate::proto::{memcache, redis, span_bytes, ChainCursor, Cmd, Proto, Reject};
use crate::token::{ClientId, ConnRef, MsgId, PoolId, ServerConnId, ServerId};
use bytes::Bytes;

/// What to do with a parsed request.
enum Action {
    Forward,
    Fragment,
    Local(Bytes),
    Quit(Option<Bytes>),
    Drop,  // no reply: an empty request (`*0`), or a rejected memcache noreply
    Taken, // queued (or failed) already, on a client's dedicated connection
}

/// A request is complete (twemproxy: req_recv_done + req_filter); the
/// client's parse loop made it `Owner::Client(cid)` of the client's pool,
/// stamped with the batch.
pub fn req_recv_done(core: &mut Core, cid: ClientId, mid: MsgId) {
    let Some(c) = core.client(cid) else {
        core.msgs.free(mid);
        return;
    };
    let (p, client_auth) = (c.pool, c.authed);
    // Read at every request: a reload may set, change or drop the password.
    let pool = &core.pools[p];
    let authed = pool.conf.redis_auth.is_none() || client_auth == Some(pool.auth_epoch);
    let action = match core.pools[p].proto {
        Proto::Redis => redis_filter(core, cid, mid, p, authed),
        Proto::Memcache => memcache_filter(core, cid, mid, p),
    };
    match action {
        Action::Forward => req_forward(core, cid, mid, p),
        Action::Fragment => req_fragment(core, cid, mid, p),
        Action::Local(b) => reply_local(core, cid, mid, b),
        Action::Drop => core.msgs.free(mid),
        Action::Taken => {}
        Action::Quit(reply) => {
            if let Some(c) = core.client(cid) {
                c.eof = true;
            }
            match reply {
                Some(b) => {
                    if let Some(m) = core.msgs.get_mut(mid) {
                        m.quit = true;
                    }
                    reply_local(core, cid, mid, b)
                }
                None => {
                    core.msgs.free(mid);
                    let drained = core.client(cid).is_some_and(|c| c.omsg_q.is_empty());
                    if drained {
                        core.close_later(ConnRef::Client(cid), crate::conn::Close::Eof);
                    }
                }
            }
        }
    }
}

fn redis_filter(core: &mut Core, cid: ClientId, mid: MsgId, p: PoolId, authed: bool) -> Action {
    let Some(m) = core.msgs.get(mid) else {
        return Action::Quit(None);
    };
    let meta = &m.meta;
    if meta.narg == 0 {
        return Action::Drop;
    }
    let mut scratch = Vec::new();
    let reject = match (meta.reject, meta.cmd) {
        (Some(r), _) => Some(r),
        (None, Cmd::Redis(_)) => None,
        (None, _) => Some(Reject::UnknownCommand),
    };
    if let Some(r) = reject {
        let name = span_bytes(&m.data, meta.name, &mut scratch);
        log_reject(core, cid, p, name, r);
        let client = core.clients.get_mut(cid.idx as usize);
        if let Some(x) = client
            .filter(|c| c.gen == cid.gen)
            .and_then(|c| c.ext.as_mut())
        {
            dedicated::refused(&mut x.ded);
        }
        return Action::Local(Bytes::from(redis_reject(r, name)));
    }
    let Cmd::Redis(cmd) = meta.cmd else {
        return Action::Drop;
    };
    match cmd {
        redis::Cmd::Quit => return Action::Quit(Some(Bytes::from_static(redis::reply::OK))),
        // Before the NOAUTH check: they are how a client authenticates.
        redis::Cmd::Auth | redis::Cmd::Hello => return redis_local(core, cid, mid, p),
        redis::Cmd::Reset => {
            dedicated::reset(core, cid);
            return redis_local(core, cid, mid, p);
        }
        _ => {}
    }
    if !authed {
        return Action::Local(Bytes::from_static(redis::reply::NOAUTH));
    }
    if core
        .client(cid)
        .is_some_and(|c| dedicated::wants(c.ded(), cmd))
    {
        match dedicated::filter(core, cid, mid, p, cmd) {
            Step::Pass => {}
            Step::Reply(b) => return Action::Local(b),
            Step::Done => return Action::Taken,
        }
    }
    let Some(m) = core.msgs.get(mid) else {
        return Action::Quit(None);
    };
    let meta = &m.meta;
    match cmd {
        redis::Cmd::Ping => match meta.keys.first().or(meta.vals.first()) {
            None => Action::Local(Bytes::from_static(redis::reply::PONG)),
            Some(k) => {
                let arg = span_bytes(&m.data, *k, &mut scratch);
                let mut out = Vec::with_capacity(arg.len() + 16);
                redis::reply::ping_msg(arg, &mut out);
                Action::Local(Bytes::from(out))
            }
        },
        _ if cmd.local() => redis_local(core, cid, mid, p),
        _ if cmd.fragmented() && meta.keys.len() >= 2 => Action::Fragment,
        _ => Action::Forward,
    }
}

/// A handshake command the proxy answers itself (AUTH, HELLO, CLIENT,
/// SELECT, ECHO, RESET: `redis::local`); it may authenticate the client or
/// switch its protocol, which applies from the next request on.
// COPY: the arguments of a (once per connection) handshake command.
fn redis_local(core: &mut Core, cid: ClientId, mid: MsgId, p: PoolId) -> Action {
    let Core {
        msgs,
        clients,
        pools,
        ..
    } = core;
    let (Some(m), Some(c)) = (
        msgs.get(mid),
        clients
            .get_mut(cid.idx as usize)
            .filter(|c| c.gen == cid.gen),
    ) else {
        return Action::Quit(None);
    };
    let Cmd::Redis(cmd) = m.meta.cmd else {
        return Action::Drop;
    };
    let mut scratch = Vec::new();
    let args: Vec<Vec<u8>> = m
        .meta
        .vals
        .iter()
        .map(|&v| span_bytes(&m.data, v, &mut scratch).to_vec())
        .collect();
    let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let conf = &pools[p].conf;
    let ctx = redis::local::Ctx {
        id: u64::from(c.gen),
        db: conf.redis_db,
        password: conf.redis_auth.as_deref(),
        epoch: pools[p].auth_epoch,
    };
    let mut out = Vec::new();
    let mut s = c.session();
    redis::local::answer(cmd, &args, &ctx, &mut s, &mut out);
    c.set_session(s);
    Action::Local(Bytes::from(out))
}

fn redis_reject(r: Reject, name: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match r {
        Reject::UnknownCommand => redis::reply::err_unsupported(name, &mut out),
        Reject::WrongArity => redis::reply::err_arity(name, &mut out),
        Reject::BadKey | Reject::BadFormat => {
            redis::reply::err_protocol("invalid argument", &mut out)
        }
        Reject::TooLarge => redis::reply::err_protocol("request too large", &mut out),
        Reject::Reply(line) => out.extend_from_slice(line),
    }
    out
}

fn memcache_filter(core: &mut Core, cid: ClientId, mid: MsgId, p: PoolId) -> Action {
    let Some(m) = core.msgs.get(mid) else {
        return Action::Quit(None);
    };
    if let Some(r) = m.meta.reject {
        let mut scratch = Vec::new();
        log_reject(
            core,
            cid,
            p,
            span_bytes(&m.data, m.meta.name, &mut scratch),
            r,
        );
        // memcached reads noreply before it checks the fields: silence,
        // unless the token count was wrong (then it never saw noreply)
        if m.meta.noreply && r != Reject::WrongArity && r != Reject::UnknownCommand {
            return Action::Drop;
        }
        return Action::Local(Bytes::from_static(memcache::reply::reject_reply(r)));
    }
    if let Some(q) = m.meta.quiet {
        // forwarded without `q`; the reply memcached would hide is dropped
        // in done::req_done (see proto::memcache::meta)
        let Some(m) = core.msgs.get_mut(mid) else {
            return Action::Quit(None);
        };
        crate::proto::cut_span(&mut m.data, q);
        m.mlen -= q.len;
    }
    let Some(m) = core.msgs.get(mid) else {
        return Action::Quit(None);
    };
    match m.meta.cmd {
        Cmd::Memcache(memcache::Cmd::Quit) => Action::Quit(None),
        Cmd::Memcache(memcache::Cmd::Mn) => Action::Local(Bytes::from_static(memcache::meta::MN)),
        Cmd::Memcache(c) if c.fragmented() && m.meta.keys.len() >= 2 => Action::Fragment,
        _ => Action::Forward,
    }
}

/// Logs a rejected request, naming its command and client (issue 17.2).
/// What 0.5.0 logs at its error level (an unsupported redis command, an
/// over-long key) is logged with `log::error!`, the others, which 0.5.0
/// only logs in debug builds, with `log::info!` (§SIG.2); so `-v 0` is
/// silent and the default `-v 5` shows them all. 0.5.0 closed the connection
/// after one such line; we keep it, so a client can pipeline a flood of bad
/// requests: each costs one line formatted into the loop's log batch (one
/// `write(2)` per loop iteration, see `crate::log`) and no rate limit
/// applies. Measured on one core: 650k rejected requests/s answered and
/// logged, against 100k/s with a write per line and 3.4M/s at `-v 0`.
fn log_reject(core: &Core, cid: ClientId, p: PoolId, name: &[u8], r: Reject) {
    let pool = &core.pools[p];
    let error = matches!(
        (pool.proto, r),
        (Proto::Redis, Reject::UnknownCommand | Reject::TooLarge)
            | (Proto::Memcache, Reject::BadKey)
    );
    let level = if error {
        log::Level::Error
    } else {
        log::Level::Info
    };
    if !log::log_enabled!(level) {
        return;
    }
    let Some(c) = core
        .clients
        .get(cid.idx as usize)
        .filter(|c| c.gen == cid.gen)
    else {
        return;
    };
    // The name as written, bounded and escaped: the client chose its bytes.
    let name = name.get(..MAX_LOGGED_NAME).unwrap_or(name).escape_ascii();
    let peer = crate::sock::Peer(&c.sock);
    let pool = &pool.conf.name;
    let what = match r {
        Reject::UnknownCommand => {
            log::log!(
                level,
                "parsed unsupported command '{name}' from client {peer} in pool '{pool}'"
            );
            return;
        }
        Reject::WrongArity => "wrong number of arguments",
        Reject::BadKey => "key over the maximum key length",
        Reject::BadFormat => "bad command line format",
        Reject::TooLarge => "over a request limit",
        Reject::Reply(line) => std::str::from_utf8(line).unwrap_or("refused").trim_end(),
    };
    log::log!(
        level,
        "parsed bad req '{name}' ({what}) from client {peer} in pool '{pool}'"
    );
}

/// Bytes of a command name quoted in a log line.
const MAX_LOGGED_NAME: usize = 64;

/// Forwards a request whole to the server of its first key (twemproxy:
/// req_forward). A redis request whose keys live on several servers (SINTER
/// a b, RENAME a b, ...) is answered `reply::CROSS_SERVER` instead.
fn req_forward(core: &mut Core, cid: ClientId, mid: MsgId, p: PoolId) {
    let route = {
        let Core {
            msgs,
            pools,
            scratch,
            now,
            ..
        } = core;
        let Some(m) = msgs.get(mid) else { return };
        let key: &[u8] = match m.meta.keys.first() {
            Some(&k) => span_bytes(&m.data, k, scratch),
            None => b"placeholder",
        };
        let route = if m.meta.key_b64 {
            // memcache meta `b`: by the decoded key (a buffer zeroed only here)
            let mut buf = [0u8; memcache::meta::MAX_DECODED];
            pools[p].route(memcache::meta::route_key(&m.meta, key, &mut buf), *now)
        } else {
            pools[p].route(key, *now)
        };
        if m.meta.keys.len() >= 2 && cross_server(&mut pools[p], m, route, scratch, *now) {
            reply_local(
                core,
                cid,
                mid,
                Bytes::from_static(redis::reply::CROSS_SERVER),
            );
            return;
        }
        route
    };
    let Some(m) = core.msgs.get_mut(mid) else {
        return;
    };
    m.expect = if m.meta.noreply {
        Expect::None
    } else {
        Expect::One
    };
    let expect = m.expect;
    let (mut resp, mut lane) = (redis::Resp::Resp2, 0);
    let Core { clients, pools, .. } = core;
    if let Some(c) = clients
        .get_mut(cid.idx as usize)
        .filter(|c| c.gen == cid.gen)
    {
        resp = c.resp;
        if expect != Expect::None {
            c.omsg_q.push_back(mid);
        }
        lane = client_lane(c, &mut pools[p]);
    }
    let route = route.ok_or(ReqError::NoServer);
    if let Err(e) = route.and_then(|s| req_enqueue(core, p, s, lane, mid, resp)) {
        req_fail(core, mid, e);
    }
}

/// Forwards a request whole to server `s` on the client's shared lane
/// (a command `dedicated` routes itself).
pub fn forward_shared(core: &mut Core, cid: ClientId, mid: MsgId, p: PoolId, s: ServerId) {
    let lane = lane(core, cid, p);
    let resp = core.client(cid).map_or(redis::Resp::Resp2, |c| c.resp);
    forward_with(core, cid, mid, |core| {
        req_enqueue(core, p, s, lane, mid, resp)
    });
}

/// Forwards a request whole on connection `conn` (a client's dedicated
/// connection).
pub fn forward_on(
    core: &mut Core,
    cid: ClientId,
    mid: MsgId,
    p: PoolId,
    (s, sid): (ServerId, ServerConnId),
) {
    forward_with(core, cid, mid, |core| req_enqueue_on(core, p, s, sid, mid));
}

/// Takes the reply slot in the client's order, then queues the request
/// with `enqueue` (or fails it).
fn forward_with(
    core: &mut Core,
    cid: ClientId,
    mid: MsgId,
    enqueue: impl FnOnce(&mut Core) -> Result<(), ReqError>,
) {
    let Some(m) = core.msgs.get_mut(mid) else {
        return;
    };
    m.owner = Owner::Client(cid);
    m.expect = Expect::One;
    if let Some(c) = core.client(cid) {
        c.omsg_q.push_back(mid);
    }
    if let Err(e) = enqueue(core) {
        req_fail(core, mid, e);
    }
}

/// Whether a key of `m` after the first routes elsewhere than `first`.
/// Only redis requests forwarded whole carry several keys; a pool with
/// `distribution: random` has no home server for a key, so it is never
/// checked (the request goes to one random server, as in 0.5.0).
fn cross_server(
    pool: &mut crate::pool::ServerPool,
    m: &crate::msg::Msg,
    first: Option<ServerId>,
    scratch: &mut Vec<u8>,
    now: std::time::Instant,
) -> bool {
    if pool.proto != Proto::Redis || pool.conf.distribution == Distribution::Random {
        return false;
    }
    m.meta.keys.iter().skip(1).any(|&k| {
        let key = span_bytes(&m.data, k, scratch);
        pool.route(key, now) != first
    })
}

/// The lane of client `cid` of pool `p`, given at its first request (see
/// `pool`, Lanes).
fn lane(core: &mut Core, cid: ClientId, p: PoolId) -> u32 {
    let Core { clients, pools, .. } = core;
    clients
        .get_mut(cid.idx as usize)
        .filter(|c| c.gen == cid.gen)
        .map_or(0, |c| client_lane(c, &mut pools[p]))
}

/// `lane` of a client at hand, of its pool `pool`.
fn client_lane(c: &mut crate::conn::client::ClientConn, pool: &mut crate::pool::ServerPool) -> u32 {
    *c.lane.get_or_insert_with(|| {
        let lane = pool.next_lane;
        pool.next_lane = lane.wrapping_add(1);
        lane
    })
}

/// Queues a request of a client on `lane` speaking `resp` on the connection
/// of server `s` of pool `p` for them.
pub fn req_enqueue(
    core: &mut Core,
    p: PoolId,
    s: ServerId,
    lane: u32,
    mid: MsgId,
    resp: redis::Resp,
) -> Result<(), ReqError> {
    let sid = server::conn_for(core, p, s, lane, resp).map_err(ReqError::Connect)?;
    req_enqueue_on(core, p, s, sid, mid)
}

/// Queues a request on connection `sid` of server `s` of pool `p`.
pub fn req_enqueue_on(
    core: &mut Core,
    p: PoolId,
    s: ServerId,
    sid: ServerConnId,
    mid: MsgId,
) -> Result<(), ReqError> {
    let Some(conn) = core.server(sid) else {
        return Err(ReqError::Connect(Errno(libc::ECONNREFUSED)));
    };
    conn.imsg_q.push_back(mid);
    let Some(m) = core.msgs.get_mut(mid) else {
        return Ok(());
    };
    debug_assert_eq!(m.state, State::New, "a request is queued once");
    m.state = State::Queued;
    m.server = Some((s, sid));
    let len = i64::from(m.mlen);
    let sm = core.metrics.server(p, s);
    sm.requests += 1;
    sm.request_bytes += len;
    sm.in_queue += 1;
    sm.in_queue_bytes += len;
    core.want_send(ConnRef::Server(sid));
    Ok(())
}

/// Where a key of a fragmented request goes; keys no server takes sort
/// last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Server(ServerId),
    NoServer, // every server of the pool is ejected
}

/// Routes every key of request `mid` (reading them with one forward
/// cursor) and builds each server's sub-request into `core.frag.frags`
/// (`fragment::fragments`), each key's fragment index into the request's
/// `Frag::key_child`. False when the request is gone.
fn fragment_plan(core: &mut Core, mid: MsgId, p: PoolId) -> bool {
    let Core {
        msgs,
        pools,
        now,
        scratch,
        frag,
        ..
    } = core;
    let Some(m) = msgs.get_mut(mid) else {
        return false;
    };
    let mut f = m.frag.take().unwrap_or_default();
    let pool = &mut pools[p];
    let mut cur = ChainCursor::new(&m.data);
    frag.key_target.clear();
    frag.key_target.extend(m.meta.keys.iter().map(|&k| {
        pool.route(cur.bytes(k, scratch), *now)
            .map_or(Target::NoServer, Target::Server)
    }));
    fragments(m, &mut f.key_child, frag);
    m.frag = Some(f);
    true
}

/// Splits a multi-key request into one child per server (twemproxy:
/// redis_fragment / memcache_fragment), in increasing server id order.
fn req_fragment(core: &mut Core, cid: ClientId, mid: MsgId, p: PoolId) {
    if !fragment_plan(core, mid, p) {
        return;
    }
    let Some(mut f) = core.msgs.get_mut(mid).and_then(|m| m.frag.take()) else {
        return;
    };
    // Create every child before forwarding any.
    f.children.clear();
    f.ndone = 0;
    for part in &mut core.frag.frags {
        let c = core.msgs.alloc(Owner::Child(mid));
        if let Some(ch) = core.msgs.get_mut(c) {
            ch.pool = p;
            ch.mlen = part.bytes.len() as u32;
            ch.meta.narg = part.nkeys;
            ch.data.push(std::mem::take(&mut part.bytes));
        }
        f.children.push(c);
    }
    let nchild = f.children.len();
    let Some(m) = core.msgs.get_mut(mid) else {
        return;
    };
    m.frag = Some(f);
    m.owner = Owner::Parent(cid);
    let mut resp = redis::Resp::Resp2;
    if let Some(c) = core.client(cid) {
        c.omsg_q.push_back(mid);
        resp = c.resp;
    }
    core.metrics.pool(p).fragments += nchild as i64;
    let lane = lane(core, cid, p);
    // Nothing below fragments another request: `core.frag` still holds
    // this one's targets.
    for i in 0..nchild {
        let child = core
            .msgs
            .get(mid)
            .and_then(|m| m.frag.as_ref())
            .and_then(|f| f.children.get(i).copied());
        let (Some(child), Some(part)) = (child, core.frag.frags.get(i)) else {
            break;
        };
        let r = match part.target {
            Target::Server(s) => req_enqueue(core, p, s, lane, child, resp),
            Target::NoServer => Err(ReqError::NoServer),
        };
        if let Err(e) = r {
            req_fail(core, child, e);
        }
    }
}
