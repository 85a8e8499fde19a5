//! The memcache ASCII protocol (twemproxy: proto/nc_memcache.c).
//!
//! Pure functions over bytes, no I/O: the command table (`commands`), the
//! resumable request and response parsers (`parse_req`, `parse_rsp`), the
//! multi-get sub-request writer (`fragment`) and the replies the proxy
//! synthesises (`reply`). The parsers follow the contract of `proto`.

pub mod commands;
pub mod fragment;
pub mod parse_req;
pub mod parse_rsp;
pub mod reply;

pub use commands::{Cmd, KeyClass, Syntax};
pub use parse_req::{parse_req, ReqState, MAX_KEY};
pub use parse_rsp::{parse_rsp, RspState};

#[cfg(test)]
mod testutil;
