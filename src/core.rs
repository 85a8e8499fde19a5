//! (stub) The event loop (twemproxy: nc_core.c).
