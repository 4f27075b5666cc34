//! The `stoplist` binary as an operator uses it: real processes, a fresh SQLite file each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_stoplist");

fn run(db: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--database")
        .arg(db)
        .args(args)
        .env_remove("STOPLIST_ACCOUNT")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run stoplist")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn last_line(o: &Output) -> String {
    stdout(o).lines().last().unwrap_or("").to_owned()
}

#[test]
fn account_and_api_key_creation_end_with_the_id_and_the_key() {
    let db = stoplist_store::testing::sqlite_url();
    let o = run(&db, &["account", "create", "Acme Pty Ltd"]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        last_line(&o).parse::<i64>().is_ok(),
        "last line is the id: {:?}",
        stdout(&o)
    );
    let o = run(
        &db,
        &[
            "api-key",
            "create",
            "--account",
            "Acme Pty Ltd",
            "--name",
            "crm",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let key = last_line(&o);
    assert!(key.starts_with("sl_") && key.len() == 43, "{key}");
    let o = run(&db, &["api-key", "list", "--account", "Acme Pty Ltd"]);
    assert!(
        stdout(&o).contains("crm") && !stdout(&o).contains(&key),
        "keys are never shown again"
    );
    let o = run(&db, &["account", "list"]);
    assert!(stdout(&o).contains("Acme Pty Ltd"));
    let o = run(&db, &["api-key", "create", "--account", "Nobody"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no account named \"Nobody\""));
}

#[test]
fn opt_outs_are_added_checked_listed_and_removed_from_the_cli() {
    let db = stoplist_store::testing::sqlite_url();
    run(&db, &["account", "create", "default"]);
    let o = run(
        &db,
        &[
            "optouts",
            "add",
            "0412 345 678",
            "+64 21 123 4567",
            "--evidence",
            "phone call",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("+61412345678\topted out"));
    let o = run(&db, &["optouts", "add", "0412345678", "12"]);
    assert!(!o.status.success(), "an invalid number fails the command");
    assert!(stdout(&o).contains("already opted out"));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("too short"),
        "{o:?}"
    );

    let o = run(
        &db,
        &["optouts", "check", "61412345678", "0499000111", "hello"],
    );
    let out = stdout(&o);
    assert!(out.contains("+61412345678\topted out since"), "{out}");
    assert!(out.contains("+61499000111\tnot opted out"));
    assert!(out.contains("hello\tinvalid: not a number"));

    let o = run(&db, &["optouts", "list"]);
    assert_eq!(stdout(&o).lines().count(), 2);

    let o = run(&db, &["optouts", "remove", "0412345678", "--reason", ""]);
    assert!(!o.status.success(), "a reason is required");
    let o = run(
        &db,
        &[
            "optouts",
            "remove",
            "0412345678",
            "--reason",
            "asked to resubscribe",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let o = run(&db, &["optouts", "check", "0412345678"]);
    assert!(stdout(&o).contains("not opted out"));
}

#[test]
fn verify_ledger_passes_an_intact_chain_and_catches_tampering() {
    let path = stoplist_store::testing::sqlite_url();
    run(&path, &["account", "create", "default"]);
    run(
        &path,
        &["optouts", "add", "0412345601", "0412345602", "0412345603"],
    );
    let o = run(&path, &["verify-ledger"]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        stdout(&o).contains("ledger intact (3 events"),
        "{}",
        stdout(&o)
    );

    // An attacker with write access to the file drops the guard and edits an event.
    let file = path.trim_start_matches("sqlite://");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = stoplist_store::SqliteStore::open(&path).await.unwrap();
        sqlx::raw_sql("DROP TRIGGER optout_events_no_update; UPDATE optout_events SET number = '+61400000000' WHERE seq = 2")
            .execute(store.pool())
            .await
            .unwrap();
    });
    assert!(std::path::Path::new(file).exists());
    let o = run(&path, &["verify-ledger"]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("LEDGER BROKEN: event seq 2"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn the_ledger_refuses_edits_while_its_guard_is_in_place() {
    let path = stoplist_store::testing::sqlite_url();
    run(&path, &["account", "create", "default"]);
    run(&path, &["optouts", "add", "0412345601"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt.block_on(async {
        let store = stoplist_store::SqliteStore::open(&path).await.unwrap();
        sqlx::query("DELETE FROM optout_events")
            .execute(store.pool())
            .await
            .unwrap_err()
    });
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[test]
fn an_unknown_database_url_is_a_clear_error() {
    let o = run("mysql://localhost/x", &["account", "list"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unsupported database URL") && err.contains("sqlite://"),
        "{err}"
    );
}

#[test]
fn config_example_prints_a_commented_file() {
    let o = Command::new(BIN)
        .args(["config", "example"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(stdout(&o).contains("database_url = \"sqlite://stoplist.db\""));
}

#[test]
fn serve_on_a_fresh_database_prints_the_login_once_and_answers() {
    let db = stoplist_store::testing::sqlite_url();
    let mut child = Command::new(BIN)
        .args([
            "--database",
            &db,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--demo",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut address = None;
    let mut password = None;
    for line in lines.by_ref().take(10) {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("stoplist is listening on ") {
            address = Some(rest.trim().to_owned());
        }
        if let Some(i) = line.find("password: ") {
            password = Some(line[i + 10..].trim().to_owned());
            break;
        }
    }
    let address = address.expect("address printed");
    assert!(password.is_some_and(|p| p.len() >= 8), "password printed");
    let health = reqwest::blocking_get(&format!("{address}healthz"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(health, "ok\n");

    // Second start: the login is not printed again.
    let mut child = Command::new(BIN)
        .args(["--database", &db, "serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap())
        .take_while(|l| !l.starts_with("Log in at"))
        .take(10)
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(lines.iter().all(|l| !l.contains("password")), "{lines:?}");
}

mod reqwest {
    /// A tiny blocking GET for the one test that runs the server as a child process.
    pub fn blocking_get(url: &str) -> String {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async { ::reqwest::get(url).await.unwrap().text().await.unwrap() })
    }
}

#[test]
fn an_operator_manages_users_and_keys_with_roles_from_the_cli() {
    let db = stoplist_store::testing::sqlite_url();
    assert!(run(&db, &["account", "create", "default"]).status.success());
    let add = |login: &str, role: &str| {
        Command::new(BIN)
            .args([
                "--database",
                &db,
                "user",
                "add",
                "--login",
                login,
                "--role",
                role,
            ])
            .env("STOPLIST_PASSWORD", "password one")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let o = add("olga", "owner");
    assert!(o.status.success(), "{o:?}");
    assert!(
        stdout(&o).contains("created owner \"olga\""),
        "{}",
        stdout(&o)
    );
    assert!(add("vic", "viewer").status.success());
    let o = add("bad", "admin");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("viewer, manager or owner"));
    let list = stdout(&run(&db, &["user", "list"]));
    assert!(
        list.contains("olga\towner\tactive") && list.contains("vic\tviewer\tactive"),
        "{list}"
    );

    assert!(
        run(&db, &["user", "role", "vic", "manager"])
            .status
            .success()
    );
    assert!(run(&db, &["user", "disable", "vic"]).status.success());
    let list = stdout(&run(&db, &["user", "list"]));
    assert!(list.contains("vic\tmanager\tdisabled"), "{list}");
    assert!(run(&db, &["user", "enable", "vic"]).status.success());
    // The last owner stays: the message says what to do.
    let o = run(&db, &["user", "role", "olga", "viewer"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("make another user an owner first"),
        "{o:?}"
    );
    let o = run(&db, &["user", "delete", "nobody"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no user \"nobody\""),
        "{o:?}"
    );
    assert!(run(&db, &["user", "logout", "vic"]).status.success());
    assert!(run(&db, &["user", "delete", "vic"]).status.success());
    assert!(!stdout(&run(&db, &["user", "list"])).contains("vic"));

    // Keys carry a role (default manager); the list shows it.
    assert!(
        run(
            &db,
            &["api-key", "create", "--name", "auditor", "--role", "viewer"]
        )
        .status
        .success()
    );
    assert!(
        run(&db, &["api-key", "create", "--name", "crm"])
            .status
            .success()
    );
    let keys = stdout(&run(&db, &["api-key", "list"]));
    assert!(
        keys.contains("auditor\tsl_") && keys.contains("\tviewer\tactive"),
        "{keys}"
    );
    assert!(keys.contains("\tmanager\tactive"), "{keys}");
}
