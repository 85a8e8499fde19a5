//! Connections (twemproxy: nc_connection.c).
//!
//! Four kinds, each in its own slab of `Core` and dispatched by `match`:
//! listeners (`listener`), clients (`client`), backend connections
//! (`server`) and Redis Sentinel connections (`sentinel`). The socket-level drain contract is in `crate::sock`.

pub mod client;
pub mod listener;
pub mod sentinel;
pub mod server;

/// Why a connection closes; drives both the stats and the eject decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    Eof,         // the peer closed its side (or the client said quit)
    Err(i32),    // socket error, refused connect, protocol error: errno
    Timeout,     // a request or connect deadline passed
    Shutdown,    // the proxy is stopping
    MasterMoved, // Sentinel moved the server to another address (not a server failure)
}

impl Close {
    /// The errno reported to requests that die with the connection
    /// (0 = backend EOF, rendered as `unknown`, §ERR.2).
    pub fn errno(self) -> i32 {
        match self {
            Close::Eof => 0,
            Close::Err(e) => e,
            Close::Timeout => libc::ETIMEDOUT,
            Close::Shutdown => libc::ESHUTDOWN,
            Close::MasterMoved => libc::ECONNRESET,
        }
    }
}
