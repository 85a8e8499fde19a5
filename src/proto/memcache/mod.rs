//! The memcache ASCII protocol (twemproxy: proto/nc_memcache.c).
//!
//! Pure functions over bytes, no I/O: the command table (`commands`), the
//! resumable request and response parsers (`parse_req`, `parse_rsp`), the
//! multi-get sub-request writer (`fragment`), the meta protocol's `b` and
//! `q` flags (`meta`) and the replies the proxy synthesises (`reply`). The
//! parsers follow the contract of `proto`.

pub mod commands;
pub mod fragment;
pub mod meta;
pub mod parse_req;
pub mod parse_rsp;
pub mod reply;

pub use commands::{Cmd, KeyClass, Syntax};
pub use parse_req::{parse_req, ReqState, MAX_KEY};
pub use parse_rsp::{parse_rsp, RspState};

use crate::proto::ParseError;

#[cfg(test)]
mod testutil;

/// `pos + n` as a message offset; a message cannot outgrow `u32` (`what`
/// names it in the error).
fn bump(pos: u32, n: usize, what: &'static str) -> Result<u32, ParseError> {
    u32::try_from(n)
        .ok()
        .and_then(|n| pos.checked_add(n))
        .ok_or(ParseError::TooLarge {
            what,
            max: u32::MAX,
        })
}

/// Skips what `avail` bytes hold of a data block with `rest` bytes still to
/// come; returns the bytes skipped.
fn skip_data(rest: &mut u32, avail: usize) -> usize {
    let n = avail.min(*rest as usize);
    *rest -= n as u32; // n <= rest
    n
}
