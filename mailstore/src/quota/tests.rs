use super::*;
use std::fs;

const LIMIT: Quota = Quota { bytes: 10_000, messages: 10 };

fn usage_of(bytes: u64, messages: u64) -> Usage {
    Usage { bytes, messages }
}

#[test]
fn parse_limits_table() {
    for (line, want) in [
        ("0S", Some(Quota { bytes: 0, messages: 0 })),
        ("1000S", Some(Quota { bytes: 1000, messages: 0 })),
        ("1000S,20C", Some(Quota { bytes: 1000, messages: 20 })),
        ("20C", Some(Quota { bytes: 0, messages: 20 })),
        ("20C,1000S", Some(Quota { bytes: 1000, messages: 20 })),
        ("", None),
        ("1000", None),
        ("S", None),
        ("-5S", None),
        ("1000X", None),
        ("1000S,", None),
        ("1000 S", None),
    ] {
        assert_eq!(parse_limits(line), want, "{line:?}");
    }
}

#[test]
fn limits_line_round_trips() {
    for q in [
        Quota { bytes: 0, messages: 0 },
        Quota { bytes: 5, messages: 0 },
        Quota { bytes: 0, messages: 7 },
        Quota { bytes: 5, messages: 7 },
    ] {
        assert_eq!(parse_limits(&limits_line(q)), Some(q));
    }
    assert_eq!(limits_line(Quota::default()), "0S");
}

#[test]
fn parse_sums_deltas() {
    let file = b"10000S,10C\n4000 3\n1200 1\n-800 -1\n";
    let p = parse(file, LIMIT).unwrap();
    assert_eq!(p, Parsed { usage: usage_of(4400, 3), deltas: 3, over: false });
}

#[test]
fn parse_ignores_an_unfinished_last_line() {
    let p = parse(b"10000S,10C\n4000 3\n99", LIMIT).unwrap();
    assert_eq!(p.usage, usage_of(4000, 3));
}

#[test]
fn parse_says_rebuild() {
    for (why, file) in [
        ("empty", &b""[..]),
        ("header only", b"10000S,10C\n"),
        ("other limits", b"20000S,10C\n1 1\n"),
        ("limits missing count", b"10000S\n1 1\n"),
        ("bad header", b"lots\n1 1\n"),
        ("NUL", b"10000S,10C\n1 1\n\0\n"),
        ("bad delta", b"10000S,10C\n1 1\nx y\n"),
        ("one field", b"10000S,10C\n1\n"),
        ("three fields", b"10000S,10C\n1 1 1\n"),
        ("empty line", b"10000S,10C\n1 1\n\n2 2\n"),
        ("negative bytes", b"10000S,10C\n100 1\n-200 0\n"),
        ("negative count", b"10000S,10C\n100 1\n0 -2\n"),
        ("overflow", b"10000S,10C\n9223372036854775807 1\n1 0\n"),
    ] {
        assert_eq!(parse(file, LIMIT), None, "{why}");
    }
}

#[test]
fn parse_flags_over_quota() {
    assert!(parse(b"10000S,10C\n10001 1\n", LIMIT).unwrap().over);
    assert!(parse(b"10000S,10C\n1 11\n", LIMIT).unwrap().over);
    assert!(!parse(b"10000S,10C\n10000 10\n", LIMIT).unwrap().over);
    let unlimited = Quota::default();
    assert!(!parse(b"0S\n99999999 9999\n", unlimited).unwrap().over);
}

/// A Maildir with `maildirsize` written by hand and, in `cur/`, messages worth 300 bytes.
fn maildir_with(file: &str) -> (tempfile::TempDir, Maildir) {
    let tmp = tempfile::tempdir().unwrap();
    let md = Maildir::new(tmp.path().join("Maildir"));
    md.create().unwrap();
    fs::write(md.root().join("cur/1.M1P1.h,S=100,W=104:2,S"), vec![b'x'; 100]).unwrap();
    fs::write(md.root().join("cur/2.M1P1.h,S=200,W=210:2,"), vec![b'x'; 200]).unwrap();
    fs::write(md.root().join(MAILDIRSIZE), file).unwrap();
    (tmp, md)
}

fn file_of(md: &Maildir) -> String {
    fs::read_to_string(md.root().join(MAILDIRSIZE)).unwrap()
}

#[test]
fn usage_trusts_a_good_file() {
    // Deliberately unlike the directory, to see that the file was believed.
    let (_t, md) = maildir_with("10000S,10C\n5000 2\n120 1\n");
    assert_eq!(usage(&md, LIMIT).unwrap(), usage_of(5120, 3));
    assert_eq!(file_of(&md), "10000S,10C\n5000 2\n120 1\n");
}

#[test]
fn usage_rebuilds_on_each_trigger() {
    let big = format!("10000S,10C\n{}", "1 0\n".repeat(1280)); // 5131 bytes
    for (why, file) in [
        ("other limits", "999S\n5000 2\n".to_owned()),
        ("NUL", "10000S,10C\n5000 2\n\0\n".to_owned()),
        ("negative", "10000S,10C\n5000 2\n-6000 -1\n".to_owned()),
        ("garbage", "what is this\n".to_owned()),
        ("over quota, two deltas", "10000S,10C\n9000 2\n2000 1\n".to_owned()),
        ("5120 bytes or more", big),
    ] {
        let (_t, md) = maildir_with(&file);
        assert_eq!(usage(&md, LIMIT).unwrap(), usage_of(300, 2), "{why}");
        assert_eq!(file_of(&md), "10000S,10C\n300 2\n", "{why}");
    }
}

#[test]
fn usage_rebuilds_a_missing_file() {
    let (_t, md) = maildir_with("");
    fs::remove_file(md.root().join(MAILDIRSIZE)).unwrap();
    assert_eq!(usage(&md, LIMIT).unwrap(), usage_of(300, 2));
    assert_eq!(file_of(&md), "10000S,10C\n300 2\n");
}

#[test]
fn over_quota_single_line_is_believed_while_fresh_only() {
    let (_t, md) = maildir_with("10000S,10C\n11000 2\n");
    assert_eq!(usage(&md, LIMIT).unwrap(), usage_of(11000, 2));
    let file = fs::File::options().write(true).open(md.root().join(MAILDIRSIZE)).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(16 * 60)).unwrap();
    drop(file);
    assert_eq!(usage(&md, LIMIT).unwrap(), usage_of(300, 2));
}

#[test]
fn rebuild_counts_folders_and_stats_unsized_names() {
    let (_t, md) = maildir_with("garbage\n");
    let folder = crate::FolderName::new("Lists/Rust").unwrap();
    md.create_folder(&folder).unwrap();
    let dir = md.folder_path(Some(&folder));
    fs::write(dir.join("new/3.M1P1.h,S=1000,W=1010"), b"").unwrap();
    fs::write(dir.join("cur/4.M1P1.h:2,S"), vec![b'y'; 42]).unwrap(); // no S=: stat
    fs::write(md.root().join("tmp/5.M1P1.h"), vec![b'z'; 999]).unwrap(); // tmp/ never counts
    assert_eq!(usage(&md, LIMIT).unwrap(), usage_of(1342, 4));
}

#[test]
fn check_under_at_over() {
    let (_t, md) = maildir_with("10000S,10C\n9000 9\n");
    assert!(check(&md, LIMIT, 999).is_ok());
    assert!(check(&md, LIMIT, 1000).is_ok(), "reaching the limit exactly is fine");
    match check(&md, LIMIT, 1001) {
        Err(QuotaError::Over(o)) => {
            assert_eq!(o, OverQuota { usage: usage_of(9000, 9), limit: LIMIT, incoming: 1001 })
        }
        other => panic!("{other:?}"),
    }
    let (_t, md) = maildir_with("10000S,10C\n100 10\n");
    assert!(matches!(check(&md, LIMIT, 1), Err(QuotaError::Over(_))), "message count");
    let unlimited = Quota::default();
    assert!(check(&md, unlimited, u64::MAX).is_ok());
}

#[test]
fn check_adding_several_messages() {
    let (_t, md) = maildir_with("10000S,10C\n9000 8\n");
    assert!(check_adding(&md, LIMIT, 1000, 2).is_ok(), "both limits reached exactly");
    assert!(matches!(check_adding(&md, LIMIT, 1000, 3), Err(QuotaError::Over(_))), "one message too many");
    assert!(matches!(check_adding(&md, LIMIT, 1001, 1), Err(QuotaError::Over(_))), "one byte too many");
}

#[test]
fn add_appends_one_line() {
    let (_t, md) = maildir_with("10000S,10C\n300 2\n");
    add(&md, LIMIT, 1234, 1).unwrap();
    add(&md, LIMIT, -100, -1).unwrap();
    add(&md, LIMIT, 0, 0).unwrap();
    assert_eq!(file_of(&md), "10000S,10C\n300 2\n1234 1\n-100 -1\n");
    assert_eq!(usage(&md, LIMIT).unwrap(), usage_of(1434, 2));
}

#[test]
fn add_rebuilds_instead_when_the_file_is_bad() {
    let (_t, md) = maildir_with("999S\n1 1\n");
    // The message is already in the Maildir when add() is called; the rebuild counts it.
    fs::write(md.root().join("new/9.M1P1.h,S=50,W=52"), b"").unwrap();
    add(&md, LIMIT, 50, 1).unwrap();
    assert_eq!(file_of(&md), "10000S,10C\n350 3\n");
}

#[test]
fn rebuild_writes_unlimited_as_0s() {
    let (_t, md) = maildir_with("garbage\n");
    assert_eq!(usage(&md, Quota::default()).unwrap(), usage_of(300, 2));
    assert_eq!(file_of(&md), "0S\n300 2\n");
    assert!(fs::read_dir(md.root().join("tmp")).unwrap().next().is_none());
}
