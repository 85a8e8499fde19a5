//! nutcracker-rs: a fast, light-weight proxy for memcached and redis, a drop-in
//! reimplementation of twemproxy (nutcracker) 0.5.0.
//!
//! One event-loop thread owns every listener, client and server connection
//! (`core`); a stats thread aggregates counters (`stats`). Requests are parsed
//! by pure, resumable protocol parsers (`proto`), routed by the pool's hash and
//! distribution (`hashkit`), and move through twemproxy's queues:
//!
//! ```text
//!            Client+             Proxy           Server+
//!                              (nutcracker)
//!                                   .
//!       msg_recv {read event}       .       msg_recv {read event}
//!         +                         .                         +
//!         |                         .                         |
//!         \                         .                         /
//!         req_recv_next             .             rsp_recv_next
//!           +                       .                       +
//!           |                       .                       |       Rsp
//!           req_recv_done           .           rsp_recv_done      <===
//!             +                     .                     +
//!             |                     .                     |
//!    Req      \                     .                     /
//!    ===>     req_filter*           .         *rsp_filter
//!               +                   .                   +
//!               |                   .                   |
//!               \                   .                   /
//!               req_forward-//  (a) . (c)  \\-rsp_forward
//!                                   .
//!                                   .
//!       msg_send {write event}      .      msg_send {write event}
//!         +                         .                         +
//!         |                         .                         |
//!    Rsp' \                         .                         /     Req'
//!   <===  rsp_send_next             .             req_send_next     ===>
//!           +                       .                       +
//!           |                       .                       |
//!           \                       .                       /
//!           rsp_send_done-//    (d) . (b)    //-req_send_done
//! ```
//!
//! (a) a request enters the client's `omsg_q` and a server connection's
//! `imsg_q`; (b) once written it moves to the server connection's `omsg_q`;
//! (c) the response is attached to the request at the head of that `omsg_q`;
//! (d) the client writes responses strictly in its `omsg_q` order.

pub mod cli;
pub mod conf;
pub mod conn;
pub mod core;
pub mod daemon;
pub mod hashkit;
pub mod log;
pub mod loopstats;
pub mod mbuf;
pub mod msg;
pub mod pool;
pub mod proto;
pub mod signal;
pub mod sock;
pub mod stats;
#[doc(hidden)]
pub mod testing;
pub mod token;
