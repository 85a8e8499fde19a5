//! Replies the proxy writes to memcache clients itself (twemproxy:
//! `memcache_add_error`-style synthesised replies; §ERR.2, and the
//! rejections that replace 0.5.0's closes, issue 6).
//!
//! Rejected requests get what memcached 1.6.18 answers to the same line:
//! `ERROR` when it does not know the command or its token count, and
//! `CLIENT_ERROR bad command line format` for a bad key or field.

use crate::proto::Reject;

/// memcached's reply to an unknown command.
pub const ERROR: &[u8] = b"ERROR\r\n";

const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad command line format\r\n";
const TOO_LARGE: &[u8] = b"CLIENT_ERROR request too large\r\n";

/// Appends `SERVER_ERROR <text>\r\n` (§ERR.2: `<text>` is strerror or `unknown`).
pub fn server_error(text: &str, out: &mut Vec<u8>) {
    line(b"SERVER_ERROR ", text, out);
}

/// Appends `CLIENT_ERROR <text>\r\n` (before closing on a framing error:
/// `text` is `ParseError::reason()`).
pub fn client_error(text: &str, out: &mut Vec<u8>) {
    line(b"CLIENT_ERROR ", text, out);
}

fn line(head: &[u8], text: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(head);
    // a CR or LF in the text would end the line early
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// The reply to a request the parser rejected.
pub fn reject_reply(r: Reject) -> &'static [u8] {
    match r {
        Reject::UnknownCommand | Reject::WrongArity => ERROR,
        Reject::BadKey | Reject::BadFormat => BAD_FORMAT,
        Reject::TooLarge => TOO_LARGE,
        Reject::Reply(line) => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines() {
        let mut out = Vec::new();
        server_error("Connection refused", &mut out);
        client_error("line longer than 10 bytes", &mut out);
        server_error("a\r\nb", &mut out);
        assert_eq!(
            out,
            b"SERVER_ERROR Connection refused\r\nCLIENT_ERROR line longer than 10 bytes\r\nSERVER_ERROR a  b\r\n"
        );
    }

    #[test]
    fn rejections_answer_like_memcached() {
        assert_eq!(reject_reply(Reject::UnknownCommand), b"ERROR\r\n");
        assert_eq!(reject_reply(Reject::WrongArity), b"ERROR\r\n");
        assert_eq!(
            reject_reply(Reject::BadKey),
            b"CLIENT_ERROR bad command line format\r\n"
        );
        assert_eq!(
            reject_reply(Reject::BadFormat),
            b"CLIENT_ERROR bad command line format\r\n"
        );
        assert_eq!(
            reject_reply(Reject::TooLarge),
            b"CLIENT_ERROR request too large\r\n"
        );
    }
}
