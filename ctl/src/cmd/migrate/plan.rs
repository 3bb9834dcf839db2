//! `migrate plan`: the swap, daemon by daemon in the order that keeps mail flowing
//! (saslauthd, then the MDA behind Postfix, then the MRA on the same Maildirs, then the MTA),
//! each step with the exact classic lines to change, how to verify, and how to roll back.

use std::fmt::Write as _;

use super::dovecot::{Dovecot, NEST};
use super::postfix::Postfix;
use super::report::{Report, Status};
use super::saslauthd::Saslauthd;

/// The plan as text.
pub fn plan(cfg: &config::Config, pf: &Postfix, dc: &Dovecot, sa: &Saslauthd, report: &Report) -> String {
    let mut out = String::new();
    let w = &mut out;
    let run_dir = cfg.saslauthd.run_dir.to_string();
    let _ = writeln!(w, "# Swapping the classic stack for mailroom, one daemon at a time");
    let _ = writeln!(
        w,
        "\nBefore you start: `mailroomctl migrate check --config FILE` must exit 0, and these classic \
         settings are not carried over ({} unsupported, {} unreadable; `mailroomctl migrate report` lists all):",
        report.count(Status::Unsupported),
        report.count(Status::Unreadable)
    );
    for e in report.entries.iter().filter(|e| matches!(e.status, Status::Unsupported | Status::Unreadable)) {
        let _ = writeln!(w, "  - {} {}: {}", e.at, e.setting, e.note);
    }
    let _ = writeln!(
        w,
        "Keep copies: cp -a /etc/postfix /etc/dovecot /etc/default/saslauthd /root/classic-backup/"
    );

    // 1. saslauthd.
    let _ = writeln!(
        w,
        "\n## Step 1: password checks (cyrus saslauthd and Dovecot's auth for Postfix) -> mailroom-saslauthd"
    );
    let _ = writeln!(w, "Change:");
    if let Some(s) = sa.get("START") {
        let _ = writeln!(w, "  {}: `{}={}` -> `START=no`", s.at, s.key, s.value);
    }
    if sa.socket_dir().is_some() {
        let _ = writeln!(
            w,
            "  systemctl disable --now saslauthd   # mailroom-saslauthd takes over {run_dir}/mux"
        );
    }
    let sasl_type = pf.get("smtpd_sasl_type");
    if let Some(t) = sasl_type.filter(|t| t.value == "dovecot") {
        let path = pf.get("smtpd_sasl_path");
        match path {
            Some(p) => {
                let _ = writeln!(
                    w,
                    "  {}: `{} = {}` -> `smtpd_sasl_path = {run_dir}/auth`",
                    p.at, p.key, p.value
                );
            }
            None => {
                let _ = writeln!(w, "  main.cf: add `smtpd_sasl_path = {run_dir}/auth` (after {})", t.at);
            }
        }
        // smtpd processes that offer AUTH open the socket, from inside their chroot.
        let main_auth = pf.get("smtpd_sasl_auth_enable").is_some_and(|s| s.value == "yes");
        let auth = |svc: &&super::postfix::Service| {
            svc.get("smtpd_sasl_auth_enable").map_or(main_auth, |s| s.value == "yes")
        };
        for svc in pf.master.iter().filter(|s| s.command == "smtpd" && s.chroot != "n").filter(auth) {
            let _ = writeln!(
                w,
                "  {}: service `{}`: chroot column `{}` -> `n` (the socket is outside /var/spool/postfix)",
                svc.at, svc.name, svc.chroot
            );
        }
    }
    let _ = writeln!(
        w,
        "  systemctl enable --now mailroom-saslauthd.socket mailroom-saslauthd.service; postfix reload"
    );
    let _ = writeln!(w, "Verify:");
    let _ = writeln!(w, "  testsaslauthd -u USER@DOMAIN -p PASSWORD -f {run_dir}/mux   # 0: OK \"Success.\"");
    let _ = writeln!(w, "  mailroomctl --config FILE auth test USER@DOMAIN");
    let _ = writeln!(
        w,
        "  swaks --server 127.0.0.1:587 --tls --auth PLAIN --auth-user USER@DOMAIN --to USER@DOMAIN"
    );
    let _ = writeln!(w, "Roll back:");
    let _ = writeln!(w, "  systemctl disable --now mailroom-saslauthd.socket mailroom-saslauthd.service");
    let _ = writeln!(w, "  restore the lines above; systemctl enable --now saslauthd; postfix reload");

    // 2. MDA.
    let lmtp = cfg.mda.lmtp_socket.to_string();
    let _ = writeln!(w, "\n## Step 2: delivery (Dovecot LMTP) -> mailroom-mda, behind Postfix");
    let _ = writeln!(w, "Postfix keeps delivering to {lmtp}; only who listens there changes.");
    let _ = writeln!(w, "Change:");
    if let Some(p) = dc.get("protocols") {
        let rest: Vec<&str> = p.value.split_whitespace().filter(|w| *w != "lmtp").collect();
        let _ = writeln!(w, "  {}: `protocols = {}` -> `protocols = {}`", p.at, p.value, rest.join(" "));
    }
    let mut lmtp_lines: Vec<&super::source::Setting> =
        dc.settings.iter().filter(|s| s.key.starts_with(&format!("service lmtp{NEST}"))).collect();
    lmtp_lines.sort_by_key(|s| (s.at.file.clone(), s.at.line));
    if let (Some(first), Some(last)) = (lmtp_lines.first(), lmtp_lines.last()) {
        let _ = writeln!(
            w,
            "  {}: remove the `service lmtp {{ ... }}` block (its settings are lines {}-{}, and its braces)",
            first.at.file.display(),
            first.at.line,
            last.at.line
        );
    }
    let _ = writeln!(w, "  doveadm reload; systemctl enable --now mailroom-mda.socket mailroom-mda.service");
    if let Some(v) = pf.get("virtual_transport") {
        let _ = writeln!(w, "  (unchanged: {} `{} = {}`)", v.at, v.key, v.value);
    }
    let _ = writeln!(w, "Verify:");
    let _ = writeln!(
        w,
        "  swaks --server 127.0.0.1:25 --to USER@DOMAIN   # then: ls MAILDIR/new; postfix log shows status=sent"
    );
    let _ =
        writeln!(w, "  mailroomctl --config FILE migrate check   # the same UIDVALIDITY values as before");
    let _ = writeln!(w, "Roll back:");
    let _ = writeln!(
        w,
        "  systemctl disable --now mailroom-mda.socket mailroom-mda.service; restore the lines; doveadm reload"
    );

    // 3. MRA.
    let _ = writeln!(w, "\n## Step 3: IMAP and POP3 (Dovecot) -> mailroom-mra on the same Maildirs");
    let _ = writeln!(w, "Change:");
    let _ = writeln!(w, "  systemctl disable --now dovecot");
    let _ = writeln!(w, "  systemctl enable --now mailroom-mra.socket mailroom-mra.service");
    let listen: Vec<String> =
        cfg.mra.imap_listen.iter().chain(&cfg.mra.pop3_listen).map(|a| a.to_string()).collect();
    let _ = writeln!(w, "  (mailroom-mra listens on {})", listen.join(", "));
    let _ = writeln!(w, "Verify:");
    let _ = writeln!(w, "  a classic user logs in over IMAP with the old password; SELECT INBOX answers the");
    let _ = writeln!(
        w,
        "  UIDVALIDITY `migrate check` listed, and UID FETCH 1:* shows the UIDs Dovecot gave; POP3 UIDL unchanged"
    );
    let _ = writeln!(w, "Roll back:");
    let _ = writeln!(
        w,
        "  systemctl disable --now mailroom-mra.socket mailroom-mra.service; systemctl enable --now dovecot"
    );
    let _ = writeln!(w, "  (mailroom keeps dovecot-uidlist as Dovecot does: UIDs stay valid both ways)");

    // 4. MTA.
    let _ = writeln!(w, "\n## Step 4: SMTP (Postfix) -> mailroom-mta");
    let _ = writeln!(w, "Change:");
    let _ = writeln!(w, "  postqueue -f; wait until `postqueue -p` says the queue is empty");
    let _ = writeln!(w, "  systemctl disable --now postfix");
    let _ = writeln!(
        w,
        "  mailroom.toml: [mda] lmtp_socket = \"/run/mailroom/mda/lmtp\", lmtp_socket_owner = \"\", lmtp_socket_group = \"mailroom\";"
    );
    let _ = writeln!(
        w,
        "                [mta] lmtp = \"unix:/run/mailroom/mda/lmtp\" (mailroom-mta cannot enter Postfix's private/)"
    );
    let _ = writeln!(
        w,
        "  systemctl restart mailroom-mda; systemctl enable --now mailroom-mta.socket mailroom-mta.service"
    );
    let _ = writeln!(w, "  ln -sf /usr/bin/mailroomctl /usr/sbin/sendmail");
    let _ = writeln!(w, "Verify:");
    let _ = writeln!(
        w,
        "  swaks --server 127.0.0.1:25 --to USER@DOMAIN; mailroomctl queue list is empty afterwards"
    );
    let _ = writeln!(
        w,
        "  swaks --server 127.0.0.1:587 --tls --auth PLAIN --auth-user USER@DOMAIN --to someone@elsewhere"
    );
    let _ = writeln!(w, "Roll back:");
    let _ = writeln!(w, "  mailroomctl queue flush and wait for `queue list` to be empty;");
    let _ = writeln!(
        w,
        "  systemctl disable --now mailroom-mta.socket mailroom-mta.service; restore the [mda] lines;"
    );
    let _ = writeln!(
        w,
        "  systemctl restart mailroom-mda; systemctl enable --now postfix; restore /usr/sbin/sendmail"
    );
    out
}
