//! The connection handshake commands the proxy answers itself (issue 14.3):
//! AUTH, HELLO, CLIENT ID / GETNAME / SETNAME / SETINFO, SELECT, ECHO and
//! RESET, with the bytes redis-server 7 sends, in the client's protocol
//! (twemproxy 0.5.0 refuses them all but one-argument AUTH, and closes the
//! connection on HELLO and on `AUTH user pass`).
//!
//! `answer` is a pure function: the request's arguments and the
//! connection's `Session` in, the reply bytes and the new `Session` out.
//! The core copies the session back to the client connection; nothing here
//! touches a socket. These commands are rare (once per connection), so the
//! arguments arrive as owned slices and replies are built in a `Vec`.
//!
//! # Differences from redis-server (documented in the man page)
//! - HELLO reports `server: redis`, `version: REDIS_VERSION`, the proxy's
//!   own connection id, `mode: standalone`, `role: master`, no modules;
//! - `AUTH user pass` and HELLO's AUTH check the pool's `redis_auth`
//!   password for the user `default` (the only user a password-only redis
//!   has; the proxy has no ACL users, any other name gets WRONGPASS);
//!   without `redis_auth` any password of `default` is accepted, as redis
//!   does (`default_user`);
//! - `AUTH password` keeps 0.5.0's replies (`-ERR invalid password`, and
//!   `-ERR Client sent AUTH, but no password is set` without `redis_auth`);
//! - a refused AUTH, of either form, de-authenticates the connection, as
//!   0.5.0's did (redis keeps the earlier login); a refused HELLO AUTH
//!   changes nothing, as in redis;
//! - SELECT accepts only the pool's `redis_db` (the proxy's backend
//!   connections are all on that db);
//! - CLIENT answers ID, GETNAME, SETNAME and SETINFO (redis 7.2's), and
//!   refuses every other subcommand with an error naming them.

use super::commands::Cmd;
use super::fragment::{integer_reply, push_bulk, push_i64};
use super::reply::{push_sanitised, INVALID_PASSWORD, NO_PASSWORD};

/// The protocol version of a client connection (HELLO 2 / HELLO 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Resp {
    #[default]
    Resp2,
    Resp3,
}

/// The redis version HELLO reports: the command set the proxy speaks.
pub const REDIS_VERSION: &str = "7.2.0";

/// What the local commands read and change on a client connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    pub resp: Resp,              // protocol of the replies
    pub name: Option<Box<[u8]>>, // CLIENT SETNAME / HELLO SETNAME
    pub authed: Option<u32>,     // the pool's auth epoch at its last good AUTH
}

/// The pool and connection facts the answers depend on.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    pub id: u64,                   // the client connection's id (CLIENT ID)
    pub db: u32,                   // the pool's redis_db
    pub password: Option<&'a str>, // the pool's redis_auth
    pub epoch: u32,                // the pool's auth epoch (a reload that changes
                                   // redis_auth starts a new one)
}

impl Ctx<'_> {
    /// Whether a session may run commands: no password, or AUTH passed
    /// under the current one.
    pub fn authed(&self, s: &Session) -> bool {
        self.password.is_none() || s.authed == Some(self.epoch)
    }
}

const NOPROTO: &[u8] = b"-NOPROTO unsupported protocol version\r\n";
const BAD_PROTOVER: &[u8] = b"-ERR Protocol version is not an integer or out of range\r\n";
const HELLO_NOAUTH: &[u8] = b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n";
const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const SYNTAX_ERROR: &[u8] = b"-ERR syntax error\r\n";
const BAD_NAME: &[u8] =
    b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n";
const NOT_INTEGER: &[u8] = b"-ERR value is not an integer or out of range\r\n";
const DB_RANGE: &[u8] = b"-ERR DB index is out of range\r\n";
const OK: &[u8] = b"+OK\r\n";
const RESET: &[u8] = b"+RESET\r\n";

/// Appends the reply to local command `cmd` with arguments `args` (the
/// command name excluded; the arity is already checked) and updates `s`.
pub fn answer(cmd: Cmd, args: &[&[u8]], ctx: &Ctx<'_>, s: &mut Session, out: &mut Vec<u8>) {
    match cmd {
        Cmd::Auth => auth(args, ctx, s, out),
        Cmd::Hello => hello(args, ctx, s, out),
        Cmd::Client => client(args, ctx, s, out),
        Cmd::Select => select(args.first().copied().unwrap_or(b""), ctx, out),
        Cmd::Echo => push_bulk(args.first().copied().unwrap_or(b""), out),
        Cmd::Reset => {
            *s = Session::default();
            out.extend_from_slice(RESET);
        }
        _ => out.extend_from_slice(b"-ERR not a local command\r\n"),
    }
}

/// Whether `user`/`pass` log in as redis's `default` user: the only user,
/// whose password is the pool's `redis_auth` (any password without one).
/// User names are case-sensitive, as redis's.
fn default_user(ctx: &Ctx<'_>, user: &[u8], pass: &[u8]) -> bool {
    user == b"default" && ctx.password.is_none_or(|pw| pw.as_bytes() == pass)
}

/// `AUTH password` (0.5.0's replies) or `AUTH user pass` (redis 6+'s, see
/// `default_user`). A refused one de-authenticates, as 0.5.0 did; more
/// arguments are redis's syntax error and change nothing.
fn auth(args: &[&[u8]], ctx: &Ctx<'_>, s: &mut Session, out: &mut Vec<u8>) {
    let (ok, reply) = match *args {
        [pass] => match ctx.password {
            None => (true, NO_PASSWORD),
            Some(pw) if pw.as_bytes() == pass => (true, OK),
            Some(_) => (false, INVALID_PASSWORD),
        },
        [user, pass] if default_user(ctx, user, pass) => (true, OK),
        [_, _] => (false, WRONGPASS),
        _ => return out.extend_from_slice(SYNTAX_ERROR),
    };
    s.authed = ok.then_some(ctx.epoch);
    out.extend_from_slice(reply);
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`, checked in redis's
/// order: protover, the options' syntax and the name, the password, then
/// authentication; only a successful HELLO changes the session.
fn hello(args: &[&[u8]], ctx: &Ctx<'_>, s: &mut Session, out: &mut Vec<u8>) {
    let resp = match args.first().map(|v| parse_i64(v)) {
        None => s.resp,
        Some(None) => return out.extend_from_slice(BAD_PROTOVER),
        Some(Some(2)) => Resp::Resp2,
        Some(Some(3)) => Resp::Resp3,
        Some(Some(_)) => return out.extend_from_slice(NOPROTO),
    };
    let (mut auth, mut name) = (None, None);
    let mut j = 1;
    while let Some(opt) = args.get(j) {
        let more = args.len() - j - 1;
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            auth = Some((args[j + 1], args[j + 2]));
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            if !valid_name(args[j + 1]) {
                return out.extend_from_slice(BAD_NAME);
            }
            name = Some(args[j + 1]);
            j += 2;
        } else {
            out.extend_from_slice(b"-ERR Syntax error in HELLO option '");
            push_sanitised(opt, false, out);
            return out.extend_from_slice(b"'\r\n");
        }
    }
    let mut authed = ctx.authed(s);
    if let Some((user, pass)) = auth {
        if !default_user(ctx, user, pass) {
            return out.extend_from_slice(WRONGPASS);
        }
        authed = true;
    }
    if !authed {
        return out.extend_from_slice(HELLO_NOAUTH);
    }
    if auth.is_some() {
        s.authed = Some(ctx.epoch);
    }
    if let Some(n) = name {
        s.name = (!n.is_empty()).then(|| n.into());
    }
    s.resp = resp;
    hello_map(resp, ctx.id, out);
}

/// The HELLO reply: a map of 7 fields in RESP3, a flat array of 14 in RESP2.
pub fn hello_map(resp: Resp, id: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(match resp {
        Resp::Resp2 => b"*14\r\n",
        Resp::Resp3 => b"%7\r\n",
    });
    for (k, v) in [("server", "redis"), ("version", REDIS_VERSION)] {
        push_bulk(k.as_bytes(), out);
        push_bulk(v.as_bytes(), out);
    }
    push_bulk(b"proto", out);
    out.extend_from_slice(match resp {
        Resp::Resp2 => b":2\r\n",
        Resp::Resp3 => b":3\r\n",
    });
    push_bulk(b"id", out);
    integer_reply(id as i64, out);
    for (k, v) in [("mode", "standalone"), ("role", "master")] {
        push_bulk(k.as_bytes(), out);
        push_bulk(v.as_bytes(), out);
    }
    push_bulk(b"modules", out);
    out.extend_from_slice(b"*0\r\n");
}

/// `CLIENT <subcommand> ...`.
fn client(args: &[&[u8]], ctx: &Ctx<'_>, s: &mut Session, out: &mut Vec<u8>) {
    let sub = args.first().copied().unwrap_or(b"");
    let upper = sub.to_ascii_uppercase();
    let (want, known): (usize, bool) = match upper.as_slice() {
        b"ID" | b"GETNAME" => (1, true),
        b"SETNAME" => (2, true),
        b"SETINFO" => (3, true),
        _ => (0, false),
    };
    if !known {
        out.extend_from_slice(b"-ERR unsupported subcommand CLIENT '");
        push_sanitised(sub, false, out);
        return out.extend_from_slice(
            b"': the proxy answers only CLIENT ID, GETNAME, SETNAME and SETINFO\r\n",
        );
    }
    if args.len() != want {
        out.extend_from_slice(b"-ERR wrong number of arguments for 'client|");
        push_sanitised(sub, true, out);
        return out.extend_from_slice(b"' command\r\n");
    }
    match upper.as_slice() {
        b"ID" => integer_reply(ctx.id as i64, out),
        b"GETNAME" => match &s.name {
            Some(n) => push_bulk(n, out),
            None => push_null(s.resp, out),
        },
        b"SETNAME" if !valid_name(args[1]) => out.extend_from_slice(BAD_NAME),
        b"SETNAME" => {
            s.name = (!args[1].is_empty()).then(|| args[1].into());
            out.extend_from_slice(OK);
        }
        _ => {
            // SETINFO LIB-NAME|LIB-VER value (redis 7.2): checked, not kept
            let attr = args[1];
            let known =
                attr.eq_ignore_ascii_case(b"LIB-NAME") || attr.eq_ignore_ascii_case(b"LIB-VER");
            if !known {
                out.extend_from_slice(b"-ERR Unrecognized option '");
                push_sanitised(attr, false, out);
                return out.extend_from_slice(b"'\r\n");
            }
            if !valid_name(args[2]) {
                out.extend_from_slice(b"-ERR ");
                push_sanitised(attr, false, out);
                return out.extend_from_slice(
                    b" cannot contain spaces, newlines or special characters.\r\n",
                );
            }
            out.extend_from_slice(OK);
        }
    }
}

/// `SELECT n`: +OK for the pool's own db, else an error (the connection stays).
fn select(arg: &[u8], ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    match parse_i64(arg) {
        None => out.extend_from_slice(NOT_INTEGER),
        Some(n) if n < 0 || n > i64::from(i32::MAX) => out.extend_from_slice(DB_RANGE),
        Some(n) if n == i64::from(ctx.db) => out.extend_from_slice(OK),
        Some(n) => {
            out.extend_from_slice(b"-ERR SELECT ");
            push_i64(n, out);
            out.extend_from_slice(b" refused: the proxy serves db ");
            push_i64(i64::from(ctx.db), out);
            out.extend_from_slice(b" only (redis_db)\r\n");
        }
    }
}

/// Whether a client name (or SETINFO value) is acceptable to redis:
/// printable ASCII without spaces.
fn valid_name(n: &[u8]) -> bool {
    n.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// A decimal integer as redis reads one (`string2ll`): optional `-`, no
/// `+`, no leading zeros, no spaces.
fn parse_i64(b: &[u8]) -> Option<i64> {
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    let canonical = match digits {
        [] => false,
        [b'0'] => b.len() == 1,
        [b'0', ..] => false,
        _ => digits.iter().all(u8::is_ascii_digit),
    };
    canonical
        .then(|| std::str::from_utf8(b).ok()?.parse().ok())
        .flatten()
}

/// The null reply of the protocol: `$-1` in RESP2, `_` in RESP3.
pub fn push_null(resp: Resp, out: &mut Vec<u8>) {
    out.extend_from_slice(match resp {
        Resp::Resp2 => b"$-1\r\n",
        Resp::Resp3 => b"_\r\n",
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: Ctx<'static> = Ctx {
        id: 7,
        db: 0,
        password: Some("pw"),
        epoch: 1,
    };
    const OPEN: Ctx<'static> = Ctx {
        id: 7,
        db: 0,
        password: None,
        epoch: 0,
    };

    fn run(cmd: Cmd, words: &str, ctx: &Ctx<'_>, s: &mut Session) -> String {
        let args: Vec<&[u8]> = words.split_whitespace().map(str::as_bytes).collect();
        let mut out = Vec::new();
        answer(cmd, &args, ctx, s, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    const WRONGPASS_TXT: &str =
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n";

    fn open() -> Session {
        Session::default()
    }

    #[test]
    fn hello_switches_the_protocol_and_answers_in_it() {
        let mut s = open();
        let r2 = run(Cmd::Hello, "", &OPEN, &mut s);
        assert!(r2.starts_with("*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.0\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:7\r\n"), "{r2}");
        assert!(r2.ends_with("$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"));
        let r3 = run(Cmd::Hello, "3", &OPEN, &mut s);
        assert_eq!(s.resp, Resp::Resp3);
        assert_eq!(
            r3,
            r2.replace("*14\r\n", "%7\r\n").replace(":2\r\n", ":3\r\n")
        );
        assert_eq!(
            run(Cmd::Hello, "", &OPEN, &mut s),
            r3,
            "HELLO keeps the protocol"
        );
        assert_eq!(run(Cmd::Hello, "2", &OPEN, &mut s), r2);
        assert_eq!(s.resp, Resp::Resp2);
    }

    #[test]
    fn hello_errors_change_nothing() {
        let mut s = open();
        let cases = [
            ("4", "-NOPROTO unsupported protocol version\r\n"),
            ("1", "-NOPROTO unsupported protocol version\r\n"),
            ("-1", "-NOPROTO unsupported protocol version\r\n"),
            (
                "x",
                "-ERR Protocol version is not an integer or out of range\r\n",
            ),
            (
                "03",
                "-ERR Protocol version is not an integer or out of range\r\n",
            ),
            ("3 FOO", "-ERR Syntax error in HELLO option 'FOO'\r\n"),
            (
                "3 AUTH default",
                "-ERR Syntax error in HELLO option 'AUTH'\r\n",
            ),
            (
                "3 SETNAME",
                "-ERR Syntax error in HELLO option 'SETNAME'\r\n",
            ),
            (
                "3 AUTH bob x",
                "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
            ),
        ];
        for (args, want) in cases {
            assert_eq!(run(Cmd::Hello, args, &OPEN, &mut s), want, "HELLO {args}");
            assert_eq!(s, open(), "HELLO {args} changed the session");
        }
        let mut out = Vec::new();
        answer(
            Cmd::Hello,
            &[b"3", b"SETNAME", b"a b"],
            &OPEN,
            &mut s,
            &mut out,
        );
        assert_eq!(out, BAD_NAME);
    }

    #[test]
    fn hello_auth_checks_redis_auth() {
        let mut s = Session::default();
        assert_eq!(run(Cmd::Hello, "3", &PW, &mut s).as_bytes(), HELLO_NOAUTH);
        assert_eq!(
            run(Cmd::Hello, "3 AUTH default nope", &PW, &mut s).as_bytes(),
            WRONGPASS
        );
        assert_eq!(
            run(Cmd::Hello, "3 AUTH admin pw", &PW, &mut s).as_bytes(),
            WRONGPASS
        );
        assert_eq!(s, Session::default());
        let r = run(Cmd::Hello, "3 AUTH default pw SETNAME app", &PW, &mut s);
        assert!(r.starts_with("%7\r\n"));
        assert!(PW.authed(&s) && s.resp == Resp::Resp3);
        assert_eq!(s.name.as_deref(), Some(&b"app"[..]));
        // a failed AUTH inside HELLO does not de-authenticate (as redis)
        assert_eq!(
            run(Cmd::Hello, "2 AUTH default bad", &PW, &mut s).as_bytes(),
            WRONGPASS
        );
        assert!(PW.authed(&s) && s.resp == Resp::Resp3);
        // a new password (reload) needs a new AUTH
        let pw2 = Ctx { epoch: 2, ..PW };
        assert_eq!(run(Cmd::Hello, "3", &pw2, &mut s).as_bytes(), HELLO_NOAUTH);
        // without redis_auth, `default` takes any password
        let mut o = Session::default();
        assert!(run(Cmd::Hello, "2 AUTH default x", &OPEN, &mut o).starts_with("*14"));
    }

    #[test]
    fn auth_one_argument_keeps_0_5_0_replies() {
        let mut s = open();
        assert_eq!(
            run(Cmd::Auth, "nope", &PW, &mut s).as_bytes(),
            INVALID_PASSWORD
        );
        assert!(!PW.authed(&s));
        assert_eq!(run(Cmd::Auth, "pw", &PW, &mut s), "+OK\r\n");
        assert!(PW.authed(&s));
        // a refused AUTH de-authenticates (0.5.0)
        assert_eq!(
            run(Cmd::Auth, "pw2", &PW, &mut s).as_bytes(),
            INVALID_PASSWORD
        );
        assert!(!PW.authed(&s));
        assert_eq!(run(Cmd::Auth, "x", &OPEN, &mut s).as_bytes(), NO_PASSWORD);
        assert!(OPEN.authed(&s));
    }

    #[test]
    fn auth_user_pass_as_hello_auth() {
        // (arguments, reply with redis_auth "pw", reply without it)
        let cases = [
            ("default pw", "+OK\r\n", "+OK\r\n"),
            ("default nope", WRONGPASS_TXT, "+OK\r\n"),
            ("DEFAULT pw", WRONGPASS_TXT, WRONGPASS_TXT),
            ("admin pw", WRONGPASS_TXT, WRONGPASS_TXT),
            ("a b c", "-ERR syntax error\r\n", "-ERR syntax error\r\n"),
        ];
        for (args, with_pw, open_pool) in cases {
            let hello = format!("2 AUTH {args}");
            for (ctx, want) in [(&PW, with_pw), (&OPEN, open_pool)] {
                let mut s = open();
                assert_eq!(run(Cmd::Auth, args, ctx, &mut s), want, "AUTH {args}");
                let ok = want == "+OK\r\n";
                assert_eq!(s.authed == Some(ctx.epoch), ok, "AUTH {args}");
                if args.split_whitespace().count() == 2 {
                    // HELLO's AUTH accepts exactly the same pairs
                    let r = run(Cmd::Hello, &hello, ctx, &mut open());
                    assert_eq!(r.starts_with("*14"), ok, "HELLO {hello}: {r}");
                }
            }
        }
    }

    #[test]
    fn auth_refused_de_authenticates_syntax_error_does_not() {
        let mut s = open();
        assert_eq!(run(Cmd::Auth, "default pw", &PW, &mut s), "+OK\r\n");
        assert_eq!(
            run(Cmd::Auth, "a b c", &PW, &mut s),
            "-ERR syntax error\r\n"
        );
        assert!(PW.authed(&s));
        assert_eq!(run(Cmd::Auth, "bob pw", &PW, &mut s), WRONGPASS_TXT);
        assert!(!PW.authed(&s));
        assert_eq!(run(Cmd::Auth, "default pw", &PW, &mut s), "+OK\r\n");
        assert_eq!(run(Cmd::Auth, "default bad", &PW, &mut s), WRONGPASS_TXT);
        assert!(!PW.authed(&s));
        // a login under an old password does not survive a reload's new one
        assert_eq!(run(Cmd::Auth, "default pw", &PW, &mut s), "+OK\r\n");
        assert!(!Ctx { epoch: 2, ..PW }.authed(&s));
        // nothing else of the session changes
        s.resp = Resp::Resp3;
        s.name = Some(b"n".to_vec().into());
        run(Cmd::Auth, "default nope", &PW, &mut s);
        assert_eq!((s.resp, s.name.as_deref()), (Resp::Resp3, Some(&b"n"[..])));
    }

    #[test]
    fn client_subcommands() {
        let mut s = open();
        assert_eq!(run(Cmd::Client, "GETNAME", &OPEN, &mut s), "$-1\r\n");
        assert_eq!(run(Cmd::Client, "id", &OPEN, &mut s), ":7\r\n");
        assert_eq!(run(Cmd::Client, "SETNAME app-1", &OPEN, &mut s), "+OK\r\n");
        assert_eq!(
            run(Cmd::Client, "getname", &OPEN, &mut s),
            "$5\r\napp-1\r\n"
        );
        let mut out = Vec::new();
        answer(Cmd::Client, &[b"SETNAME", b"a\nb"], &OPEN, &mut s, &mut out);
        assert_eq!(out, BAD_NAME);
        assert_eq!(s.name.as_deref(), Some(&b"app-1"[..]));
        out.clear();
        answer(Cmd::Client, &[b"SETNAME", b""], &OPEN, &mut s, &mut out);
        assert_eq!(out, OK);
        s.resp = Resp::Resp3;
        assert_eq!(run(Cmd::Client, "GETNAME", &OPEN, &mut s), "_\r\n");
        assert_eq!(
            run(Cmd::Client, "SETINFO lib-name redis-py", &OPEN, &mut s),
            "+OK\r\n"
        );
        assert_eq!(
            run(Cmd::Client, "SETINFO LIB-VER 5.0.1", &OPEN, &mut s),
            "+OK\r\n"
        );
        assert_eq!(
            run(Cmd::Client, "SETINFO bogus 1", &OPEN, &mut s),
            "-ERR Unrecognized option 'bogus'\r\n"
        );
        assert_eq!(
            run(Cmd::Client, "GETNAME x", &OPEN, &mut s),
            "-ERR wrong number of arguments for 'client|getname' command\r\n"
        );
        assert_eq!(
            run(Cmd::Client, "SETNAME", &OPEN, &mut s),
            "-ERR wrong number of arguments for 'client|setname' command\r\n"
        );
        assert!(run(Cmd::Client, "LIST", &OPEN, &mut s)
            .starts_with("-ERR unsupported subcommand CLIENT 'LIST': "));
    }

    #[test]
    fn select_echo_reset() {
        let mut s = open();
        let db3 = Ctx { db: 3, ..OPEN };
        assert_eq!(run(Cmd::Select, "3", &db3, &mut s), "+OK\r\n");
        assert_eq!(
            run(Cmd::Select, "0", &db3, &mut s),
            "-ERR SELECT 0 refused: the proxy serves db 3 only (redis_db)\r\n"
        );
        assert_eq!(run(Cmd::Select, "x", &db3, &mut s).as_bytes(), NOT_INTEGER);
        assert_eq!(run(Cmd::Select, "-1", &db3, &mut s).as_bytes(), DB_RANGE);
        assert_eq!(run(Cmd::Echo, "hi", &OPEN, &mut s), "$2\r\nhi\r\n");
        s = Session {
            resp: Resp::Resp3,
            name: Some(b"n".to_vec().into()),
            authed: Some(1),
        };
        assert_eq!(run(Cmd::Reset, "", &PW, &mut s), "+RESET\r\n");
        assert_eq!(s, open(), "RESET: RESP2, no name, not authenticated");
        assert!(!PW.authed(&s) && OPEN.authed(&s));
    }

    #[test]
    fn integers_as_redis_reads_them() {
        for (txt, want) in [
            ("0", Some(0)),
            ("-5", Some(-5)),
            ("12", Some(12)),
            ("", None),
            ("-", None),
            ("+1", None),
            ("01", None),
            ("-0", None),
            (" 1", None),
            ("99999999999999999999", None),
        ] {
            assert_eq!(parse_i64(txt.as_bytes()), want, "{txt:?}");
        }
    }
}
