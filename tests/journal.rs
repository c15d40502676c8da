//! The server's journal: a hash chain of signed entries that every receipt commits to; the
//! audit that replays it alone and pinpoints every row changed behind the server's back; and
//! `netbill-ledger unwind`, which restores every balance.

use atomic_commerce::doc::Signed;
use atomic_commerce::ledger::journal::Entry;
use rusqlite::Connection;
use serde_json::Value;

use crate::common::World;
use crate::common::pg::PgDb;

/// Runs netbill-ledger on `spec`; returns the exit status, stdout and stderr.
fn ledger(world: &World, spec: &str, args: &[&str]) -> (i32, String, String) {
    let out =
        world.tool("netbill-ledger").args(["--ledger", spec, "--key", "netbill.key"]).args(args).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// What a user sees of the books: balances and both statements.
fn books(world: &World, spec: &str) -> Vec<String> {
    ["balance alice", "balance bookshop", "statement alice", "statement bookshop"]
        .iter()
        .map(|args| {
            let (code, out, err) = ledger(world, spec, &args.split(' ').collect::<Vec<_>>());
            assert_eq!(code, 0, "{args}: {err}");
            out
        })
        .collect()
}

/// Settles a purchase at `price`; returns the receipt.
fn purchase(world: &World, spec: &str, price: &str, code: i32) -> Value {
    let p = world.purchase(price, b"goods");
    let out = world.settle_on(spec, &world.write("request.json", p.endorsed.to_json_pretty()));
    assert_eq!(out.status.code(), Some(code), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn audit(world: &World, spec: &str) -> (i32, Value) {
    let (code, out, _) = ledger(world, spec, &["audit"]);
    (code, serde_json::from_str(&out).unwrap())
}

/// Makes a plan (from `from`), checks it names `needle`, applies it, and checks the audit is
/// clean again.
fn unwind(world: &World, spec: &str, from: Option<&str>, needle: &str) -> Value {
    let mut args = vec!["unwind"];
    args.extend(from.iter().flat_map(|f| ["--from", f]));
    let (code, plan, err) = ledger(world, spec, &args);
    assert_eq!(code, 0, "{err}");
    assert!(plan.contains(needle), "the plan names {needle:?}: {plan}");
    world.write("plan.json", &plan);
    let (code, after, err) = ledger(world, spec, &["unwind", "--apply", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&after).unwrap();
    assert_eq!(report["body"]["problems"], serde_json::json!([]), "clean after unwinding");
    assert_eq!(audit(world, spec).0, 0);
    serde_json::from_str(&plan).unwrap()
}

/// The world after one purchase of 0.5 (journal: create, open, open, deposit, settlement).
fn settled(world: &World) -> Vec<String> {
    purchase(world, "netbill.db", "0.5", 0);
    assert_eq!(audit(world, "netbill.db").0, 0);
    books(world, "netbill.db")
}

/// Tampers with the SQLite books, checks the audit names it, then unwinds.
fn tamper_and_unwind(sql: &str, needle: &str) {
    let world = World::new();
    let before = settled(&world);
    Connection::open(&world.ledger).unwrap().execute_batch(sql).unwrap();
    let (code, report) = audit(&world, "netbill.db");
    assert_eq!(code, 1, "the audit fails after: {sql}");
    let problems = report["body"]["problems"].to_string();
    assert!(problems.contains(needle), "{problems} lacks {needle:?}");
    assert!(report["body"].get("unwind_from").is_none(), "the server never acted on it");
    unwind(&world, "netbill.db", None, needle);
    assert_eq!(books(&world, "netbill.db"), before, "every balance and statement restored");
}

#[test]
fn a_receipt_commits_to_the_journal_it_follows() {
    let world = World::new();
    let receipt = purchase(&world, "netbill.db", "0.5", 0);
    let conn = Connection::open(&world.ledger).unwrap();
    let entry = |seq: u64| -> Value {
        let json: String =
            conn.query_row("SELECT entry FROM journal WHERE seq = ?1", [seq as i64], |r| r.get(0)).unwrap();
        serde_json::from_str(&json).unwrap()
    };
    let head = &receipt["body"]["journal"];
    assert_eq!(head["seq"], 3, "after create, two openings and a deposit");
    let digest =
        atomic_commerce::doc::Signed::<atomic_commerce::ledger::journal::Entry>::parse(entry(3).to_string().as_bytes())
            .unwrap()
            .digest();
    assert_eq!(head["digest"], digest.to_string());
    let next = entry(4);
    assert_eq!(next["body"]["prev"], digest.to_string());
    // The entry holds the receipt's body, and the signature once for its batch (of one).
    assert_eq!(next["body"]["actions"][0]["receipt"], receipt["body"], "the receipt is entry 4's");
    let signature = &receipt["signature"];
    assert_eq!(
        next["body"]["receipt_batches"],
        serde_json::json!([{"ed25519": signature["ed25519"], "key_id": signature["key_id"], "size": 1}])
    );
    assert_eq!(next["body"]["actions"][0]["balances"], serde_json::json!({"customer": "4.5", "merchant": "0.5"}));
}

/// The server signs an entry as a batch of one; an entry signed alone, as releases before
/// that signed them, still verifies, and the audit holds with it.
#[test]
fn an_entry_signed_alone_as_earlier_releases_signed_it_still_verifies() {
    let world = World::new();
    settled(&world);
    let conn = Connection::open(&world.ledger).unwrap();
    let line: String = conn.query_row("SELECT entry FROM journal WHERE seq = 4", [], |r| r.get(0)).unwrap();
    let entry = Signed::<Entry>::parse(line.as_bytes()).unwrap();
    let batch = entry.signature().batch.as_ref().expect("signed as a batch");
    assert_eq!((batch.size, batch.path.len()), (1, 0), "a batch of one");
    let alone = Signed::sign(entry.unverified().clone(), &world.server.keys);
    assert!(alone.signature().batch.is_none());
    conn.execute("UPDATE journal SET entry = ?1 WHERE seq = 4", [alone.to_json_line()]).unwrap();
    conn.execute("UPDATE journal_head SET digest = ?1", [alone.digest().to_string()]).unwrap();
    let (code, report) = audit(&world, "netbill.db");
    assert_eq!((code, &report["body"]["problems"]), (0, &serde_json::json!([])), "{report}");
}

#[test]
fn an_edited_balance_is_pinpointed_and_restored() {
    tamper_and_unwind(
        "UPDATE accounts SET balance = balance + 100000000 WHERE name = 'alice'",
        "account alice: balance 104.5 in the books, 4.5 by the journal (entry 4 last moved it)",
    );
}

#[test]
fn a_deleted_purchase_is_pinpointed_and_restored() {
    // Every trace of the purchase, balances made consistent: only the journal remembers it.
    tamper_and_unwind(
        "DELETE FROM settlements; DELETE FROM movements WHERE txn = (SELECT id FROM transactions WHERE kind = 'purchase');
         DELETE FROM transactions WHERE kind = 'purchase';
         UPDATE accounts SET balance = 5000000 WHERE name = 'alice'; UPDATE accounts SET balance = 0 WHERE name = 'bookshop';",
        "purchase",
    );
}

#[test]
fn money_created_from_nothing_is_pinpointed_and_removed() {
    tamper_and_unwind(
        "INSERT INTO transactions (kind, at, entry, action) VALUES ('deposit', '2026-11-25T12:00:00Z', 99, 0);
         INSERT INTO movements (txn, account, amount) SELECT max(id), 1, 1000000 FROM transactions
                                                      UNION ALL SELECT max(id), NULL, -1000000 FROM transactions;
         UPDATE accounts SET balance = balance + 1000000 WHERE id = 1;",
        "in the books is not in the journal",
    );
}

#[test]
fn a_settlement_placed_at_another_action_is_pinpointed_and_restored() {
    tamper_and_unwind(
        "UPDATE settlements SET entry = 3",
        "the books place its receipt at journal entry 3, action 0; the journal holds it at entry 4, action 0",
    );
}

#[test]
fn a_ledger_of_another_schema_version_is_refused_untouched() {
    let world = World::new();
    purchase(&world, "netbill.db", "0.5", 0);
    Connection::open(&world.ledger)
        .unwrap()
        .execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'", [])
        .unwrap();
    let before = std::fs::read(&world.ledger).unwrap();
    let request = world.write("request.json", world.purchase("0.5", b"goods").endorsed.to_json_pretty());
    let audit = world.tool("netbill-ledger").args(["--ledger", "netbill.db", "audit"]).output().unwrap();
    let settle = world.settle_on("netbill.db", &request);
    for out in [audit, settle] {
        assert_eq!(out.status.code(), Some(65));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("ledger schema version 3 is not supported (this release reads version 5)"), "{err}");
        assert!(out.stdout.is_empty());
    }
    assert_eq!(std::fs::read(&world.ledger).unwrap(), before, "nothing written");
}

/// A group's entry holds its receipts' bodies and each batch's signature once; the receipts
/// rebuilt from them are the released ones, byte for byte; batches that do not cover the
/// entry's receipts break the journal.
#[test]
fn a_groups_receipts_are_journaled_as_bodies_with_each_batch_signature_once() {
    let world = World::new();
    let stream: String = (0..20).map(|_| world.purchase("0.1", b"goods").endorsed.to_json_line()).collect();
    let input = world.write("stream.ndjson", stream);
    let first = world.settle_on("netbill.db", &input);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let conn = Connection::open(&world.ledger).unwrap();
    let line: String = conn.query_row("SELECT entry FROM journal WHERE seq = 4", [], |r| r.get(0)).unwrap();
    let entry: Value = serde_json::from_str(&line).unwrap();
    let receipts: Vec<Value> = first
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let actions = entry["body"]["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 20, "one group, one entry");
    for (action, receipt) in actions.iter().zip(&receipts) {
        assert_eq!(action["receipt"], receipt["body"]);
    }
    let sizes: Vec<u64> =
        entry["body"]["receipt_batches"].as_array().unwrap().iter().map(|b| b["size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [16, 4]);
    assert_eq!(entry["body"]["receipt_batches"][1]["ed25519"], receipts[19]["signature"]["ed25519"]);
    let again = world.settle_on("netbill.db", &input);
    assert_eq!(again.stdout, first.stdout, "every stored receipt rebuilt byte for byte");
    conn.execute("UPDATE journal SET entry = replace(entry, '\"size\":4', '\"size\":3') WHERE seq = 4", []).unwrap();
    let (code, report) = audit(&world, "netbill.db");
    assert_eq!(code, 1);
    let problems = report["body"]["problems"].to_string();
    assert!(
        problems.contains("journal entry 4: ")
            && problems.contains("the receipt batches cover 19 receipts, the entry holds 20"),
        "{problems}"
    );
}

#[test]
fn a_settled_request_sent_again_gets_the_receipt_its_journal_entry_holds() {
    let world = World::new();
    let p = world.purchase("0.5", b"goods");
    let request = world.write("request.json", p.endorsed.to_json_pretty());
    let settle = || world.settle_on("netbill.db", &request);
    let first = settle();
    assert_eq!(first.status.code(), Some(0));
    let again = settle();
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(again.stdout, first.stdout, "the identical receipt");
    let conn = Connection::open(&world.ledger).unwrap();
    let place: (i64, i64) =
        conn.query_row("SELECT entry, action FROM settlements", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(place, (4, 0), "the books store where the journal holds the receipt, not the receipt");
    // A row that places it where the journal holds no receipt is refused, naming both.
    conn.execute("UPDATE settlements SET action = 1", []).unwrap();
    let refused = settle();
    assert_eq!(refused.status.code(), Some(65));
    assert!(refused.stdout.is_empty());
    let epo_id = p.epo.unverified().epo_id.to_string();
    let err = String::from_utf8(refused.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("settlement {epo_id}: journal entry 4 holds no receipt at action 1")), "{err}");
}

#[test]
fn a_deleted_account_is_pinpointed_and_restored() {
    tamper_and_unwind(
        "DELETE FROM movements WHERE txn = (SELECT id FROM transactions WHERE kind = 'purchase');
         UPDATE settlements SET txn = NULL; DELETE FROM transactions WHERE kind = 'purchase';
         DELETE FROM accounts WHERE name = 'bookshop'; UPDATE accounts SET balance = 5000000 WHERE name = 'alice';",
        "account bookshop",
    );
}

#[test]
fn the_server_acting_on_a_forged_balance_is_pinpointed_and_unwound() {
    let world = World::new();
    let before = settled(&world);
    // Alice (4.5) is given 100 behind the server's back, then spends 6 of it, and deposits 1.
    Connection::open(&world.ledger)
        .unwrap()
        .execute_batch("UPDATE accounts SET balance = balance + 100000000 WHERE name = 'alice'")
        .unwrap();
    purchase(&world, "netbill.db", "6", 0);
    assert_eq!(ledger(&world, "netbill.db", &["deposit", "bookshop", "1"]).0, 0);
    let (code, report) = audit(&world, "netbill.db");
    assert_eq!(code, 1);
    assert_eq!(report["body"]["unwind_from"], 5, "entry 5 is where the server acted on it");
    let problems = report["body"]["problems"].to_string();
    assert!(
        problems
            .contains("journal entry 5: the server acted on a balance of 104.5 for alice, where the journal gives 4.5"),
        "{problems}"
    );
    assert!(problems.contains("after entry 4"), "{problems}");
    // Restoring the books alone would leave alice at -1.5: the plan must start at entry 5.
    let (code, _, err) = ledger(&world, "netbill.db", &["unwind"]);
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("unwind from entry 5 or earlier"), "{err}");
    let plan = unwind(&world, "netbill.db", Some("5"), "\"reversed\"");
    assert_eq!(plan["body"]["reversed"], serde_json::json!([5, 6]));
    let after = books(&world, "netbill.db");
    assert_eq!(after[..2], before[..2], "alice and the bookshop have what they had before entry 5");
    // The statements keep the history: the overdraft the forgery hid, then its correction.
    let statement: Value = serde_json::from_str(&after[2]).unwrap();
    let lines: Vec<(String, String)> = statement["body"]["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["kind"].as_str().unwrap().to_string(), l["balance"].as_str().unwrap().to_string()))
        .collect();
    let expected = [("deposit", "5"), ("purchase", "4.5"), ("purchase", "-1.5"), ("correction", "4.5")];
    assert_eq!(lines, expected.map(|(k, b)| (k.to_string(), b.to_string())));
}

#[test]
fn a_journal_changed_behind_the_servers_back_is_pinpointed_and_not_unwound() {
    for (sql, needle) in [
        ("DELETE FROM journal WHERE seq = 3", "journal entry 3 is missing"),
        (
            "UPDATE journal SET entry = replace(entry, '\"amount\":\"5\"', '\"amount\":\"50\"') WHERE seq = 3",
            "journal entry 3: not signed by the server",
        ),
    ] {
        let world = World::new();
        settled(&world);
        Connection::open(&world.ledger).unwrap().execute_batch(sql).unwrap();
        let (code, report) = audit(&world, "netbill.db");
        assert_eq!(code, 1);
        assert!(report["body"]["problems"].to_string().contains(needle), "{report}");
        let copy = std::fs::read(&world.ledger).unwrap();
        let (code, _, err) = ledger(&world, "netbill.db", &["unwind"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("the journal itself is broken") && err.contains(needle), "{err}");
        assert_eq!(std::fs::read(&world.ledger).unwrap(), copy, "nothing written");
    }
}

#[test]
fn a_plan_made_on_other_books_is_refused() {
    let world = World::new();
    settled(&world);
    Connection::open(&world.ledger)
        .unwrap()
        .execute_batch("UPDATE accounts SET balance = 0 WHERE name = 'alice'")
        .unwrap();
    let (_, plan, _) = ledger(&world, "netbill.db", &["unwind"]);
    world.write("plan.json", &plan);
    assert_eq!(ledger(&world, "netbill.db", &["deposit", "bookshop", "1"]).0, 0);
    let snapshot = books(&world, "netbill.db");
    let (code, _, err) = ledger(&world, "netbill.db", &["unwind", "--apply", "plan.json"]);
    assert_eq!(code, 1);
    assert!(err.contains("changed since this plan was made"), "{err}");
    assert_eq!(books(&world, "netbill.db"), snapshot, "nothing changed");
}

#[test]
fn postgresql_books_are_audited_and_unwound_the_same_way() {
    let world = World::new();
    let db = PgDb::ledger_for(&world);
    purchase(&world, &db.url, "0.5", 0);
    let before = books(&world, &db.url);
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "UPDATE accounts SET balance = 0 WHERE name = 'bookshop';
             UPDATE settlements SET entry = 3;",
        )
        .unwrap();
    let (code, report) = audit(&world, &db.url);
    assert_eq!(code, 1);
    let problems = report["body"]["problems"].to_string();
    assert!(problems.contains("account bookshop: balance 0 in the books, 0.5 by the journal"), "{problems}");
    assert!(problems.contains("the books place its receipt at journal entry 3, action 0"), "{problems}");
    unwind(&world, &db.url, None, "account bookshop");
    assert_eq!(books(&world, &db.url), before, "every balance and statement restored");
}

#[test]
fn a_truncated_journal_is_caught_by_the_receipt_that_committed_to_it() {
    let world = World::new();
    let first = purchase(&world, "netbill.db", "0.5", 0);
    let second = purchase(&world, "netbill.db", "1", 0);
    world.write("first.json", first.to_string());
    world.write("second.json", second.to_string());
    // The second purchase is erased everywhere, the journal's tail included: consistent books.
    Connection::open(&world.ledger)
        .unwrap()
        .execute_batch(
            "DELETE FROM journal WHERE seq = 5;
             DELETE FROM settlements WHERE txn = (SELECT max(id) FROM transactions);
             DELETE FROM movements WHERE txn = (SELECT max(id) FROM transactions);
             DELETE FROM transactions WHERE id = (SELECT max(id) FROM transactions);
             UPDATE accounts SET balance = 4500000 WHERE name = 'alice';
             UPDATE accounts SET balance = 500000 WHERE name = 'bookshop';",
        )
        .unwrap();
    // The head names entry 4, as the server left it then: the first receipt's next entry.
    let conn = Connection::open(&world.ledger).unwrap();
    let json: String = conn.query_row("SELECT entry FROM journal WHERE seq = 4", [], |r| r.get(0)).unwrap();
    let digest = Signed::<Entry>::parse(json.as_bytes()).unwrap().digest();
    conn.execute("UPDATE journal_head SET seq = 4, digest = ?1", [digest.to_string()]).unwrap();
    assert_eq!(audit(&world, "netbill.db").0, 0, "nothing inside the database betrays it");
    let (code, out, _) =
        ledger(&world, "netbill.db", &["audit", "--receipt", "first.json", "--receipt", "second.json"]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    let problems = report["body"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].as_str().unwrap().starts_with("second.json: its settlement of"), "{problems:?}");
    assert!(problems[0].as_str().unwrap().ends_with("is not in the journal: it was dropped"), "{problems:?}");
}

#[test]
fn the_audit_checks_the_ledger_belongs_to_the_pinned_server() {
    let world = World::new();
    settled(&world);
    assert_eq!(ledger(&world, "netbill.db", &["audit", "--server", "netbill.id.json"]).0, 0);
    let (code, _, err) = ledger(&world, "netbill.db", &["audit", "--server", "bookshop.id.json"]);
    assert_eq!(code, 1);
    assert!(err.contains("the ledger's server is netbill") && err.contains("not the pinned bookshop"), "{err}");
}
