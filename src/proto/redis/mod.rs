//! The redis protocol (twemproxy: proto/nc_redis.c).
//!
//! Pure functions over bytes, split by concern as nc_redis.c is not:
//! - `commands`: the command table (name, arity, keys, fragmentation);
//! - `keys`: which arguments are keys, from Redis's key specs;
//! - `parse_req`: client requests (RESP multibulk and inline commands);
//! - `parse_rsp`: backend replies (RESP2 and RESP3);
//! - `fragment`: sub-request and coalesced-reply bytes for multi-key commands;
//! - `reply`: the replies the proxy writes itself;
//! - `local`: the handshake commands answered by the proxy (HELLO, CLIENT,
//!   SELECT, ECHO, RESET) and the client's protocol version (`Resp`).
//!
//! The event loop owns the I/O; this module only reads and writes bytes.
//!
//! # What a parsed request tells the core
//! - `narg == 0`: empty request (`*0`, blank inline line): drop, no reply;
//! - `reject`: answer `reply::err_reject(reject, name bytes)`, do not forward;
//! - `keys` holds every key; `keys[0]` routes (COMMAND and LOLWUT have none:
//!   route on `placeholder`); `cmd.fragmented()` with `keys.len() >= 2`
//!   splits per server, any other request with `keys.len() >= 2` is
//!   forwarded only when all its keys live on one server; MSET's values are
//!   `vals[i]`;
//! - locally answered: PING (`vals[0]` is the optional message, answer with
//!   `reply::ping_msg`), QUIT, AUTH (`keys[0]` is the password), and the
//!   `Cmd::local` commands (`vals` are all their arguments, answer with
//!   `local::answer`).

pub mod commands;
pub mod fragment;
pub mod keys;
pub mod local;
pub mod parse_req;
pub mod parse_rsp;
pub mod reply;

pub use commands::{Cmd, NAME_MAX};
pub use keys::{key_positions, Keys};
pub use local::Resp;
pub use parse_req::{parse_req, ReqState};
pub use parse_rsp::{parse_rsp, RspState};
