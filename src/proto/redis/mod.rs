//! (stub: the redis protocol is being written)

/// A redis command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cmd {
    #[default]
    Unknown,
}
