//! Coalescing fragment replies into the parent's (twemproxy:
//! redis_post_coalesce, memcache_post_coalesce; §REDIS.5, §MEMCACHE.5).
//!
//! Pure over the message arena: the children's replies are sliced, never
//! copied, into the parent's reply, in the parent's key order.

use crate::msg::{Frag, Msg, MsgArena, ReqError};
use crate::proto::{memcache, redis, span_bytes, Cmd, Proto, RspKind, Span};
use crate::token::MsgId;
use bytes::Bytes;

/// Builds the parent's reply from its children's (§REDIS.5, §MEMCACHE.5).
/// Returns true when the reply is a synthesised error.
pub fn coalesce(msgs: &mut MsgArena, parent: MsgId, proto: Proto) -> bool {
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
        out.push(e.reply(proto));
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
fn relay_or_einval(msgs: &MsgArena, f: &Frag, proto: Proto, out: &mut Vec<Bytes>) {
    out.clear();
    let err = f.children.iter().filter_map(|c| msgs.get(*c)).find(|c| {
        matches!(
            c.rsp_meta.kind,
            RspKind::Error | RspKind::McError | RspKind::ClientError | RspKind::ServerError
        )
    });
    match err {
        Some(c) => out.extend(c.rsp.iter().cloned()),
        None => out.push(ReqError::BadReply.reply(proto)),
    }
}

pub fn coalesce_redis(msgs: &MsgArena, pm: &Msg, cmd: redis::Cmd, out: &mut Vec<Bytes>) -> bool {
    let Some(f) = pm.frag.as_ref() else {
        return true;
    };
    let kids: Vec<&Msg> = f.children.iter().filter_map(|c| msgs.get(*c)).collect();
    if kids.len() != f.children.len() {
        out.push(ReqError::BadReply.reply(Proto::Redis));
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

pub fn coalesce_memcache(msgs: &MsgArena, pm: &Msg, out: &mut Vec<Bytes>) -> bool {
    let Some(f) = pm.frag.as_ref() else {
        return true;
    };
    let kids: Vec<&Msg> = f.children.iter().filter_map(|c| msgs.get(*c)).collect();
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
