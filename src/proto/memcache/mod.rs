//! (stub: the memcache protocol is being written)

/// A memcache command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cmd {
    #[default]
    Unknown,
}
