//! nutcracker: the binary (twemproxy: nc.c).
fn main() {}
