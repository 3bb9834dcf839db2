//! The DNS records page of a domain over HTTPS against the real binary, its live check asking
//! a DNS server on loopback (the outbound tests' zone server) through `[mta] dns_servers`:
//! who may see it, the records it asks for (the DKIM key from `[mta.dkim]`'s key file), and
//! what it says about published, different and missing records.

mod common;

#[path = "../../mta/tests/outbound_support/dns.rs"]
mod dnsserver;

use base64::Engine as _;
use common::*;
use dnsserver::Rr;
use testsupport::Backend;

/// PEM armour of a PKCS#1 private key (what `mailroomctl dkim keygen` writes).
fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect();
    format!("-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n", lines.join("\n"))
}

/// The text of the "DNS answers now" cell of the row for `name` and `kind`.
fn status<'a>(body: &'a str, name: &str, kind: &str) -> &'a str {
    let row = format!("<td>{name}</td><td>{kind}</td>");
    let at = body.find(&row).unwrap_or_else(|| panic!("no row {name} {kind}: {body}"));
    let cell = &body[at..];
    let start = cell.find("<td class=\"check\">").unwrap() + "<td class=\"check\">".len();
    &cell[start..start + cell[start..].find("</td>").unwrap()]
}

#[tokio::test]
async fn records_and_their_live_check() {
    let db = database(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let pair = mail_auth::dkim::generate::DkimKeyPair::generate_rsa(1024).unwrap();
    let key_file = dir.path().join("a.test.mail.pem");
    std::fs::write(&key_file, pem(pair.private_key())).unwrap();
    let dkim = mailroom_mta::qmgr::dkim::key_file_record(key_file.to_str().unwrap()).unwrap();
    // The record is the SubjectPublicKeyInfo of the key pair's public key.
    let p = dkim.strip_prefix("v=DKIM1; k=rsa; p=").unwrap();
    let spki = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
    assert!(spki.ends_with(pair.public_key()) && spki[0] == 0x30, "{dkim}");

    let server = dnsserver::serve(&[
        ("a.test", Rr::Mx(10, "mail.a.test")),
        ("mail.a.test", Rr::A(std::net::Ipv4Addr::LOCALHOST)),
        ("a.test", Rr::Txt("v=spf1 a -all".into())),
        ("mail._domainkey.a.test", Rr::Txt(dkim.clone())),
        ("_dmarc.a.test", Rr::Txt("v=DMARC1; p=quarantine; rua=mailto:postmaster@a.test".into())),
        ("_imaps._tcp.a.test", Rr::Srv(5, 0, 993, "mail.a.test")),
        ("_smtp._tls.a.test", Rr::Txt("v=TLSRPTv1; rua=mailto:tls@elsewhere.example".into())),
    ]);
    let extra = format!(
        "\n[mta]\ndns_servers = [\"{server}\"]\n\n[mta.dkim.\"a.test\"]\nselector = \"mail\"\nkey_file = \"{}\"\n",
        key_file.display()
    );
    let web = Web::start(&db, &extra);
    let mut b = sessions(&web).await;
    get_matrix(&mut b, "/admin/domains/a.test/dns", [303, 403, 403, 200, 200]).await;
    get_matrix(&mut b, "/admin/domains/b.test/dns", [303, 403, 200, 403, 200]).await;

    let page = b[3].get("/admin/domains/a.test/dns").await.body;
    assert_eq!(status(&page, "a.test", "MX"), "published", "{page}");
    assert!(status(&page, "a.test", "TXT").starts_with("differs: <br><code>v=spf1 a -all</code>"), "{page}");
    assert_eq!(status(&page, "mail._domainkey.a.test", "TXT"), "published");
    assert_eq!(status(&page, "_dmarc.a.test", "TXT"), "published");
    // SRV: priority and weight are the admin's choice; port and target count.
    assert_eq!(status(&page, "_imaps._tcp.a.test", "SRV"), "published");
    assert!(status(&page, "_smtp._tls.a.test", "TXT").starts_with("differs:"));
    assert_eq!(status(&page, "_mta-sts.a.test", "TXT"), "missing");
    assert_eq!(status(&page, "autoconfig.a.test", "CNAME"), "missing");
    // The zone file lines to paste, the key's record among them.
    assert!(page.contains(&format!("mail._domainkey.a.test. IN TXT &quot;{dkim}&quot;")), "{page}");
    assert!(page.contains("a.test. IN MX 10 mail.a.test."), "{page}");

    // b.test has no key: the page says how to make one.
    let page = b[4].get("/admin/domains/b.test/dns").await.body;
    assert!(page.contains("mailroomctl dkim keygen b.test"), "{page}");
    assert_eq!(status(&page, "b.test", "MX"), "missing");
    drop(b);
}
