//! `mailroomctl up`: the whole stack in the foreground for a try-out, like `foreman start`.
//!
//! The first run creates everything under `--dir` (`setup`); every run then starts the four
//! daemons as children in dependency order (mailroom-saslauthd and mailroom-mda first, since
//! mailroom-mta and mailroom-mra call them), each only once the previous one's sockets answer,
//! prints how to use the stack, and waits. Ctrl-C or SIGTERM stops them in reverse order; a
//! daemon that dies on its own stops the others and makes `up` exit 1.

mod banner;
mod child;
mod setup;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::signal::unix::{Signal, SignalKind, signal};

use child::{Daemon, Endpoint};
pub use setup::{DEMO_ADMIN, DEMO_DOMAIN};

/// How long a daemon may take to answer on its sockets.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a daemon may take to stop after SIGTERM (its drain is `shutdown_timeout`, 5 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// `mailroomctl up` arguments.
#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Directory for the configuration, database, certificate, spool, sockets and Maildirs
    #[arg(long, value_name = "DIR", default_value = "mailroom-data")]
    pub dir: PathBuf,
}

/// One daemon to start: program, log tag, and what answers once it is ready.
struct Plan {
    name: &'static str,
    tag: &'static str,
    ready: Vec<Endpoint>,
}

/// Why the foreground run ended.
enum End {
    /// Ctrl-C or SIGTERM.
    Signal(&'static str),
    /// A daemon exited by itself.
    Died(String),
}

/// The terminal's and the service manager's stop signals.
struct StopSignals {
    term: Signal,
    int: Signal,
}

impl StopSignals {
    fn install() -> Result<StopSignals> {
        Ok(StopSignals {
            term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

impl UpArgs {
    /// Prepare the directory, run the stack until a signal or a death, stop it.
    pub async fn run(self, config: Option<&Path>) -> Result<ExitCode> {
        if config.is_some() {
            bail!("up takes --dir DIR (it writes DIR/mailroom.toml), not --config");
        }
        // Installed first: a Ctrl-C while the first daemons start must stop them, not orphan them.
        let mut signals = StopSignals::install()?;
        let layout = setup::Layout::new(&self.dir)?;
        let (cfg, created) = setup::prepare(&layout).await?;
        let config_path = layout.config();
        println!("mailroomctl up: {} {}", if created { "created" } else { "using" }, config_path.display());
        ports_free(&cfg)?;
        let mut running: Vec<Daemon> = Vec::new();
        let end = match start_all(&plans(&cfg), &config_path, &mut running, &mut signals).await {
            Ok(None) => {
                banner::print(&layout, &cfg, &setup::read_passwords(&layout));
                watch(&mut running, &mut signals).await?
            }
            Ok(Some(sig)) => End::Signal(sig),
            Err(e) => End::Died(format!("{e:#}")),
        };
        stop_all(running).await;
        Ok(report(end))
    }
}

/// The last line and the exit status: 0 after a stop signal, 1 after a death.
fn report(end: End) -> ExitCode {
    match end {
        End::Signal(sig) => {
            println!("mailroomctl up: {sig}: stopped");
            ExitCode::SUCCESS
        }
        End::Died(why) => {
            eprintln!("mailroomctl up: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The daemons in start order, with the sockets the configuration gives each.
fn plans(cfg: &config::Config) -> Vec<Plan> {
    let tcp = |lists: &[&Vec<std::net::SocketAddr>]| -> Vec<Endpoint> {
        lists.iter().flat_map(|l| l.iter()).map(|a| Endpoint::Tcp(*a)).collect()
    };
    let (m, r, tls) = (&cfg.mta, &cfg.mra, cfg.tls.enabled());
    let mut mta = tcp(&[&m.smtp_listen, &m.submission_listen]);
    let mut mra = tcp(&[&r.pop3_listen, &r.imap_listen, &r.managesieve_listen]);
    if tls {
        mta.extend(tcp(&[&m.submissions_listen]));
        mra.extend(tcp(&[&r.pop3s_listen, &r.imaps_listen]));
    }
    let mux = Endpoint::Unix(Path::new(&cfg.saslauthd.run_dir).join("mux"));
    vec![
        Plan { name: "mailroom-saslauthd", tag: "saslauthd", ready: vec![mux] },
        Plan { name: "mailroom-mda", tag: "mda", ready: vec![Endpoint::Unix((&cfg.mda.lmtp_socket).into())] },
        Plan { name: "mailroom-mta", tag: "mta", ready: mta },
        Plan { name: "mailroom-mra", tag: "mra", ready: mra },
        Plan { name: "mailroom-web", tag: "web", ready: tcp(&[&cfg.web.listen]) },
    ]
}

/// Refuse early, with the reason, when a port is taken (another `up` running, say): the
/// daemon would only fail after the others had started.
fn ports_free(cfg: &config::Config) -> Result<()> {
    let metrics = metrics(cfg).into_iter().map(|(name, addr)| (name, Endpoint::Tcp(addr)));
    let ready = plans(cfg).into_iter().flat_map(|p| p.ready.into_iter().map(move |e| (p.name, e)));
    for (name, e) in ready.chain(metrics) {
        if let Endpoint::Tcp(addr) = e {
            TcpListener::bind(addr).with_context(|| {
                format!("{addr} ({name}) is not free: is another `mailroomctl up` running?")
            })?;
        }
    }
    Ok(())
}

/// Each daemon's metrics endpoints, as configured.
pub(super) fn metrics(cfg: &config::Config) -> Vec<(&'static str, std::net::SocketAddr)> {
    let each = [
        ("mailroom-saslauthd", &cfg.saslauthd.metrics_listen),
        ("mailroom-mda", &cfg.mda.metrics_listen),
        ("mailroom-mta", &cfg.mta.metrics_listen),
        ("mailroom-mra", &cfg.mra.metrics_listen),
        ("mailroom-web", &cfg.web.metrics_listen),
    ];
    each.into_iter().flat_map(|(name, addrs)| addrs.iter().map(move |a| (name, *a))).collect()
}

/// Start each daemon and wait until it answers; `Some(signal)` when a stop signal came first.
async fn start_all(
    plans: &[Plan],
    config: &Path,
    running: &mut Vec<Daemon>,
    signals: &mut StopSignals,
) -> Result<Option<&'static str>> {
    for p in plans {
        running.push(Daemon::spawn(p.name, p.tag, config)?);
        let daemon = running.last_mut().expect("just pushed");
        tokio::select! {
            r = daemon.ready(&p.ready, START_TIMEOUT) => r?,
            sig = signals.recv() => return Ok(Some(sig)),
        }
    }
    Ok(None)
}

/// Wait for a stop signal or for a daemon to exit by itself.
async fn watch(running: &mut [Daemon], signals: &mut StopSignals) -> Result<End> {
    loop {
        for d in running.iter_mut() {
            if let Some(status) = d.exited()? {
                return Ok(End::Died(format!("{} exited unexpectedly ({status})", d.name)));
            }
        }
        tokio::select! {
            sig = signals.recv() => return Ok(End::Signal(sig)),
            _ = tokio::time::sleep(child::POLL) => {}
        }
    }
}

/// Stop the daemons in reverse start order: the MRA and MTA before the MDA and saslauthd
/// they use, so that nothing in flight loses its peer.
async fn stop_all(running: Vec<Daemon>) {
    for d in running.into_iter().rev() {
        let name = d.name;
        match d.stop(STOP_TIMEOUT).await {
            Ok(None) => {}
            Ok(Some(status)) if status.success() => {}
            Ok(Some(status)) => eprintln!("mailroomctl up: {name} stopped with {status}"),
            Err(e) => eprintln!("mailroomctl up: stopping {name}: {e:#}"),
        }
    }
}
