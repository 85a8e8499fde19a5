//! nutcracker-rs: a fast, light-weight proxy for memcached and redis, a drop-in
//! reimplementation of twemproxy (nutcracker) 0.5.0.
//!
//! One event-loop thread owns every listener, client and server connection
//! (`core`), the connections that follow Redis Sentinel (`conn::sentinel`
//! over the pure session in `sentinel`), and changes shape when SIGUSR1 asks
//! for a reload (`reload`); a stats thread aggregates counters (`stats`).
//! Requests are parsed
//! by pure, resumable protocol parsers (`proto`), routed by the pool's hash and
//! distribution (`hashkit`), and move through twemproxy's queues:
//!
//! ```text
//!            Client+                Proxy                  Server+
//!                                (nutcracker)
//!                                     .
//!   client::on_readable {read event}  .  server::on_readable {read event}
//!     +                               .                               +
//!     |                               .                               |
//!     client::parse                   .                   server::parse
//!       +                             .                             +
//!       |                             .                             |   Rsp
//!       request::req_recv_done        .        response::rsp_recv_done <===
//!         +  (redis_filter,           .                           +
//!         |   memcache_filter)        .                           |
//!  Req    \                           .                           /
//!  ===>   request::req_forward        .               done::req_done
//!         request::req_fragment       .               done::child_done
//!           \                         .                       /
//!           request::req_enqueue-//(a). (c)\\-Core::want_send(client)
//!                                     .
//!   client::send {write event}        .        server::send {write event}
//!     +                               .                               +
//!     |                               .                               |
//! Rsp' \                              .                               /  Req'
//! <=== client::send_replies           .          server::req_send_done   ===>
//!        (d)                          .   (b)
//! ```
//!
//! (a) a request enters the client's `omsg_q` and a server connection's
//! `imsg_q` (`State::Queued`); (b) once written it moves to the server
//! connection's `omsg_q` (`State::Sent`); (c) the response is attached to
//! the request at the head of that `omsg_q` (`State::Done`), and
//! `msg::done` hands it to its owner; (d) the client writes responses
//! strictly in its `omsg_q` order. `Core::step` runs the loop that
//! dispatches the read and write events.

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
pub mod reload;
pub mod sentinel;
pub mod signal;
pub mod sock;
pub mod stats;
#[doc(hidden)]
pub mod testing;
pub mod token;

#[cfg(test)]
mod tests {
    /// Every `module::function` the flow diagram above names exists.
    #[test]
    fn diagram_names_real_functions() {
        let srcs = [
            ("client", include_str!("conn/client.rs")),
            ("server", include_str!("conn/server.rs")),
            ("request", include_str!("msg/request.rs")),
            ("response", include_str!("msg/response.rs")),
            ("done", include_str!("msg/done.rs")),
            ("Core", include_str!("core.rs")),
        ];
        let lib = include_str!("lib.rs");
        let diagram = lib
            .split("```text")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap();
        let mut named = 0;
        for word in diagram.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
            let Some((module, f)) = word.split_once("::") else {
                continue;
            };
            let src = srcs.iter().find(|s| s.0 == module).map(|s| s.1);
            let src = src.unwrap_or_else(|| panic!("unknown module in {word}"));
            assert!(src.contains(&format!("fn {f}(")), "{word} does not exist");
            named += 1;
        }
        assert!(named >= 15, "{named}");
    }
}
