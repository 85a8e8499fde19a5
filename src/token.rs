//! Ids and the mio `Token` codec (twemproxy: the `struct conn *` in epoll data).
//!
//! Slab keys are reused, so every id carries the generation of the entry it
//! named; a lookup with a stale generation finds nothing. Only this file
//! knows the token layout: `kind:2 | gen:30 | idx:32`; kind 0 with a nonzero
//! generation is a sentinel connection (a generation is never 0, so
//! `Token(0)` stays unused).

use mio::Token;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            pub idx: u32, // slab key
            pub gen: u32, // generation of the entry (30 bits used)
        }
    };
}

id_type!(
    /// A pool listener.
    ListenerId
);
id_type!(
    /// A client connection.
    ClientId
);
id_type!(
    /// A backend (server) connection.
    ServerConnId
);
id_type!(
    /// A connection to a Redis Sentinel.
    SentinelConnId
);
id_type!(
    /// A message (request) in the arena.
    MsgId
);

/// Which connection an event is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnRef {
    Listener(ListenerId),
    Client(ClientId),
    Server(ServerConnId),
    Sentinel(SentinelConnId),
}

const GEN_MASK: u32 = (1 << 30) - 1;

/// Next generation value (30 bits, never 0 so a default id is always stale).
pub fn next_gen(g: &mut u32) -> u32 {
    *g = (*g + 1) & GEN_MASK;
    if *g == 0 {
        *g = 1;
    }
    *g
}

pub fn encode(c: ConnRef) -> Token {
    let (kind, idx, gen) = match c {
        ConnRef::Listener(i) => (1u64, i.idx, i.gen),
        ConnRef::Client(i) => (2, i.idx, i.gen),
        ConnRef::Server(i) => (3, i.idx, i.gen),
        ConnRef::Sentinel(i) => (0, i.idx, i.gen),
    };
    Token(((kind << 62) | (u64::from(gen & GEN_MASK) << 32) | u64::from(idx)) as usize)
}

/// None for a token no connection kind uses.
pub fn decode(t: Token) -> Option<ConnRef> {
    let v = t.0 as u64;
    let idx = v as u32;
    let gen = ((v >> 32) as u32) & GEN_MASK;
    match v >> 62 {
        1 => Some(ConnRef::Listener(ListenerId { idx, gen })),
        2 => Some(ConnRef::Client(ClientId { idx, gen })),
        3 => Some(ConnRef::Server(ServerConnId { idx, gen })),
        0 if gen != 0 => Some(ConnRef::Sentinel(SentinelConnId { idx, gen })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        for c in [
            ConnRef::Listener(ListenerId { idx: 0, gen: 1 }),
            ConnRef::Client(ClientId {
                idx: u32::MAX,
                gen: GEN_MASK,
            }),
            ConnRef::Server(ServerConnId { idx: 7, gen: 12345 }),
            ConnRef::Sentinel(SentinelConnId { idx: 0, gen: 1 }),
            ConnRef::Sentinel(SentinelConnId {
                idx: u32::MAX,
                gen: GEN_MASK,
            }),
        ] {
            assert_eq!(decode(encode(c)), Some(c));
        }
        assert_eq!(decode(Token(0)), None);
    }

    #[test]
    fn gen_wraps_and_skips_zero() {
        let mut g = GEN_MASK - 1;
        assert_eq!(next_gen(&mut g), GEN_MASK);
        assert_eq!(next_gen(&mut g), 1);
    }
}
