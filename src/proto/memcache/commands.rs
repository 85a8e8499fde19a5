//! The memcache command table (twemproxy: the `MSG_REQ_MC_*` types of
//! nc_message.h and the word switch of `memcache_parse_req`).
//!
//! One row per command, written once in `memcache_commands!`: the enum, the
//! wire names and every property are generated from it. Beyond 0.5.0 the
//! table also holds get-and-touch (gat, gats) and the meta commands of
//! memcached 1.6 (mg, ms, md, ma, mn, me; issue 16).
//!
//! # Invariants
//! - wire names are lowercase ASCII, at most `MAX_WORD` bytes, and unique;
//! - `lookup(c.name().as_bytes()) == Some(c)` for every command.

/// Longest command word (`prepend`, `replace`, `version`).
pub const MAX_WORD: usize = 7;

/// The shape of a request line after its command word (§MEMCACHE.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// `<key>+` (get, gets)
    Retrieval,
    /// `<exptime> <key>+` (gat, gats)
    Gat,
    /// `<key> <flags> <exptime> <bytes> [noreply]` then a data block
    Storage,
    /// `<key> <flags> <exptime> <bytes> <cas> [noreply]` then a data block
    Cas,
    /// `<key> <value> [noreply]`, value may carry a `-` (incr, decr)
    Arith,
    /// `<key> <exptime> [noreply]`, exptime may carry a `-`
    Touch,
    /// `<key> [noreply]`
    Delete,
    /// nothing (version, quit)
    Bare,
    /// `<key> <flag>*` (mg, md, ma)
    Meta,
    /// `<key> <datalen> <flag>*` then a data block (ms)
    MetaSet,
    /// `<key> [b]` (me)
    MetaDebug,
    /// anything, ignored (mn)
    MetaNoop,
}

/// How a command names its routing key (column `key_class` of
/// memcache-commands.tsv).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyClass {
    /// one or more keys; fragmented per server when ≥ 2
    Multi,
    /// exactly one key
    One,
    /// routed by the literal key `placeholder` (version)
    Placeholder,
    /// never routed (quit)
    None,
}

macro_rules! memcache_commands {
    ($( $wire:literal => $variant:ident, $syntax:ident, $class:ident; )+) => {
        /// A memcache command (one row of the table).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Cmd {
            $( $variant, )+
        }

        impl Cmd {
            /// Every command, in table order.
            pub const ALL: &'static [Cmd] = &[$( Cmd::$variant, )+];

            /// The command for a wire word (case-sensitive, §MEMCACHE.1).
            pub fn lookup(word: &[u8]) -> Option<Cmd> {
                $( if word == $wire.as_bytes() {
                    return Some(Cmd::$variant);
                } )+
                None
            }

            /// The wire word.
            pub fn name(self) -> &'static str {
                match self {
                    $( Cmd::$variant => $wire, )+
                }
            }

            /// The grammar of the rest of the request line.
            pub fn syntax(self) -> Syntax {
                match self {
                    $( Cmd::$variant => Syntax::$syntax, )+
                }
            }

            /// How the request is routed.
            pub fn key_class(self) -> KeyClass {
                match self {
                    $( Cmd::$variant => KeyClass::$class, )+
                }
            }
        }
    };
}

memcache_commands! {
//  wire         variant   syntax      key class
    "get"     => Get,      Retrieval,  Multi;
    "gets"    => Gets,     Retrieval,  Multi;
    "set"     => Set,      Storage,    One;
    "add"     => Add,      Storage,    One;
    "replace" => Replace,  Storage,    One;
    "append"  => Append,   Storage,    One;
    "prepend" => Prepend,  Storage,    One;
    "cas"     => Cas,      Cas,        One;
    "incr"    => Incr,     Arith,      One;
    "decr"    => Decr,     Arith,      One;
    "touch"   => Touch,    Touch,      One;
    "delete"  => Delete,   Delete,     One;
    "version" => Version,  Bare,       Placeholder;
    "quit"    => Quit,     Bare,       None;
    "gat"     => Gat,      Gat,        Multi;
    "gats"    => Gats,     Gat,        Multi;
    "mg"      => Mg,       Meta,       One;
    "ms"      => Ms,       MetaSet,    One;
    "md"      => Md,       Meta,       One;
    "ma"      => Ma,       Meta,       One;
    "mn"      => Mn,       MetaNoop,   None;
    "me"      => Me,       MetaDebug,  One;
}

/// Commands the 0.5.0 table (memcache-commands.tsv) lists as unsupported.
pub const BEYOND_050: &[Cmd] = &[
    Cmd::Gat,
    Cmd::Gats,
    Cmd::Mg,
    Cmd::Ms,
    Cmd::Md,
    Cmd::Ma,
    Cmd::Mn,
    Cmd::Me,
];

impl Cmd {
    /// A request followed by a data block (set, add, replace, append,
    /// prepend, cas).
    pub fn is_storage(self) -> bool {
        matches!(self.syntax(), Syntax::Storage | Syntax::Cas)
    }

    /// get, gets, gat or gats: replies are VALUE blocks then END, and the
    /// line may be as long as `max_request_bytes` (issue 17.1).
    pub fn is_retrieval(self) -> bool {
        matches!(self.syntax(), Syntax::Retrieval | Syntax::Gat)
    }

    /// A meta command (mg, ms, md, ma, mn, me).
    pub fn is_meta(self) -> bool {
        matches!(
            self.syntax(),
            Syntax::Meta | Syntax::MetaSet | Syntax::MetaDebug | Syntax::MetaNoop
        )
    }

    /// Split per server when it names ≥ 2 keys (§MEMCACHE.5).
    pub fn fragmented(self) -> bool {
        self.key_class() == KeyClass::Multi
    }

    /// Takes an optional trailing `noreply` (§MEMCACHE.3).
    pub fn allows_noreply(self) -> bool {
        !self.is_retrieval() && !self.is_meta() && self.syntax() != Syntax::Bare
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &c in Cmd::ALL {
            assert_eq!(Cmd::lookup(c.name().as_bytes()), Some(c));
            assert!(c.name().len() <= MAX_WORD);
            assert!(c.name().bytes().all(|b| b.is_ascii_lowercase()));
        }
        assert_eq!(Cmd::lookup(b"GET"), None);
        assert_eq!(Cmd::lookup(b"gat"), Some(Cmd::Gat));
        assert_eq!(Cmd::lookup(b"MG"), None);
        assert_eq!(Cmd::lookup(b"mx"), None);
        assert_eq!(Cmd::lookup(b""), None);
    }

    #[test]
    fn table_matches_spec_tsv() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/spec/memcache-commands.tsv"
        );
        let Ok(tsv) = std::fs::read_to_string(path) else {
            eprintln!("skipped: {path} not found");
            return;
        };
        let mut seen = Vec::new();
        for line in tsv.lines().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            let (name, supported, class, frag) = (f[0], f[1], f[2], f[3]);
            let cmd = Cmd::lookup(name.as_bytes());
            if supported != "yes" {
                match cmd {
                    Some(c) => assert!(BEYOND_050.contains(&c), "{name} must not be recognised"),
                    None => continue,
                }
                seen.push(cmd.unwrap_or(Cmd::Get));
                continue;
            }
            let cmd = cmd.unwrap_or_else(|| panic!("{name} missing from the table"));
            let want = match class {
                "multikey" => KeyClass::Multi,
                "key" => KeyClass::One,
                "placeholder" => KeyClass::Placeholder,
                "none" => KeyClass::None,
                other => panic!("unknown key class {other}"),
            };
            assert_eq!(cmd.key_class(), want, "{name}");
            assert_eq!(cmd.fragmented(), frag == "yes", "{name}");
            let storage = f[4].contains("<data>") || f[4].contains("storage syntax");
            assert_eq!(cmd.is_storage(), storage, "{name}");
            seen.push(cmd);
        }
        assert_eq!(
            seen,
            Cmd::ALL,
            "table and tsv list the same commands, same order"
        );
    }
}
