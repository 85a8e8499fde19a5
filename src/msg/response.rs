//! Responses (twemproxy: nc_response.c).
//!
//! A parsed backend response is paired with the request at the head of its
//! connection's `omsg_q` (`rsp_recv_done`); `req_done` then routes the
//! completed request: to its client, to its fragmented parent
//! (`coalesce`), or to the free list when nobody waits for it.
//!
//! # Invariants
//! - `req_done` runs exactly once per request;
//! - a parent coalesces only when every child is done, then frees them.

use crate::core::Core;
use crate::msg::request::{error_reply, free_tree};
use crate::proto::{memcache, redis, span_bytes, Cmd, Proto, RspKind, Span};
use crate::token::{ConnRef, MsgId, ServerConnId};
use bytes::Bytes;

/// A complete response arrived on a server connection; `rdata`/`rmeta` of
/// the connection hold it (twemproxy: rsp_recv_done + rsp_filter +
/// rsp_forward).
pub fn rsp_recv_done(core: &mut Core, sid: ServerConnId) {
    let now = core.now;
    let Some(conn) = core.server(sid) else { return };
    let (p, s) = (conn.pool as usize, conn.server as usize);
    let rlen: usize = conn.rdata.iter().map(|b| b.len()).sum();
    let Some(mid) = conn.omsg_q.pop_front() else {
        // Stray response: nobody asked (§REDIS.8, §MEMCACHE.6).
        conn.rdata.clear();
        core.close_later(ConnRef::Server(sid), crate::conn::Close::Err(libc::EINVAL));
        return;
    };
    let failure = conn.rmeta.kind == RspKind::Failure;
    let Core { servers, msgs, .. } = core;
    let Some(conn) = servers.get_mut(sid.idx as usize) else {
        return;
    };
    let Some(m) = msgs.get_mut(mid) else {
        conn.rdata.clear();
        return;
    };
    m.in_server = false;
    m.deadline = None;
    let mlen = i64::from(m.mlen);
    let sent_at = m.sent_at;
    let counted = !m.swallow && !m.internal && m.client.is_some() || m.parent.is_some();
    if failure {
        conn.rdata.clear();
        m.err = Some(libc::EINVAL);
    } else {
        std::mem::swap(&mut m.rsp, &mut conn.rdata);
        std::mem::swap(&mut m.rsp_meta, &mut conn.rmeta);
    }
    m.done = true;
    m.stamp = core.ls.stamp();
    let internal = m.internal;
    let sm = core.metrics.server(p, s);
    sm.out_queue -= 1;
    sm.out_queue_bytes -= mlen;
    if failure {
        core.close_later(ConnRef::Server(sid), crate::conn::Close::Err(libc::EINVAL));
    } else if counted {
        sm.responses += 1;
        sm.response_bytes += rlen as i64;
        if let Some(t) = sent_at {
            core.metrics
                .record_latency(p, s, now.saturating_duration_since(t).as_micros() as u64);
        }
        core.pools[p].success(s);
    }
    if internal {
        internal_done(core, mid, p, s);
        return;
    }
    req_done(core, mid);
}

/// The proxy's own request (AUTH, SELECT, probe) got its reply.
fn internal_done(core: &mut Core, mid: MsgId, p: usize, s: usize) {
    if let Some(m) = core.msgs.get(mid) {
        let is_err = matches!(
            m.rsp_meta.kind,
            RspKind::Error | RspKind::McError | RspKind::ServerError
        );
        if m.probe {
            // Only PONG / VERSION is proper; an error reply (-LOADING,
            // -NOAUTH, ...) means not ready yet.
            let proper =
                m.err.is_none() && matches!(m.rsp_meta.kind, RspKind::Status | RspKind::Version);
            probe_done(core, mid, p, s, proper);
            return;
        }
        if is_err || m.err.is_some() {
            let mut txt = Vec::new();
            for b in &m.rsp {
                txt.extend_from_slice(b);
            }
            let t = String::from_utf8_lossy(&txt);
            log::warn!(
                "setup command failed on {} | {}: {}",
                core.pools[p].conf.name,
                core.pools[p].servers[s].name,
                t.trim_start_matches('-').trim_end()
            );
        }
    }
    core.msgs.free(mid);
}

/// A probe of an ejected server ended (`server_probe: true`): a proper
/// reply re-admits the server and its connection stays for traffic; any
/// other outcome keeps it ejected for another retry period, and the
/// connection goes (it is already closing when the probe failed with it).
fn probe_done(core: &mut Core, mid: MsgId, p: usize, s: usize, proper: bool) {
    let sid = core.msgs.get(mid).and_then(|m| m.server.map(|x| x.1));
    core.msgs.free(mid);
    let name = &core.pools[p].servers[s].pname;
    if proper {
        log::warn!("server '{name}' answered its probe: re-admitted");
        core.pools[p].probe_ok(s);
        return;
    }
    log::warn!("server '{name}' failed its probe: still ejected");
    let now = core.now;
    core.pools[p].probe_failed(s, now);
    if let Some(sid) = sid {
        core.close_later(ConnRef::Server(sid), crate::conn::Close::Err(libc::EINVAL));
    }
}

/// A request is complete: reply, error or fragment (twemproxy: the tail of
/// rsp_forward and req_error handling).
pub fn req_done(core: &mut Core, mid: MsgId) {
    let Some(m) = core.msgs.get_mut(mid) else {
        return;
    };
    if m.internal {
        let (p, s) = (m.pool as usize, m.server.map(|x| x.0 as usize).unwrap_or(0));
        if m.probe {
            // the probe's connection failed before a reply came
            probe_done(core, mid, p, s, false);
            return;
        }
        core.msgs.free(mid);
        return;
    }
    if let Some(parent) = m.parent {
        child_done(core, parent);
        return;
    }
    let Some(cid) = m.client.filter(|_| !m.swallow) else {
        if !m.in_client {
            free_tree(core, mid);
        }
        return;
    };
    if m.noreply {
        core.msgs.free(mid);
        return;
    }
    let p = m.pool as usize;
    if let Some(e) = m.err {
        let proto = core.pools[p].proto;
        m.rsp.clear();
        m.rsp.push(error_reply(proto, e));
        core.metrics.pool(p).forward_error += 1;
    }
    reply_ready(core, cid);
}

/// A forwarded request of client `cid` got its reply. When it is the
/// client's only one (the unpipelined case) it is written right after the
/// server read that completed it; replies of pipelined clients wait for
/// the end-of-batch flush, which writes each client's done prefix at once.
fn reply_ready(core: &mut Core, cid: crate::token::ClientId) {
    let only = core.client(cid).is_some_and(|c| c.omsg_q.len() == 1);
    if only {
        core.want_send_now(ConnRef::Client(cid));
    } else {
        core.want_send(ConnRef::Client(cid));
    }
}

/// One fragment finished; the last one coalesces the parent's reply.
fn child_done(core: &mut Core, parent: MsgId) {
    let Some(pm) = core.msgs.get_mut(parent) else {
        return;
    };
    let Some(f) = pm.frag.as_mut() else { return };
    f.ndone += 1;
    if (f.ndone as usize) < f.children.len() {
        return;
    }
    if pm.swallow || pm.client.is_none() {
        if !pm.in_client {
            free_tree(core, parent);
        }
        return;
    }
    let p = pm.pool as usize;
    let proto = core.pools[p].proto;
    let failed = coalesce(core, parent, proto);
    if failed {
        core.metrics.pool(p).forward_error += 1;
    }
    // The children's bytes now live on in the parent's reply (shared).
    let children = core
        .msgs
        .get_mut(parent)
        .and_then(|m| m.frag.as_mut().map(|f| std::mem::take(&mut f.children)));
    if let Some(mut ch) = children {
        for c in &ch {
            core.msgs.free(*c);
        }
        ch.clear();
        if let Some(f) = core.msgs.get_mut(parent).and_then(|m| m.frag.as_mut()) {
            f.children = ch;
        }
    }
    let Some(pm) = core.msgs.get_mut(parent) else {
        return;
    };
    pm.done = true;
    pm.stamp = core.ls.stamp();
    if let Some(cid) = pm.client {
        reply_ready(core, cid);
    }
}

/// Builds the parent's reply from its children's (§REDIS.5, §MEMCACHE.5).
/// Returns true when the reply is a synthesised error.
fn coalesce(core: &mut Core, parent: MsgId, proto: Proto) -> bool {
    let msgs = &mut core.msgs;
    let Some(pm) = msgs.get_mut(parent) else {
        return false;
    };
    let mut out = std::mem::take(&mut pm.rsp);
    out.clear();
    let Some(pm) = msgs.get(parent) else {
        return false;
    };
    let Some(f) = pm.frag.as_ref() else {
        return false;
    };
    // A transport failure of any fragment fails the whole request.
    let first_err = f
        .children
        .iter()
        .filter_map(|c| msgs.get(*c))
        .find_map(|c| c.err);
    let mut failed = false;
    // Beyond 0.5.0: a retrieval (MGET, get, gets) that lost a fragment gets
    // its error reply and the connection stays usable (0.5.0 closed it,
    // §REDIS.5, §MEMCACHE.5; issue 7.3a).
    if let Some(e) = first_err {
        out.push(error_reply(proto, e));
        failed = true;
    } else {
        match pm.meta.cmd {
            Cmd::Redis(cmd) => failed = coalesce_redis(msgs, pm, cmd, &mut out),
            Cmd::Memcache(_) => failed = coalesce_memcache(msgs, pm, &mut out),
            Cmd::None => {}
        }
    }
    if let Some(pm) = msgs.get_mut(parent) {
        pm.rsp = out;
    }
    failed
}

/// A fragment reply of the wrong shape: relay the first error reply as is,
/// else a synthesised `Invalid argument`.
fn relay_or_einval(
    msgs: &crate::msg::MsgArena,
    f: &crate::msg::Frag,
    proto: Proto,
    out: &mut Vec<Bytes>,
) {
    out.clear();
    let err = f.children.iter().filter_map(|c| msgs.get(*c)).find(|c| {
        matches!(
            c.rsp_meta.kind,
            RspKind::Error | RspKind::McError | RspKind::ClientError | RspKind::ServerError
        )
    });
    match err {
        Some(c) => out.extend(c.rsp.iter().cloned()),
        None => out.push(error_reply(proto, libc::EINVAL)),
    }
}

pub(crate) fn coalesce_redis(
    msgs: &crate::msg::MsgArena,
    pm: &crate::msg::Msg,
    cmd: redis::Cmd,
    out: &mut Vec<Bytes>,
) -> bool {
    let Some(f) = pm.frag.as_ref() else {
        return true;
    };
    let kids: Vec<&crate::msg::Msg> = f.children.iter().filter_map(|c| msgs.get(*c)).collect();
    if kids.len() != f.children.len() {
        out.push(error_reply(Proto::Redis, libc::EINVAL));
        return true;
    }
    let nkeys = pm.meta.keys.len();
    if cmd == redis::Cmd::Mget {
        let shaped = kids.iter().all(|c| {
            c.rsp_meta.kind == RspKind::Array && c.rsp_meta.elems.len() == c.meta.narg as usize
        });
        if !shaped {
            relay_or_einval(msgs, f, Proto::Redis, out);
            return true;
        }
        let mut hdr = Vec::with_capacity(16);
        redis::fragment::mget_header(nkeys, &mut hdr);
        out.push(Bytes::from(hdr));
        let mut cursor = vec![0usize; kids.len()];
        for &c in &f.key_child {
            let c = c as usize;
            let Some(kid) = kids.get(c) else { continue };
            if let Some(&span) = kid.rsp_meta.elems.get(cursor[c]) {
                push_span(&kid.rsp, span, out);
            }
            cursor[c] += 1;
        }
        return false;
    }
    if cmd == redis::Cmd::Mset {
        if kids.iter().all(|c| c.rsp_meta.kind == RspKind::Status) {
            out.push(Bytes::from_static(redis::reply::OK));
            return false;
        }
        relay_or_einval(msgs, f, Proto::Redis, out);
        return true;
    }
    // DEL, UNLINK, TOUCH, EXISTS: the sum of the integer replies.
    if kids.iter().all(|c| c.rsp_meta.kind == RspKind::Integer) {
        let sum: i64 = kids.iter().map(|c| c.rsp_meta.int).sum();
        let mut b = Vec::with_capacity(24);
        redis::fragment::integer_reply(sum, &mut b);
        out.push(Bytes::from(b));
        return false;
    }
    relay_or_einval(msgs, f, Proto::Redis, out);
    true
}

pub(crate) fn coalesce_memcache(
    msgs: &crate::msg::MsgArena,
    pm: &crate::msg::Msg,
    out: &mut Vec<Bytes>,
) -> bool {
    let Some(f) = pm.frag.as_ref() else {
        return true;
    };
    let kids: Vec<&crate::msg::Msg> = f.children.iter().filter_map(|c| msgs.get(*c)).collect();
    if kids.len() != f.children.len() || kids.iter().any(|c| c.rsp_meta.kind != RspKind::Values) {
        relay_or_einval(msgs, f, Proto::Memcache, out);
        return true;
    }
    // Memcached omits misses: match each key with the next block of its
    // server by key name, so values always come out in request order.
    let mut cursor = vec![0usize; kids.len()];
    let (mut s1, mut s2) = (Vec::new(), Vec::new());
    for (i, &c) in f.key_child.iter().enumerate() {
        let c = c as usize;
        let Some(kid) = kids.get(c) else { continue };
        let Some(&block) = kid.rsp_meta.elems.get(cursor[c]) else {
            continue;
        };
        let Some(&kspan) = pm.meta.keys.get(i) else {
            continue;
        };
        let key = span_bytes(&pm.data, kspan, &mut s1);
        let head = span_bytes(
            &kid.rsp,
            Span::new(block.start, block.len.min(6 + 251 + 64)),
            &mut s2,
        );
        // `VALUE <key> ...`: the first token after the word (the parser
        // accepts runs of spaces between tokens, so skip them all)
        let bkey = head
            .get(6..)
            .and_then(|h| h.split(|&b| b == b' ').find(|t| !t.is_empty()))
            .unwrap_or(&[]);
        if bkey == key {
            push_span(&kid.rsp, block, out);
            cursor[c] += 1;
        }
    }
    out.push(Bytes::from_static(memcache::fragment::END));
    false
}

/// Pushes the bytes of `span` as zero-copy slices of `chain`.
fn push_span(chain: &[Bytes], span: Span, out: &mut Vec<Bytes>) {
    let (start, end) = (span.start as usize, span.end() as usize);
    let mut base = 0usize;
    for c in chain {
        let cend = base + c.len();
        if cend > start && base < end {
            let a = start.max(base) - base;
            let b = end.min(cend) - base;
            out.push(c.slice(a..b));
        }
        if cend >= end {
            break;
        }
        base = cend;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_span_slices_across_chunks() {
        let chain = [Bytes::from_static(b"abc"), Bytes::from_static(b"def")];
        let mut out = Vec::new();
        push_span(&chain, Span::new(1, 4), &mut out);
        let joined: Vec<u8> = out.iter().flat_map(|b| b.iter().copied()).collect();
        assert_eq!(joined, b"bcde");
        out.clear();
        push_span(&chain, Span::new(3, 3), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0][..], b"def");
    }
}
