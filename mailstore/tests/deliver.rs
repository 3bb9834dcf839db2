//! Delivery into real directories: names, content, sizes, folders, concurrency, failures.

mod support;

use std::fs;
use std::sync::Arc;

use mailstore::{DeliverError, FolderName, Maildir, Quota, QuotaError, quota};
use support::{FailingReader, Lines, names};

const PREFIX: &[u8] = b"Return-Path: <alice@example.org>\r\nDelivered-To: bob@example.net\r\n";
const BODY: &[u8] = b"Subject: hello\r\n\r\nHi Bob,\r\nbare\rCR and bare\nLF\r\n";

#[test]
fn inbox_delivery_is_lf_with_hand_counted_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let md = Maildir::new(tmp.path().join("example.net/bob/Maildir"));
    let d = md.deliver(None, PREFIX, &mut &BODY[..]).unwrap();

    let want = "Return-Path: <alice@example.org>\nDelivered-To: bob@example.net\n\
                Subject: hello\n\nHi Bob,\nbare\rCR and bare\nLF\n";
    assert_eq!(fs::read(&d.path).unwrap(), want.as_bytes());
    // Lines: 32 + 28 + 14 + 0 + 7 + 17 ("bare\rCR and bare") + 2, each plus LF: 100 + 7 = 107
    // bytes; virtually every one of the 7 LFs is CRLF: 114. The bare CR counts once either way.
    assert_eq!((d.size, d.vsize), (107, 114));
    let name = d.path.file_name().unwrap().to_str().unwrap();
    assert!(name.ends_with(",S=107,W=114"), "{name}");
    assert_eq!(d.path.parent().unwrap(), md.root().join("new"));
    assert!(names(&md.root().join("tmp")).is_empty());
    assert!(names(&md.root().join("cur")).is_empty());
}

#[test]
fn an_empty_message_is_still_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let md = Maildir::new(tmp.path().join("Maildir"));
    let d = md.deliver(None, b"", &mut &b""[..]).unwrap();
    assert_eq!((d.size, d.vsize), (0, 0));
    assert!(d.path.to_str().unwrap().ends_with(",S=0,W=0"));
}

#[test]
fn folder_delivery_creates_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let md = Maildir::new(tmp.path().join("Maildir"));
    let rust = FolderName::new("Lists/Rust").unwrap();
    let d = md.deliver(Some(&rust), PREFIX, &mut &BODY[..]).unwrap();
    let dir = md.root().join(".Lists.Rust");
    assert_eq!(d.path.parent().unwrap(), dir.join("new"));
    assert!(dir.join("maildirfolder").is_file());
    assert!(md.root().join("cur").is_dir(), "INBOX exists too");
    assert!(md.folder_exists(&rust).unwrap());

    let drafts = FolderName::new("Entwürfe").unwrap();
    let d = md.deliver(Some(&drafts), b"", &mut &BODY[..]).unwrap();
    assert_eq!(d.path.parent().unwrap(), md.root().join(".Entw&APw-rfe/new"));
    assert!(md.root().join(".Entw&APw-rfe/maildirfolder").is_file());
}

#[test]
fn concurrent_deliveries_all_land() {
    let tmp = tempfile::tempdir().unwrap();
    let md = Arc::new(Maildir::new(tmp.path().join("Maildir")));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let md = Arc::clone(&md);
            std::thread::spawn(move || {
                (0..50)
                    .map(|j| md.deliver(None, b"", &mut format!("n {i} {j}\r\n").as_bytes()).unwrap())
                    .count()
            })
        })
        .collect();
    let delivered: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(delivered, 400);
    assert_eq!(names(&md.root().join("new")).len(), 400, "distinct names");
    assert!(names(&md.root().join("tmp")).is_empty());
}

#[test]
fn a_big_message_streams() {
    let tmp = tempfile::tempdir().unwrap();
    let md = Maildir::new(tmp.path().join("Maildir"));
    let lines = 200_000; // 16 MB on the wire
    let d = md.deliver(None, b"", &mut Lines::new(lines)).unwrap();
    assert_eq!((d.size, d.vsize), (lines * 79, lines * 80));
    assert_eq!(fs::metadata(&d.path).unwrap().len(), lines * 79);
}

#[test]
fn a_failing_input_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let md = Maildir::new(tmp.path().join("Maildir"));
    // More than one write buffer gets to disk before the failure.
    let mut body = FailingReader { inner: Lines::new(10_000), good: 300_000 };
    let err = md.deliver(None, PREFIX, &mut body).unwrap_err();
    assert!(matches!(err, DeliverError::Temporary(_)), "{err}");
    assert!(!err.is_storage_full());
    assert!(names(&md.root().join("new")).is_empty());
    assert!(names(&md.root().join("tmp")).is_empty());
}

#[test]
fn a_file_in_the_way_cannot_be_created() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("bob"), b"not a directory").unwrap();
    let md = Maildir::new(tmp.path().join("bob/Maildir"));
    let err = md.deliver(None, b"", &mut &BODY[..]).unwrap_err();
    assert!(matches!(err, DeliverError::CannotCreate { .. }), "{err}");

    let md = Maildir::new(tmp.path().join("Maildir"));
    md.create().unwrap();
    fs::write(md.root().join(".Junk"), b"a file named like a folder").unwrap();
    let junk = FolderName::new("Junk").unwrap();
    let err = md.deliver(Some(&junk), b"", &mut &BODY[..]).unwrap_err();
    assert!(matches!(err, DeliverError::CannotCreate { .. }), "{err}");
}

#[test]
fn folder_names_never_escape_the_maildir() {
    for name in [
        "..",
        "../x",
        "x/..",
        "x/../../etc",
        ".",
        "./x",
        "/etc/passwd",
        "x//y",
        "",
        "a\0b",
        "a\nb",
        ".x",
        "x.",
        "INBOX",
    ] {
        assert!(FolderName::new(name).is_err(), "{name:?} accepted");
    }
    let tmp = tempfile::tempdir().unwrap();
    let md = Maildir::new(tmp.path().join("Maildir"));
    for name in ["a/b/c", "~x", "$HOME", "a b", "\\", "x:y", "*", "%"] {
        let folder = FolderName::new(name).unwrap();
        let path = md.folder_path(Some(&folder));
        assert_eq!(path.parent().unwrap(), md.root(), "{name:?}");
        assert!(path.file_name().unwrap().to_str().unwrap().starts_with('.'));
    }
}

#[test]
fn quota_around_a_delivery() {
    let tmp = tempfile::tempdir().unwrap();
    let md = Maildir::new(tmp.path().join("Maildir"));
    let limit = Quota { bytes: 250, messages: 0 };
    for _ in 0..2 {
        quota::check(&md, limit, BODY.len() as u64).unwrap();
        let d = md.deliver(None, PREFIX, &mut &BODY[..]).unwrap();
        quota::add(&md, limit, d.size as i64, 1).unwrap();
    }
    let usage = quota::usage(&md, limit).unwrap();
    assert_eq!((usage.bytes, usage.messages), (214, 2));
    assert!(matches!(quota::check(&md, limit, 37), Err(QuotaError::Over(_))));
    assert!(quota::check(&md, limit, 36).is_ok());
    // The first check found no file and built it; add() then appended to it.
    assert_eq!(fs::read_to_string(md.root().join("maildirsize")).unwrap(), "250S\n0 0\n107 1\n107 1\n");
}
