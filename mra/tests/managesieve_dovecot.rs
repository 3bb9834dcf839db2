//! mailroom-mra's ManageSieve and Pigeonhole's managesieve (Debian `dovecot-managesieved`)
//! take turns on one user's scripts, as a site moving from Dovecot has them: what mailroom-mra
//! uploads and activates, Dovecot lists, serves and reports active; what Dovecot uploads and
//! activates, mailroom-mra does. Both run as `nobody` when the test runs as root, as both run
//! as `vmail` in production. Python's `managesieve` (PyPI) is the client of both.

mod common;

use common::dovecot::{Dovecot, shared_maildir};
use common::{Mra, PASSWORD, database, python, require};

/// argv: port, password, then commands `put:NAME:TEXT`, `active:NAME`, `list`, `get:NAME`.
const CLIENT: &str = r#"
import sys, managesieve
m = managesieve.MANAGESIEVE("127.0.0.1", int(sys.argv[1]))
assert m.login("", "bob@b.test", sys.argv[2]) == "OK", m.response_text
for c in sys.argv[3:]:
    op, _, rest = c.partition(":")
    if op == "put":
        name, _, text = rest.partition(":")
        r = m.putscript(name, text)
        print(op, r, m.response_text if r != "OK" else "")
    elif op == "active":
        r = m.setactive(rest)
        print(op, r, m.response_text if r != "OK" else "")
    elif op == "list":
        typ, scripts = m.listscripts()
        print(op, typ, sorted(scripts))
    elif op == "get":
        print(op, m.getscript(rest))
m.logout()
"#;

fn client(port: u16, cmds: &[&str]) -> String {
    let port = port.to_string();
    let mut args = vec![port.as_str(), PASSWORD];
    args.extend_from_slice(cmds);
    python(CLIENT, &args)
}

#[tokio::test(flavor = "multi_thread")]
async fn pigeonhole_reads_what_we_write_and_back() {
    require("dovecot", &["--version"], "dovecot-core dovecot-managesieved");
    let have = std::process::Command::new("python3").args(["-c", "import managesieve"]).status().unwrap();
    if !have.success() {
        let pip = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "managesieve"])
            .status()
            .unwrap();
        assert!(pip.success(), "pip install managesieve");
    }
    let db = database().await;
    let (user, uid, root) = shared_maildir(&db, "bob");
    let sieve_port = common::free_port();
    let extra = format!(
        "protocols = pop3 imap sieve\n\
         service managesieve-login {{\n  inet_listener sieve {{\n    port = {sieve_port}\n  }}\n}}\n\
         plugin {{\n  sieve = file:~/sieve;active=~/.dovecot.sieve\n}}\n"
    );
    let mut dovecot = Dovecot::with(&root, uid, &extra);
    dovecot.start();
    let mra = Mra::start_as(&db, &user, "auth = \"direct\"");

    let ours = client(
        mra.managesieve,
        &["put:main:require \"fileinto\";\nfileinto \"Lists\";\n", "put:spare:keep;\n", "active:main"],
    );
    assert_eq!(ours, "put OK \nput OK \nactive OK \n", "{}", mra.log());
    let theirs = client(sieve_port, &["list", "get:main"]);
    assert_eq!(
        theirs,
        "list OK [('main', True), ('spare', False)]\n\
         get ('OK', 'require \"fileinto\";\\nfileinto \"Lists\";\\n')\n",
        "{}",
        dovecot.log()
    );

    let theirs =
        client(sieve_port, &["put:vacation:require \"vacation\";\nvacation \"away\";\n", "active:vacation"]);
    assert_eq!(theirs, "put OK \nactive OK \n", "{}", dovecot.log());
    let ours = client(mra.managesieve, &["list", "get:vacation"]);
    assert_eq!(
        ours,
        "list OK [('main', False), ('spare', False), ('vacation', True)]\n\
         get ('OK', 'require \"vacation\";\\nvacation \"away\";\\n')\n",
        "{}",
        mra.log()
    );
}
