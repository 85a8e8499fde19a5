//! nutcracker: the binary (twemproxy: nc.c `main`, `nc_pre_run`, `nc_post_run`).
//!
//! Order of work (§CLI.5, §SIG.3): parse options; `-V`/`-h`/`-D` print and
//! exit 0; `-t` tests the configuration and exits; otherwise start: logger,
//! daemonize, signal handlers, pid file, banner, configuration, event loop.
//! Every exit after the logger starts goes through the orderly path:
//! `done, rabbit done`, then the pid file is removed.

use nutcracker::cli::{self, Options};
use nutcracker::conf::{self, Conf};
use nutcracker::core::{Core, CoreOpts};
use nutcracker::daemon::{self, PidFile};
use nutcracker::log::{self, strerror};
use nutcracker::signal;
use nutcracker::stats;
use std::io::{self, Write as _};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let opts = match cli::parse(&args) {
        Ok(opts) => opts,
        Err(e) => {
            say(&format!("{e}\n{}", cli::usage()));
            return ExitCode::from(1);
        }
    };
    if opts.show_version || opts.show_help || opts.describe_stats {
        show_info(&opts);
        return ExitCode::SUCCESS;
    }
    if opts.test_conf {
        return ExitCode::from(test_conf(&opts.conf_file));
    }
    if let Some(pool) = &opts.locate {
        return ExitCode::from(locate(&opts, pool));
    }
    ExitCode::from(run(&opts))
}

/// Writes to stderr; a closed or broken stderr is ignored (never panic).
fn say(text: &str) {
    let _ = io::stderr().write_all(text.as_bytes());
}

/// -V, -h, -D: version block, then usage, then stats description (§CLI.5 step 2).
fn show_info(opts: &Options) {
    let mut text = String::from(cli::version_block());
    if opts.show_help {
        text.push_str(cli::usage());
    }
    if opts.describe_stats {
        text.push_str(&stats::describe());
    }
    say(&text);
}

/// -t (§CLI.5). Unlike 0.5.0 the reason is printed before `syntax is invalid`.
fn test_conf(path: &str) -> u8 {
    match conf::load(path) {
        Ok(_) => {
            say(&format!(
                "nutcracker: configuration file '{path}' syntax is ok\n"
            ));
            0
        }
        Err(e) => {
            let invalid = format!("nutcracker: configuration file '{path}' syntax is invalid\n");
            let times = if e.is_open_error() { 1 } else { 2 };
            say(&format!("{e}\n{}", invalid.repeat(times)));
            1
        }
    }
}

/// --locate (nutcracker-rs): which server holds each key, as the running
/// proxy would route it with every server live. Keys come from the
/// arguments, else one per line on stdin; output is `<key>\t<server name>`.
fn locate(opts: &Options, pool: &str) -> u8 {
    let conf = match conf::load(&opts.conf_file) {
        Ok(c) => c,
        Err(e) => {
            say(&format!("{e}\n"));
            return 1;
        }
    };
    let Some(p) = conf.pools.iter().find(|p| p.name == pool) else {
        say(&format!(
            "nutcracker: no pool named '{pool}' in '{}'\n",
            opts.conf_file
        ));
        return 1;
    };
    // the proxy's own routing, on a pool built as the proxy builds it
    let pool = nutcracker::pool::ServerPool::new(Default::default(), p.clone());
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut emit = |key: &[u8]| -> io::Result<()> {
        out.write_all(key)?;
        out.write_all(b"\t")?;
        out.write_all(pool.locate(key).as_bytes())?;
        out.write_all(b"\n")
    };
    let r = if opts.free.is_empty() {
        use std::io::BufRead;
        let mut r = Ok(());
        for line in io::stdin().lock().split(b'\n') {
            let Ok(mut k) = line else { break };
            if k.last() == Some(&b'\r') {
                k.pop();
            }
            r = emit(&k);
            if r.is_err() {
                break;
            }
        }
        r
    } else {
        opts.free.iter().try_for_each(|k| emit(k.as_bytes()))
    };
    match r.and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// Normal start (§SIG.3); returns the exit status.
fn run(opts: &Options) -> u8 {
    if let Err(e) = log::init(opts.verbose, opts.output.as_deref()) {
        say(&format!("{e}\n"));
        return 1;
    }
    // Beyond 0.5.0: refuse a second instance before daemonizing, so the shell
    // sees the failure.
    if let Some(path) = &opts.pid_file {
        if let Err(e) = daemon::check_pid_file(path) {
            fail_loudly(opts, &e);
            return 1;
        }
    }
    let pid_file = match prepare(opts) {
        Ok(pid_file) => pid_file,
        Err(e) => {
            ::log::error!("{e}");
            log::always(format_args!("done, rabbit done"));
            return 1;
        }
    };
    banner();
    let status = match conf::load(&opts.conf_file) {
        Ok(conf) => serve(opts, conf),
        Err(e) => {
            ::log::error!("{e}");
            say(&format!(
                "nutcracker: configuration file '{}' syntax is invalid\n",
                opts.conf_file
            ));
            1
        }
    };
    log::always(format_args!("done, rabbit done"));
    if let Some(pf) = pid_file {
        pf.remove();
    }
    status
}

/// Logs `e`, and repeats it on stderr when the log goes to a file.
fn fail_loudly(opts: &Options, e: &dyn std::fmt::Display) {
    ::log::error!("{e}");
    if opts.output.is_some() {
        say(&format!("nutcracker: {e}\n"));
    }
}

/// §SIG.3 steps 2–4: daemonize, signal handlers, pid file.
fn prepare(opts: &Options) -> Result<Option<PidFile>, Box<dyn std::error::Error>> {
    if opts.daemonize {
        daemon::daemonize()?;
    }
    signal::init().map_err(|e| format!("signal init failed: {}", strerror(&e)))?;
    match &opts.pid_file {
        Some(path) => Ok(Some(PidFile::create(path)?)),
        None => Ok(None),
    }
}

/// The start-up banner (§SIG.2), always written.
fn banner() {
    let version = cli::VERSION;
    let pid = std::process::id();
    match daemon::uname() {
        Some(sys) => log::always(format_args!(
            "nutcracker-{version} built for {sys} started on pid {pid}"
        )),
        None => log::always(format_args!("nutcracker-{version} started on pid {pid}")),
    }
    log::always(format_args!(
        "run, rabbit run / dig that hole, forget the sun / and when at last the work is done / don't sit down / it's time to dig another one"
    ));
}

/// §SIG.3 steps 7–10: stats thread, preconnect, listeners, event loop.
fn serve(opts: &Options, conf: Conf) -> u8 {
    let copts = CoreOpts {
        mbuf_size: opts.mbuf_size,
        stats_interval: Duration::from_millis(opts.stats_interval_ms),
        batch_wait: Duration::from_micros(opts.batch_wait_us),
    };
    let mut core = match Core::new(conf, copts, None) {
        Ok(c) => c,
        Err(e) => {
            fail_loudly(opts, &format!("event loop init failed: {}", strerror(&e)));
            return 1;
        }
    };
    match stats::spawn(
        &opts.stats_addr,
        opts.stats_port,
        opts.stats_interval_ms,
        &core.stats_layout(),
        &stats::hostname(),
    ) {
        Ok(h) => core.stats = Some(h),
        Err(e) => {
            fail_loudly(opts, &e);
            return 1;
        }
    }
    if let Err(e) = core.start() {
        fail_loudly(opts, &e);
        return 1;
    }
    match core.run(&opts.conf_file, signal::handle_pending) {
        Ok(()) => signal::exit_status(),
        Err(e) => {
            ::log::error!("event loop failed: {}", strerror(&e));
            1
        }
    }
}
