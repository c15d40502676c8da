//! netbill-ledger: creating the books, accounts, external money and statements (the journal,
//! the audit and unwinding are in `journal`).

use crate::common::World;

fn ledger(world: &World, args: &[&str]) -> assert_cmd::assert::Assert {
    world.tool("netbill-ledger").args(["--ledger", "netbill.db", "--key", "netbill.key"]).args(args).assert()
}

#[test]
fn init_creates_a_private_key_or_adopts_an_existing_one_and_never_overwrites() {
    let world = World::new();
    use std::os::unix::fs::PermissionsExt;
    let out = world.tool("netbill-ledger").args(["--ledger", "new.db", "init", "--key", "new.key"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::metadata(world.path("new.key")).unwrap().permissions().mode() & 0o777, 0o600);
    let printed = atomic_commerce::crypto::keys::Identity::parse(&out.stdout).unwrap();
    assert_eq!(printed.name, "netbill");

    // Adopting: a key made by keygen becomes the server key of another ledger.
    let adopted =
        world.tool("netbill-ledger").args(["--ledger", "other.db", "init", "--key", "bookshop.key"]).output().unwrap();
    assert!(adopted.status.success());
    let identity = atomic_commerce::crypto::keys::Identity::parse(&adopted.stdout).unwrap();
    assert_eq!(identity.key_id, world.bookshop.keys.key_id());
    let again = world.tool("netbill-ledger").args(["--ledger", "other.db", "identity"]).output().unwrap();
    assert_eq!(again.stdout, adopted.stdout);

    world
        .tool("netbill-ledger")
        .args(["--ledger", "new.db", "init", "--key", "new.key"])
        .assert()
        .code(73)
        .stderr(predicates::str::contains("new.db: already exists"));
    // Settling with another key than the ledger's is a usage error.
    world
        .tool("netbill-settle")
        .args(["--ledger", "netbill.db", "--key", "new.key"])
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is not this ledger's"));
}

#[test]
fn accounts_are_unique_and_statements_show_every_movement_with_its_epo_id() {
    let world = World::new();
    ledger(&world, &["open", "alice.id.json"]).code(1).stderr(predicates::str::contains("already exists"));
    ledger(&world, &["deposit", "alice", "0.000001", "--memo", "a micro-unit"]).success().stdout("5.000001\n");
    ledger(&world, &["withdraw", "alice", "1"]).success().stdout("4.000001\n");
    let p = world.purchase("0.5", b"goods");
    assert_eq!(world.settle(&world.write("r.json", p.endorsed.to_json_pretty())).0, 0);
    let out = world.tool("netbill-ledger").args(["--ledger", "netbill.db", "statement", "alice"]).output().unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines = statement["body"]["movements"].as_array().unwrap();
    let kinds: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| (l["kind"].as_str().unwrap(), l["direction"].as_str().unwrap(), l["amount"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("deposit", "credit", "5"),
            ("deposit", "credit", "0.000001"),
            ("withdrawal", "debit", "1"),
            ("purchase", "debit", "0.5")
        ]
    );
    assert_eq!(lines[3]["epo_id"], p.epo.unverified().epo_id.to_string());
    assert_eq!(lines[3]["balance"], "3.500001");
    assert_eq!(statement["body"]["balance"], "3.500001");
    ledger(&world, &["balance", "bookshop"]).success().stdout("0.5\n");
}
