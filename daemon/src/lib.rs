//! What every mailroom daemon needs to be a good Unix daemon, the part Postfix keeps in `master`
//! and `libglobal`: the common command-line flags and config loading, logging to stderr,
//! listeners (TCP, Unix sockets with mode and owner, systemd socket activation), TLS with
//! reload, privilege drop, sd_notify, signals and graceful shutdown, and each binary's manual
//! page and shell completions ([`manual`]).
//!
//! A daemon's `main` reads top to bottom in the order DESIGN §9 asks for: parse
//! [`cli::CommonArgs`] and load the config, [`logging::init`], then [`run`]: bind its
//! [`run::Sockets`] (or take them from systemd) while still root, [`run::Sockets::start`] (drop
//! privileges, signal handlers, TLS reload), and [`run::Service::serve`] until SIGTERM, which
//! tells systemd READY once and drains the connections in flight.
//!
//! This crate knows nothing about users, mailboxes or protocols: it does not depend on authlib
//! or mailstore, and they do not depend on it.

pub mod cli;
pub mod host;
pub mod listen;
pub mod logging;
pub mod manual;
pub mod metrics;
pub mod notify;
pub mod privilege;
pub mod run;
pub mod shutdown;
pub mod tls;
