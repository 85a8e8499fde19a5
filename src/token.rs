//! Ids and the mio `Token` codec (twemproxy: the `struct conn *` in epoll data).
//!
//! Slab keys are reused, so every id carries the generation of the entry it
//! named; a lookup with a stale generation finds nothing. Only this file
//! knows the token layout: `kind:4 | gen:28 | idx:32`. Kinds 1–4 are the
//! listener, client, server and Sentinel connections; 0 and 5–15 are free
//! for more connection kinds (dedicated connections), and `decode` turns
//! them away until a kind is added to `ConnRef`.
//!
//! Pools and servers have ids too (`PoolId`, `ServerId`), kept in
//! generation-checked [`Slots`]: adding or removing one never shifts
//! another's id, so connections and messages may hold them across a reload.

use mio::Token;
use slab::Slab;

/// What every id type is: a slab key plus the generation of its entry
/// (the default id, generation 0, names nothing).
pub trait Id: Copy + std::fmt::Debug {
    fn new(idx: u32, gen: u32) -> Self;
    fn idx(self) -> u32;
    fn gen(self) -> u32;
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            pub idx: u32, // slab key
            pub gen: u32, // generation of the entry (28 bits used)
        }

        impl Id for $name {
            fn new(idx: u32, gen: u32) -> Self {
                $name { idx, gen }
            }
            fn idx(self) -> u32 {
                self.idx
            }
            fn gen(self) -> u32 {
                self.gen
            }
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
id_type!(
    /// A server pool: stable while the pool exists, whatever is added or
    /// removed around it.
    PoolId
);
id_type!(
    /// A server of a pool: stable while the server is in its pool.
    ServerId
);

/// Which connection an event is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnRef {
    Listener(ListenerId),
    Client(ClientId),
    Server(ServerConnId),
    Sentinel(SentinelConnId),
}

const KIND_SHIFT: u32 = 60;
const GEN_BITS: u32 = 28;
const GEN_MASK: u32 = (1 << GEN_BITS) - 1;
const KIND_LISTENER: u64 = 1;
const KIND_CLIENT: u64 = 2;
const KIND_SERVER: u64 = 3;
const KIND_SENTINEL: u64 = 4;

/// Next generation value (28 bits, never 0 so a default id is always stale).
pub fn next_gen(g: &mut u32) -> u32 {
    *g = (*g + 1) & GEN_MASK;
    if *g == 0 {
        *g = 1;
    }
    *g
}

fn pack(kind: u64, idx: u32, gen: u32) -> Token {
    Token(((kind << KIND_SHIFT) | (u64::from(gen & GEN_MASK) << 32) | u64::from(idx)) as usize)
}

pub fn encode(c: ConnRef) -> Token {
    match c {
        ConnRef::Listener(i) => pack(KIND_LISTENER, i.idx, i.gen),
        ConnRef::Client(i) => pack(KIND_CLIENT, i.idx, i.gen),
        ConnRef::Server(i) => pack(KIND_SERVER, i.idx, i.gen),
        ConnRef::Sentinel(i) => pack(KIND_SENTINEL, i.idx, i.gen),
    }
}

/// None for a token no connection kind uses.
pub fn decode(t: Token) -> Option<ConnRef> {
    let v = t.0 as u64;
    let idx = v as u32;
    let gen = ((v >> 32) as u32) & GEN_MASK;
    match v >> KIND_SHIFT {
        KIND_LISTENER => Some(ConnRef::Listener(ListenerId { idx, gen })),
        KIND_CLIENT => Some(ConnRef::Client(ClientId { idx, gen })),
        KIND_SERVER => Some(ConnRef::Server(ServerConnId { idx, gen })),
        KIND_SENTINEL => Some(ConnRef::Sentinel(SentinelConnId { idx, gen })),
        _ => None,
    }
}

/// A slab whose entries are named by generation-checked ids `I`: a
/// removed entry's id finds nothing, even once its slot is reused.
#[derive(Debug)]
pub struct Slots<I, T> {
    slab: Slab<(u32, T)>, // (generation, entry)
    gen: u32,             // generation counter
    _id: std::marker::PhantomData<I>,
}

impl<I: Id, T> Default for Slots<I, T> {
    fn default() -> Self {
        Slots {
            slab: Slab::new(),
            gen: 0,
            _id: std::marker::PhantomData,
        }
    }
}

impl<I: Id, T> Slots<I, T> {
    /// Adds an entry built from its own id.
    pub fn insert_with(&mut self, f: impl FnOnce(I) -> T) -> I {
        let gen = next_gen(&mut self.gen);
        let entry = self.slab.vacant_entry();
        let id = I::new(entry.key() as u32, gen);
        entry.insert((gen, f(id)));
        id
    }

    pub fn insert(&mut self, t: T) -> I {
        self.insert_with(|_| t)
    }

    pub fn get(&self, id: I) -> Option<&T> {
        match self.slab.get(id.idx() as usize) {
            Some((g, t)) if *g == id.gen() => Some(t),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, id: I) -> Option<&mut T> {
        match self.slab.get_mut(id.idx() as usize) {
            Some((g, t)) if *g == id.gen() => Some(t),
            _ => None,
        }
    }

    pub fn contains(&self, id: I) -> bool {
        self.get(id).is_some()
    }

    /// Removes the entry; None for a stale id.
    pub fn remove(&mut self, id: I) -> Option<T> {
        self.get(id)?;
        Some(self.slab.remove(id.idx() as usize).1)
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Every entry with its id, in slot order (not an output order).
    pub fn iter(&self) -> impl Iterator<Item = (I, &T)> {
        self.slab
            .iter()
            .map(|(k, (g, t))| (I::new(k as u32, *g), t))
    }

    pub fn ids(&self) -> impl Iterator<Item = I> + '_ {
        self.iter().map(|(id, _)| id)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slab.iter_mut().map(|(_, (_, t))| t)
    }
}

/// Indexing is for ids the caller knows to be live (held by a live
/// connection or message of the entry: removing a pool or server closes
/// those first). A stale id is a bug; `get` is the checked lookup.
impl<I: Id, T> std::ops::Index<I> for Slots<I, T> {
    type Output = T;
    fn index(&self, id: I) -> &T {
        let (g, t) = &self.slab[id.idx() as usize];
        debug_assert_eq!(*g, id.gen(), "stale {id:?}");
        t
    }
}

impl<I: Id, T> std::ops::IndexMut<I> for Slots<I, T> {
    fn index_mut(&mut self, id: I) -> &mut T {
        let (g, t) = &mut self.slab[id.idx() as usize];
        debug_assert_eq!(*g, id.gen(), "stale {id:?}");
        t
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
            ConnRef::Sentinel(SentinelConnId {
                idx: u32::MAX,
                gen: GEN_MASK,
            }),
        ] {
            assert_eq!(decode(encode(c)), Some(c));
        }
        assert_eq!(decode(Token(0)), None);
    }

    /// Kinds 0 and 5..=15 are free: no token of theirs decodes, and no
    /// generation or index bit of a used kind reaches the kind field.
    #[test]
    fn free_kinds_decode_to_nothing() {
        for kind in (0..16u64).filter(|k| !(1..=4).contains(k)) {
            let t = pack(kind, u32::MAX, GEN_MASK);
            assert_eq!(decode(t), None, "kind {kind}");
            assert_eq!(t.0 as u64 >> KIND_SHIFT, kind);
        }
        let t = encode(ConnRef::Client(ClientId {
            idx: u32::MAX,
            gen: u32::MAX,
        }));
        assert_eq!(t.0 as u64 >> KIND_SHIFT, KIND_CLIENT);
        assert_eq!(
            decode(t),
            Some(ConnRef::Client(ClientId {
                idx: u32::MAX,
                gen: GEN_MASK
            }))
        );
    }

    #[test]
    fn gen_wraps_and_skips_zero() {
        let mut g = GEN_MASK - 1;
        assert_eq!(next_gen(&mut g), GEN_MASK);
        assert_eq!(next_gen(&mut g), 1);
    }

    #[test]
    fn slots_ids_are_stable_and_checked() {
        let mut s: Slots<PoolId, &str> = Slots::default();
        let a = s.insert("a");
        let b = s.insert("b");
        let c = s.insert("c");
        assert_eq!(s.remove(b), Some("b"));
        assert_eq!((s[a], s[c]), ("a", "c"), "others keep their ids");
        let d = s.insert("d");
        assert_eq!(d.idx, b.idx, "slot reused");
        assert_ne!(d, b);
        assert_eq!(s.get(b), None, "stale id finds nothing");
        assert_eq!(s.remove(b), None);
        assert_eq!(s.get(d), Some(&"d"));
        assert_eq!(s.len(), 3);
        let e = s.insert_with(|id| if id.idx == 3 { "e" } else { "?" });
        assert_eq!(s[e], "e");
    }
}
