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

/// A port on 127.0.0.1 that refuses connections for as long as the returned socket is kept:
/// bound but never listening, so that the kernel cannot hand it to a server as a free port
/// meanwhile (a released [`free_port`] can come back from the next one).
pub fn refusing_port() -> (u16, std::os::fd::OwnedFd) {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, getsockname, socket};
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).expect("socket");
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::new(127, 0, 0, 1, 0)).expect("bind 127.0.0.1:0");
    let addr: SockaddrIn = getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd)).expect("getsockname");
    (addr.port(), fd)
}
