//! Replies the proxy writes itself (twemproxy: `redis_reply()`,
//! `redis_handle_auth_req()` and the error paths of nc_request.c), §ERR.1.
//!
//! Fixed replies are `pub const` bytes; the builders append to `out`. Text
//! taken from the client (a command name) is sanitised: CR and LF become
//! spaces and it is cut to `NAME_SHOWN` bytes, as redis does, so a reply is
//! always exactly one line.

use super::fragment::push_bulk;
use crate::proto::Reject;

pub const PONG: &[u8] = b"+PONG\r\n";
pub const OK: &[u8] = b"+OK\r\n";
pub const NOAUTH: &[u8] = b"-NOAUTH Authentication required\r\n";
pub const INVALID_PASSWORD: &[u8] = b"-ERR invalid password\r\n";
pub const NO_PASSWORD: &[u8] = b"-ERR Client sent AUTH, but no password is set\r\n";
/// Backend protocol error, failure reply, stray reply, fragment mismatch (§ERR.2).
pub const ERR_INVALID_ARGUMENT: &[u8] = b"-ERR Invalid argument\r\n";
/// A request forwarded whole whose keys live on several servers (SINTER a
/// b, RENAME a b, ...): the error code Redis Cluster uses for keys in
/// different slots, so clients that know it recognise it. Also a command
/// of a transaction (or WATCH) on another server than the transaction's.
pub const CROSS_SERVER: &[u8] = b"-CROSSSLOT Keys in request don't hash to the same server\r\n";
/// A backend EOF (error number 0, §ERR.2).
pub const ERR_UNKNOWN: &[u8] = b"-ERR unknown\r\n";

/// Bytes of client-supplied text echoed in a reply.
pub const NAME_SHOWN: usize = 128;

/// Appends `text` with CR/LF replaced by spaces, at most `NAME_SHOWN` bytes.
fn push_sanitised(text: &[u8], lower: bool, out: &mut Vec<u8>) {
    let shown = &text[..text.len().min(NAME_SHOWN)];
    out.extend(shown.iter().map(|&b| match b {
        b'\r' | b'\n' => b' ',
        b if lower => b.to_ascii_lowercase(),
        b => b,
    }));
}

/// `-ERR unsupported command '<name>'\r\n` (name as the client wrote it).
pub fn err_unsupported(name: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"-ERR unsupported command '");
    push_sanitised(name, false, out);
    out.extend_from_slice(b"'\r\n");
}

/// `-ERR wrong number of arguments for '<name>' command\r\n`, name in lower
/// case as redis writes it.
pub fn err_arity(name: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"-ERR wrong number of arguments for '");
    push_sanitised(name, true, out);
    out.extend_from_slice(b"' command\r\n");
}

/// `-ERR Protocol error: <reason>\r\n`, written before closing a client
/// whose framing is lost.
pub fn err_protocol(reason: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"-ERR Protocol error: ");
    push_sanitised(reason.as_bytes(), false, out);
    out.extend_from_slice(b"\r\n");
}

/// `-ERR <text>\r\n`: a synthesised error, `text` from strerror (§ERR.2).
pub fn err_errno(text: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"-ERR ");
    push_sanitised(text.as_bytes(), false, out);
    out.extend_from_slice(b"\r\n");
}

/// The reply to a rejected request; `name` is its command word.
pub fn err_reject(reject: Reject, name: &[u8], out: &mut Vec<u8>) {
    match reject {
        Reject::UnknownCommand => err_unsupported(name, out),
        Reject::WrongArity => err_arity(name, out),
        Reject::TooLarge => out.extend_from_slice(b"-ERR key too long\r\n"),
        Reject::BadKey => out.extend_from_slice(b"-ERR invalid key\r\n"),
        Reject::BadFormat => {
            out.extend_from_slice(b"-ERR quoted arguments are not supported in inline commands\r\n")
        }
        Reject::Reply(line) => out.extend_from_slice(line),
    }
}

/// The reply to `PING <msg>`: the message as a bulk string.
pub fn ping_msg(msg: &[u8], out: &mut Vec<u8>) {
    push_bulk(msg, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    type Build<'a> = &'a dyn Fn(&mut Vec<u8>);

    #[test]
    fn builders_write_exact_bytes() {
        let cases: &[(Build<'_>, &[u8])] = &[
            (
                &|o| err_unsupported(b"SeLeCT", o),
                b"-ERR unsupported command 'SeLeCT'\r\n",
            ),
            (
                &|o| err_unsupported(b"a\r\nb", o),
                b"-ERR unsupported command 'a  b'\r\n",
            ),
            (
                &|o| err_arity(b"GET", o),
                b"-ERR wrong number of arguments for 'get' command\r\n",
            ),
            (
                &|o| err_protocol("invalid bulk length", o),
                b"-ERR Protocol error: invalid bulk length\r\n",
            ),
            (
                &|o| err_errno("Connection refused", o),
                b"-ERR Connection refused\r\n",
            ),
            (
                &|o| err_reject(Reject::WrongArity, b"mset", o),
                b"-ERR wrong number of arguments for 'mset' command\r\n",
            ),
            (&|o| ping_msg(b"hi", o), b"$2\r\nhi\r\n"),
        ];
        for (build, want) in cases {
            let mut out = Vec::new();
            build(&mut out);
            assert_eq!(out, *want, "{}", String::from_utf8_lossy(want));
        }
    }

    #[test]
    fn long_names_are_cut() {
        let mut out = Vec::new();
        err_unsupported(&[b'x'; 1000], &mut out);
        assert_eq!(
            out.len(),
            b"-ERR unsupported command ''\r\n".len() + NAME_SHOWN
        );
    }
}
