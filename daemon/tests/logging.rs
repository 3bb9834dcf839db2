//! Logging setup, in a child process: the global subscriber can be installed once per process.

mod common;

#[test]
fn logs_go_to_stderr_plain_and_filtered() {
    if common::is_child("logs_go_to_stderr_plain_and_filtered") {
        daemon::logging::init("debug");
        daemon::logging::init("trace"); // no-op, no panic
        tracing::debug!("debug-line");
        tracing::info!("info-line");
        tracing::warn!("warn-line");
        println!("{}", common::DONE);
        return;
    }
    let mut cmd = common::child("logs_go_to_stderr_plain_and_filtered");
    cmd.env("MAILROOM_LOG", "warn").env_remove("JOURNAL_STREAM");
    let out = common::run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warn-line"), "{stderr}");
    assert!(!stderr.contains("info-line") && !stderr.contains("debug-line"), "MAILROOM_LOG wins: {stderr}");
    assert!(!stderr.contains('\x1b'), "no colours on a pipe: {stderr:?}");
}

#[test]
fn the_configured_level_applies_without_mailroom_log() {
    if common::is_child("the_configured_level_applies_without_mailroom_log") {
        daemon::logging::init("info");
        tracing::debug!("debug-line");
        tracing::info!("info-line");
        println!("{}", common::DONE);
        return;
    }
    let mut cmd = common::child("the_configured_level_applies_without_mailroom_log");
    cmd.env_remove("MAILROOM_LOG");
    let stderr = String::from_utf8_lossy(&common::run(cmd).stderr).into_owned();
    assert!(stderr.contains("info-line") && !stderr.contains("debug-line"), "{stderr}");
}
