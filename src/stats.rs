//! (stub) Statistics (twemproxy: nc_stats.c).

/// The `-D` description (§CLI.4), printed after the version block.
pub fn describe() -> String {
    String::from("pool stats:\n  client_eof          \"# eof on client connections\"\n")
}
