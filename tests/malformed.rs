//! Bad input: a clear one-line error naming the file, the documented exit status, and
//! nothing written.

use std::path::Path;

use crate::common::World;

/// Runs `tool` with `args`, expecting exit `code`, no stdout, and one stderr line naming
/// the tool and containing every one of `needles`.
fn fails(world: &World, tool: &str, args: &[&str], stdin: &str, code: i32, needles: &[&str]) {
    let out = world.tool(tool).args(args).write_stdin(stdin).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "{tool} {args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{tool} printed {:?}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with(&format!("{tool}: ")), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{stderr:?} lacks {n:?}");
    }
}

/// The books' state: balances and number of transactions.
fn books(world: &World) -> (String, String, u64, u64) {
    let audit = world.books().audit().unwrap();
    assert!(audit.problems.is_empty());
    (world.balance("alice").to_string(), world.balance("bookshop").to_string(), audit.transactions, audit.receipts)
}

const SETTLE: [&str; 4] = ["--ledger", "netbill.db", "--key", "netbill.key"];

#[test]
fn settle_rejects_truncated_foreign_and_non_json_requests_without_touching_the_books() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let before = books(&world);
    let full = p.endorsed.to_json_pretty();
    world.write("truncated.json", &full[..full.len() - 40]);
    world.write("epo.json", p.epo.to_json_pretty());
    world.write("garbage.json", "{\"type\": \"netbill.endorsed-epo\", oops}");
    world.write("empty.json", "");
    fn with(f: &str) -> Vec<&str> {
        [&SETTLE[..], &[f]].concat()
    }
    fails(&world, "netbill-settle", &with("truncated.json"), "", 65, &["truncated.json: request 1", "truncated"]);
    fails(&world, "netbill-settle", &with("epo.json"), "", 65, &["expected netbill.endorsed-epo, found netbill.epo"]);
    fails(&world, "netbill-settle", &with("garbage.json"), "", 65, &["garbage.json", "not valid JSON"]);
    fails(&world, "netbill-settle", &with("missing.json"), "", 66, &["missing.json", "no such file"]);
    fails(&world, "netbill-settle", &with("-"), "[1, 2]", 65, &["stdin: request 1"]);
    assert_eq!(books(&world), before);
    // An empty stream settles nothing and is not an error.
    world.tool("netbill-settle").args(with("empty.json")).assert().success().stdout("");
}

#[test]
fn a_malformed_line_stops_the_stream_after_the_receipts_before_it() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let q = world.purchase("0.2", b"goods");
    let stream = format!("{}{{\"type\": 1}}\n{}", p.endorsed.to_json_line(), q.endorsed.to_json_line());
    let out = world.tool("netbill-settle").args(SETTLE).arg(world.write("s.ndjson", stream)).output().unwrap();
    assert_eq!(out.status.code(), Some(65));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
    assert!(String::from_utf8(out.stderr).unwrap().contains("s.ndjson: request 2"));
    assert_eq!(world.balance("alice").to_string(), "4.9", "only the first request settled");
}

#[test]
fn negative_overflowing_and_inexact_amounts_are_usage_errors_that_change_nothing() {
    let world = World::new();
    let before = books(&world);
    for bad in ["-5", "1e3", "99999999999999999999", "0.0000001", "0", "abc"] {
        let out = world
            .tool("netbill-ledger")
            .args(["--ledger", "netbill.db", "--key", "netbill.key", "deposit", "alice", "--", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty());
    }
    fails(
        &world,
        "netbill-ledger",
        &["--ledger", "netbill.db", "--key", "netbill.key", "withdraw", "alice", "6"],
        "",
        1,
        &["insufficient funds"],
    );
    fails(
        &world,
        "netbill-ledger",
        &["--ledger", "netbill.db", "--key", "netbill.key", "deposit", "nobody", "1"],
        "",
        66,
        &["no account \"nobody\""],
    );
    assert_eq!(books(&world), before);
}

#[test]
fn a_catalog_with_a_negative_price_is_rejected_naming_the_catalog() {
    let world = World::new();
    world.write("catalog.json", r#"{"products": [{"id": "p", "description": "d", "price": "-1"}]}"#);
    let args = [
        "--catalog",
        "catalog.json",
        "--key",
        "bookshop.key",
        "--customer",
        "alice.id.json",
        "--product",
        "p",
        "-o",
        "offer.json",
    ];
    fails(&world, "merchant-offer", &args, "", 65, &["catalog.json", "negative"]);
    assert!(!world.path("offer.json").exists());
}

#[test]
fn epo_sign_refuses_a_damaged_ciphertext_and_writes_no_epo() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    world.write("offer.json", p.offer.to_json_pretty());
    world.write("delivery.json", p.delivery.note.to_json_pretty());
    let mut damaged = p.delivery.ciphertext.clone();
    damaged[20] ^= 1;
    world.write("goods.enc", damaged);
    let args = [
        "--key",
        "alice.key",
        "--offer",
        "offer.json",
        "--delivery",
        "delivery.json",
        "--ciphertext",
        "goods.enc",
        "--merchant",
        "bookshop.id.json",
        "--server",
        "netbill.id.json",
        "-o",
        "epo.json",
    ];
    fails(&world, "epo-sign", &args, "", 1, &["goods.enc", "damaged in transit"]);
    world.write("offer.json", "{ not json");
    fails(&world, "epo-sign", &args, "", 65, &["offer.json", "not valid JSON"]);
    assert!(!world.path("epo.json").exists());
}

#[test]
fn goods_decrypt_refuses_a_tampered_ciphertext_and_writes_nothing() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let (_, receipt) = world.settle(&world.write("request.json", p.endorsed.to_json_pretty()));
    world.write("receipt.json", receipt);
    let mut tampered = p.delivery.ciphertext.clone();
    *tampered.last_mut().unwrap() ^= 1;
    world.write("goods.enc", tampered);
    let args =
        ["--receipt", "receipt.json", "--server", "netbill.id.json", "--ciphertext", "goods.enc", "-o", "goods.out"];
    fails(&world, "goods-decrypt", &args, "", 1, &["goods.enc", "Merkle root"]);
    assert!(!world.path("goods.out").exists());
    fails(
        &world,
        "goods-decrypt",
        &["--receipt", "goods.enc", "--server", "netbill.id.json", "--ciphertext", "goods.enc"],
        "",
        65,
        &["goods.enc", "not UTF-8"],
    );
}

#[test]
fn secret_keys_are_private_and_never_overwritten() {
    let world = World::new();
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    world.tool("keygen").args(["--name", "carol", "--secret-key", "carol.key"]).assert().success();
    assert_eq!(mode(&world.path("carol.key")), 0o600);
    world.tool("keygen").args(["--name", "dave", "--secret-key", "dave.key", "-o", "dave.id.json"]).assert().success();
    assert_eq!(mode(&world.path("dave.id.json")), 0o644, "public outputs are readable");
    let before = std::fs::read(world.path("carol.key")).unwrap();
    fails(
        &world,
        "keygen",
        &["--name", "carol", "--secret-key", "carol.key"],
        "",
        73,
        &["carol.key", "refusing to overwrite"],
    );
    assert_eq!(std::fs::read(world.path("carol.key")).unwrap(), before);
    std::fs::set_permissions(world.path("carol.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let args = ["request", "--key", "carol.key", "--epo-id", "0000000000000000.20261125T120000Z.0000000000000000"];
    fails(&world, "key-fetch", &args, "", 1, &["carol.key", "chmod 600"]);
    fails(&world, "keygen", &["--name", "no/slash", "--secret-key", "x.key"], "", 65, &["invalid party name"]);
    assert!(!world.path("x.key").exists());
}

#[test]
fn stdin_can_be_read_only_once() {
    let world = World::new();
    let args = ["--catalog", "-", "--key", "bookshop.key", "--customer", "-", "--product", "p"];
    let identity = std::fs::read_to_string(world.path("alice.id.json")).unwrap();
    fails(&world, "merchant-offer", &args, &identity, 2, &["standard input"]);
}

#[test]
fn the_merchant_tools_never_make_a_store_they_were_only_to_read() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    world.write("request.json", p.endorsed.to_json_pretty());
    let (_, receipt) = world.settle(&world.path("request.json"));
    world.write("receipt.json", receipt);
    let cases: [(&str, &[&str]); 3] = [
        ("merchant-record", &["--store", "nostore", "--server", "netbill.id.json", "receipt.json"]),
        (
            "epo-countersign",
            &[
                "--key",
                "bookshop.key",
                "--store",
                "nostore",
                "--customer",
                "alice.id.json",
                "--server",
                "netbill.id.json",
            ],
        ),
        ("key-fetch", &["answer", "--store", "nostore"]),
    ];
    let epo_id = p.epo.unverified().epo_id.to_string();
    let key_request = world.tool("key-fetch").args(["request", "--key", "alice.key", "--epo-id", &epo_id]).output();
    let key_request = String::from_utf8(key_request.unwrap().stdout).unwrap();
    for (tool, args) in cases {
        let stdin = match tool {
            "epo-countersign" => p.epo.to_json_line(),
            "key-fetch" => key_request.clone(),
            _ => String::new(),
        };
        fails(&world, tool, args, &stdin, 66, &["nostore", "no merchant store here"]);
        assert!(!world.path("nostore").exists(), "{tool} made the store");
    }
}

#[test]
fn a_command_line_error_is_one_line_naming_the_tool() {
    let world = World::new();
    let deposit = ["--ledger", "netbill.db", "--key", "netbill.key", "deposit", "alice", "--", "-5"];
    fails(&world, "netbill-ledger", &deposit, "", 2, &["amounts cannot be negative", "(see --help)"]);
    fails(&world, "keygen", &["--bogus"], "", 2, &["unexpected argument '--bogus'"]);
}
