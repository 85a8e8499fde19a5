//! Coalescing fragment replies into the parent's (twemproxy:
//! redis_post_coalesce, memcache_post_coalesce; §REDIS.5, §MEMCACHE.5).
//!
//! Pure over the message arena: the children's replies are sliced, never
//! copied, into the parent's reply, in the parent's key order.

use crate::msg::fragment::OutChunk;
use crate::msg::{Frag, Msg, MsgArena, ReqError};
use crate::proto::{memcache, redis, span_bytes, ChainCursor, Cmd, Proto, RspKind, Span};
use crate::token::MsgId;
use bytes::{Bytes, BytesMut};

/// Builds the parent's reply from its children's (§REDIS.5, §MEMCACHE.5).
/// Returns true when the reply is a synthesised error. Bytes it writes
/// (MGET's merged small elements) are cut from `chunk`.
pub fn coalesce(msgs: &mut MsgArena, parent: MsgId, proto: Proto, chunk: &mut OutChunk) -> bool {
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
            Cmd::Redis(cmd) => failed = coalesce_redis(msgs, pm, cmd, &mut out, chunk),
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

/// The children of `f`, in order, while every one is still there.
fn children<'m>(msgs: &'m MsgArena, f: &'m Frag) -> impl Iterator<Item = Option<&'m Msg>> + 'm {
    f.children.iter().map(|c| msgs.get(*c))
}

pub fn coalesce_redis(
    msgs: &MsgArena,
    pm: &Msg,
    cmd: redis::Cmd,
    out: &mut Vec<Bytes>,
    chunk: &mut OutChunk,
) -> bool {
    let Some(f) = pm.frag.as_ref() else {
        return true;
    };
    if children(msgs, f).any(|c| c.is_none()) {
        out.push(ReqError::BadReply.reply(Proto::Redis));
        return true;
    }
    let mut kids = children(msgs, f).flatten();
    let nkeys = pm.meta.keys.len();
    if cmd == redis::Cmd::Mget {
        let shaped = kids.all(|c| {
            c.rsp_meta.kind == RspKind::Array && c.rsp_meta.elems.len() == c.meta.narg as usize
        });
        if !shaped {
            relay_or_einval(msgs, f, Proto::Redis, out);
            return true;
        }
        merge_elems(msgs, f, nkeys, out, chunk);
        return false;
    }
    if cmd == redis::Cmd::Mset {
        if kids.all(|c| c.rsp_meta.kind == RspKind::Status) {
            out.push(Bytes::from_static(redis::reply::OK));
            return false;
        }
        relay_or_einval(msgs, f, Proto::Redis, out);
        return true;
    }
    // DEL, UNLINK, TOUCH, EXISTS: the sum of the integer replies.
    if kids.all(|c| c.rsp_meta.kind == RspKind::Integer) {
        let sum: i64 = children(msgs, f).flatten().map(|c| c.rsp_meta.int).sum();
        let mut own = BytesMut::new();
        let b = chunk.room(&mut own, 24);
        redis::fragment::integer_reply(sum, b);
        out.push(b.split().freeze());
        return false;
    }
    relay_or_einval(msgs, f, Proto::Redis, out);
    true
}

pub fn coalesce_memcache(msgs: &MsgArena, pm: &Msg, out: &mut Vec<Bytes>) -> bool {
    let Some(f) = pm.frag.as_ref() else {
        return true;
    };
    if children(msgs, f).any(|c| c.is_none_or(|c| c.rsp_meta.kind != RspKind::Values)) {
        relay_or_einval(msgs, f, Proto::Memcache, out);
        return true;
    }
    // Memcached omits misses: match each key with the next block of its
    // server by key name, so values always come out in request order.
    let nkids = f.children.len();
    let mut few = [0usize; FEW_KIDS];
    let mut many = Vec::new();
    let cursor = if nkids <= FEW_KIDS {
        &mut few[..nkids]
    } else {
        many.resize(nkids, 0usize);
        &mut many[..]
    };
    let (mut s1, mut s2) = (Vec::new(), Vec::new());
    for (i, &c) in f.key_child.iter().enumerate() {
        let c = c as usize;
        let kid = f.children.get(c).and_then(|id| msgs.get(*id));
        let (Some(kid), Some(&at)) = (kid, cursor.get(c)) else {
            continue;
        };
        let Some(&block) = kid.rsp_meta.elems.get(at) else {
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
            if let Some(n) = cursor.get_mut(c) {
                *n += 1;
            }
        }
    }
    out.push(Bytes::from_static(memcache::fragment::END));
    false
}

/// Elements up to this size are copied into the merged reply rather than
/// sliced: a refcounted slice per element (and an iovec per slice in the
/// client's writev) costs more than copying a few dozen bytes.
const COPY_MAX: u32 = 128;

/// Children up to which `merge_elems` keeps its cursors on the stack.
const FEW_KIDS: usize = 16;

/// The MGET reply: `*<nkeys>` then, in the parent's key order, the next
/// element of the reply of each key's child (`key_child`). Small elements
/// are copied into runs (`COPY_MAX`) cut from `chunk`, larger ones are
/// slices of the children's replies; each child's reply is walked once,
/// forward.
// COPY: elements of at most COPY_MAX bytes; bounded by the reply's size.
fn merge_elems(
    msgs: &MsgArena,
    f: &Frag,
    nkeys: usize,
    out: &mut Vec<Bytes>,
    chunk: &mut OutChunk,
) {
    let size: usize = children(msgs, f)
        .flatten()
        .map(|k| k.rsp.iter().map(Bytes::len).sum::<usize>())
        .sum();
    let need = 24 + size.min(nkeys.saturating_mul(COPY_MAX as usize));
    let mut own = BytesMut::new();
    let run = chunk.room(&mut own, need);
    redis::fragment::mget_header(nkeys, run);
    // per child: its next element, and the chunk of its reply it lies in
    let nkids = f.children.len();
    let mut few = [(0usize, ChainCursor::new(&[])); FEW_KIDS];
    let mut many = Vec::new();
    let next = if nkids <= FEW_KIDS {
        &mut few[..nkids]
    } else {
        many.resize(nkids, (0usize, ChainCursor::new(&[])));
        &mut many[..]
    };
    for (n, k) in next.iter_mut().zip(children(msgs, f)) {
        n.1 = ChainCursor::new(k.map_or(&[], |k| &k.rsp[..]));
    }
    let mut scratch = Vec::new();
    for &c in &f.key_child {
        let kid = f.children.get(usize::from(c)).and_then(|id| msgs.get(*id));
        let (Some(kid), Some((at, cur))) = (kid, next.get_mut(usize::from(c))) else {
            continue;
        };
        if let Some(&span) = kid.rsp_meta.elems.get(*at) {
            if span.len <= COPY_MAX {
                run.extend_from_slice(cur.bytes(span, &mut scratch));
            } else {
                if !run.is_empty() {
                    out.push(run.split().freeze());
                }
                push_span(&kid.rsp, span, out);
            }
        }
        *at += 1;
    }
    if !run.is_empty() {
        out.push(run.split().freeze());
    }
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
    use crate::proto::{Limits, Progress};

    /// A child whose reply is `elems` as a RESP array, received in two
    /// chunks cut at `cut`, parsed with element spans.
    fn kid(elems: &[Vec<u8>], cut: usize) -> Msg {
        let mut reply = format!("*{}\r\n", elems.len()).into_bytes();
        for e in elems {
            reply.extend_from_slice(e);
        }
        let mut m = Msg::default();
        let mut st = redis::RspState::new(true);
        let r = redis::parse_rsp(&mut st, &reply, &Limits::default(), &mut m.rsp_meta);
        assert_eq!(r, Ok(Progress::Complete { end: reply.len() }));
        let reply = Bytes::from(reply);
        let cut = cut.min(reply.len());
        m.rsp = vec![reply.slice(..cut), reply.slice(cut..)];
        m.meta.narg = elems.len() as u32;
        m
    }

    fn bulk(n: usize, b: u8) -> Vec<u8> {
        let mut v = format!("${n}\r\n").into_bytes();
        v.extend(std::iter::repeat_n(b, n));
        v.extend_from_slice(b"\r\n");
        v
    }

    /// Small elements (copied) and large ones (sliced), nulls, elements
    /// across a chunk cut: the merged reply is the elements in key order.
    #[test]
    fn merge_elems_in_key_order() {
        let a = [bulk(1, b'a'), bulk(300, b'b'), b"$-1\r\n".to_vec()];
        let b = [bulk(129, b'c'), bulk(128, b'd')];
        let key_child = [0u16, 1, 0, 1, 0];
        let want_order = [&a[0], &b[0], &a[1], &b[1], &a[2]];
        let mut want = b"*5\r\n".to_vec();
        for e in want_order {
            want.extend_from_slice(e);
        }
        let mut chunk = OutChunk::default(); // shared by every cut, as in the loop
        for cut in [0, 1, 4, 6, 7, 100, 311, 320, 1000] {
            let mut msgs = MsgArena::default();
            let mut f = Frag::default();
            for k in [kid(&a, cut), kid(&b, cut)] {
                let id = msgs.alloc(crate::msg::Owner::Child(MsgId::default()));
                let m = msgs.get_mut(id).expect("just allocated");
                (m.rsp, m.rsp_meta, m.meta.narg) = (k.rsp, k.rsp_meta, k.meta.narg);
                f.children.push(id);
            }
            f.key_child = key_child.to_vec();
            let mut out = Vec::new();
            merge_elems(&msgs, &f, 5, &mut out, &mut chunk);
            let got: Vec<u8> = out.iter().flat_map(|b| b.iter().copied()).collect();
            assert_eq!(got, want, "cut {cut}");
            // the two large elements are slices between copied runs
            assert!(out.len() >= 3, "cut {cut}: {} pieces", out.len());
        }
    }

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
