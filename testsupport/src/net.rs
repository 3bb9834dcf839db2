//! Ports for the servers a test starts.

use std::io;
use std::net::{Ipv4Addr, TcpListener};

/// A free TCP port on 127.0.0.1: the kernel's pick, released for the server to bind.
pub fn try_free_port() -> io::Result<u16> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr().map(|a| a.port())
}

/// [`try_free_port`], panicking when no port can be had.
pub fn free_port() -> u16 {
    try_free_port().unwrap_or_else(|e| panic!("binding 127.0.0.1:0: {e}"))
}
