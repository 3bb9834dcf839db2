//! The admin's mail queue over HTTPS against the real binary, on a real mailroom-mta spool
//! written with the MTA's own queue code: who sees which message, and hold, release, requeue
//! and delete as `mailroomctl queue` does them. No mailroom-mta runs here: changes are picked
//! up at its next scan, and a flush, which needs it, answers 503 (try again).

mod common;

use common::*;
use mailroom_mta::queue::{Envelope, Notify, QueueId, Recipient, Spool, Transport};
use testsupport::Backend;

async fn enqueue(spool: &Spool, sender: &str, rcpt: &str) -> String {
    let env = Envelope {
        id: QueueId::generate(),
        arrival: 1_796_990_400,
        sender: sender.into(),
        ret: None,
        envid: None,
        body_8bit: false,
        smtputf8: false,
        requiretls: false,
        client: "[192.0.2.1]".into(),
        helo: "client.example".into(),
        auth: None,
        recipients: vec![Recipient {
            address: rcpt.into(),
            transport: Transport::Remote,
            orcpt: None,
            notify: Notify::DEFAULT,
        }],
    };
    let mut incoming = spool.create(env).unwrap();
    incoming
        .write(
            format!("From: {sender}\r\nTo: {rcpt}\r\nSubject: <queued & waiting>\r\n\r\nbody\r\n").as_bytes(),
        )
        .unwrap();
    spool.commit(incoming).await.unwrap().as_str().to_string()
}

#[tokio::test]
async fn queue_per_role() {
    let db = database(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let spool = Spool::open(&spool_dir).unwrap();
    let from_a = enqueue(&spool, "bob@a.test", "someone@remote.example").await;
    let to_b = enqueue(&spool, "x@remote.example", "bob@b.test").await;
    let extra = format!(
        "\n[mta]\nspool_dir = \"{}\"\ncontrol_socket = \"{}\"\n",
        spool_dir.display(),
        dir.path().join("no-mta").display()
    );
    let web = Web::start(&db, &extra);
    let mut b = sessions(&web).await;

    get_matrix(&mut b, "/admin/queue", [303, 403, 200, 200, 200]).await;
    get_matrix(&mut b, &format!("/admin/queue/{from_a}"), [303, 403, 404, 200, 200]).await;
    get_matrix(&mut b, &format!("/admin/queue/{to_b}"), [303, 403, 200, 404, 200]).await;
    get_matrix(&mut b, "/admin/queue/not-an-id", [303, 403, 404, 404, 404]).await;
    // Each domain admin's list holds their domains' messages only; the superadmin's all.
    let seen_by_a = b[3].get("/admin/queue").await.body;
    assert!(seen_by_a.contains(&from_a) && !seen_by_a.contains(&to_b), "{seen_by_a}");
    let seen_by_b = b[2].get("/admin/queue").await.body;
    assert!(seen_by_b.contains(&to_b) && !seen_by_b.contains(&from_a), "{seen_by_b}");
    let all = b[4].get("/admin/queue").await.body;
    assert!(all.contains(&to_b) && all.contains(&from_a) && all.contains("Try every deferred"), "{all}");
    assert!(!seen_by_a.contains("Try every deferred"), "flush is the superadmin's");
    // The message is shown escaped.
    let shown = b[3].get(&format!("/admin/queue/{from_a}")).await.body;
    assert!(shown.contains("Subject: &lt;queued &amp; waiting&gt;"), "{shown}");

    let none = |_| kv(&[]);
    post_matrix(&mut b, &format!("/admin/queue/{from_a}/hold"), none, [403, 403, 404, 303, 303]).await;
    let id = QueueId::parse(&from_a).unwrap();
    assert!(spool.read_state(&id).unwrap().held, "held in the spool");
    assert!(b[3].get("/admin/queue").await.body.contains(">held<"));
    post_matrix(&mut b, &format!("/admin/queue/{from_a}/release"), none, [403, 403, 404, 303, 303]).await;
    let state = spool.read_state(&id).unwrap();
    assert!(!state.held && state.next_attempt == 0, "{state:?}");
    post_matrix(&mut b, &format!("/admin/queue/{from_a}/requeue"), none, [403, 403, 404, 303, 303]).await;
    post_matrix(&mut b, &format!("/admin/queue/{from_a}/bogus"), none, [403, 403, 404, 404, 404]).await;
    // The other domain's admin cannot delete it; its own admin can, once.
    post_matrix(&mut b, &format!("/admin/queue/{to_b}/delete"), none, [403, 403, 303, 404, 404]).await;
    assert_eq!(spool.ids().unwrap().len(), 1);
    assert!(spool.peek(&QueueId::parse(&to_b).unwrap()).unwrap().is_none());
    // Flushing needs mailroom-mta, which is not running: a temporary answer.
    post_matrix(&mut b, "/admin/queue/flush", none, [403, 403, 403, 403, 503]).await;

    let log = db.dir.log_rows(None, 100).await.unwrap();
    let actions: Vec<(&str, &str)> = log.iter().map(|r| (r[1].as_str(), r[3].as_str())).collect();
    for (who, what) in [
        ("boss@a.test (127.0.0.1)", "queue_hold"),
        ("root@admin.test (127.0.0.1)", "queue_release"),
        ("boss@b.test (127.0.0.1)", "queue_delete"),
    ] {
        assert!(actions.contains(&(who, what)), "{who} {what}: {actions:?}");
    }
    drop(b);
}
