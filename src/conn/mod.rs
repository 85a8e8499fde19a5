//! Connections (twemproxy: nc_connection.c).
//!
//! Three kinds, each in its own slab of `Core` and dispatched by `match`:
//! listeners (`listener`), clients (`client`) and backend connections
//! (`server`). The socket-level drain contract is in `crate::sock`.
//! A backend connection is shared by the clients of a lane, or held by one
//! client (`dedicated`: transactions and blocking commands; `pubsub`).

pub mod client;
pub mod dedicated;
pub mod listener;
pub mod pubsub;
pub mod sentinel;
pub mod server;

/// An errno from a socket call (connect, read, write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub fn of(e: &std::io::Error) -> Errno {
        Errno(crate::sock::errno_of(e))
    }
}

/// Why a connection closes; drives the stats, the eject decision
/// (`server_failure`) and the error its requests complete with (`errno`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    Eof,          // the peer closed its side (or the client said quit)
    Io(Errno),    // socket error or refused connect
    Protocol,     // client: request framing lost
    BadReply,     // server: unparsable, stray or failure reply; failed probe
    Timeout,      // a request or connect deadline passed
    PendingLimit, // client: unread replies over client_max_pending_bytes
    Reconfigured, // a reload removed or changed its pool or server
    MasterMoved,  // Sentinel: the server is no longer the master
    Shutdown,     // the proxy is stopping
    Released,     // server: a dedicated connection its client no longer holds
}

impl Close {
    /// The errno reported to requests that die with the connection
    /// (0 = backend EOF, rendered as `unknown`, §ERR.2).
    pub fn errno(self) -> i32 {
        match self {
            Close::Eof => 0,
            Close::Io(e) => e.0,
            Close::Protocol => libc::EPROTO,
            Close::BadReply => libc::EINVAL,
            Close::Timeout => libc::ETIMEDOUT,
            Close::PendingLimit => libc::ENOBUFS,
            Close::Reconfigured => libc::ECONNABORTED,
            Close::MasterMoved => libc::ECONNRESET,
            Close::Shutdown => libc::ESHUTDOWN,
            Close::Released => libc::ECONNABORTED,
        }
    }

    /// Whether closing a server connection for this counts as a failure of
    /// its server (§FAIL.1): the one place that decides it. A close the
    /// proxy chose (shutdown, reconfiguration, failover) never does.
    pub fn server_failure(self) -> bool {
        match self {
            Close::Eof | Close::Io(_) | Close::BadReply | Close::Timeout => true,
            Close::Protocol | Close::PendingLimit => true,
            Close::Reconfigured | Close::MasterMoved | Close::Shutdown => false,
            Close::Released => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_errnos_and_failures() {
        assert_eq!(Close::Eof.errno(), 0);
        assert_eq!(
            Close::Io(Errno(libc::ECONNREFUSED)).errno(),
            libc::ECONNREFUSED
        );
        assert_eq!(Close::BadReply.errno(), libc::EINVAL);
        assert_eq!(Close::Timeout.errno(), libc::ETIMEDOUT);
        assert!(Close::Timeout.server_failure() && Close::Eof.server_failure());
        for c in [
            Close::Shutdown,
            Close::Reconfigured,
            Close::MasterMoved,
            Close::Released,
        ] {
            assert!(!c.server_failure(), "{c:?}");
        }
    }
}
