//! The merchant's tools: offers with customer-dependent prices, deliveries that keep their
//! promise, and an endorsement that is made once.

use crate::common::World;

fn catalog(world: &World) {
    let alice = world.alice.keys.key_id();
    world.write("goods.txt", "the goods\n");
    world.write(
        "catalog.json",
        format!(
            r#"{{"groups": {{"acm-student": ["{alice}"]}},
                "products": [{{"id": "p", "description": "a paper", "price": "0.10",
                               "group_prices": {{"acm-student": "0.07"}}, "goods": "goods.txt"}}]}}"#
        ),
    );
}

fn offer(world: &World, customer: &str, product: &str) -> std::process::Output {
    world
        .tool("merchant-offer")
        .args(["--catalog", "catalog.json", "--key", "bookshop.key", "--customer", customer, "--product", product])
        .output()
        .unwrap()
}

#[test]
fn the_price_depends_on_who_asks() {
    let world = World::new();
    catalog(&world);
    world.tool("keygen").args(["--name", "bob", "--secret-key", "bob.key", "-o", "bob.id.json"]).assert().success();
    let price = |customer: &str| {
        let out = offer(&world, customer, "p");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (v["body"]["price"].as_str().unwrap().to_string(), v["body"]["price_group"].clone())
    };
    assert_eq!(price("alice.id.json"), ("0.07".into(), "acm-student".into()));
    assert_eq!(price("bob.id.json"), ("0.1".into(), serde_json::Value::Null));
    let missing = offer(&world, "alice.id.json", "nonesuch");
    assert_eq!(missing.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("catalog.json: no product \"nonesuch\""));
}

/// A world whose merchant has made alice an offer of product `p`, in `offer.json`.
fn offered() -> World {
    let world = World::new();
    catalog(&world);
    std::fs::write(world.path("offer.json"), offer(&world, "alice.id.json", "p").stdout).unwrap();
    world
}

/// goods-encrypt of `goods` for the offer in `offer.json`, into `goods.enc`.
fn encrypt(world: &World, goods: &str) -> assert_cmd::assert::Assert {
    world
        .tool("goods-encrypt")
        .args(["--key", "bookshop.key", "--offer", "offer.json", "--goods", goods])
        .args(["--store", "store", "--ciphertext", "goods.enc"])
        .assert()
}

#[test]
fn goods_that_break_the_offers_promise_are_not_delivered() {
    let world = offered();
    world.write("other.txt", "other goods\n");
    encrypt(&world, "other.txt").code(1).stdout("").stderr(predicates::str::contains("other.txt: 12 bytes with root"));
    assert!(!world.path("goods.enc").exists());
    assert_eq!(std::fs::read_dir(world.path("store")).map(|d| d.count()).unwrap_or(0), 0, "nothing recorded");
}

#[test]
fn a_ciphertext_is_never_overwritten() {
    let world = offered();
    world.write("goods.enc", "a ciphertext sold before\n");
    encrypt(&world, "goods.txt").code(73).stdout("").stderr(predicates::str::contains("goods.enc: exists already"));
    assert_eq!(std::fs::read(world.path("goods.enc")).unwrap(), b"a ciphertext sold before\n");
    assert!(!world.path("store").exists(), "nothing recorded");
}

#[test]
fn countersigning_twice_gives_the_first_endorsement_and_a_second_epo_is_refused() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    world.write("epo.json", p.epo.to_json_pretty());
    let countersign = |epo: &str| {
        world
            .tool("epo-countersign")
            .args([
                "--key",
                "bookshop.key",
                "--store",
                "store",
                "--customer",
                "alice.id.json",
                "--server",
                "netbill.id.json",
                epo,
            ])
            .output()
            .unwrap()
    };
    let first = countersign("epo.json");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(first.stdout, p.endorsed.to_json_pretty().as_bytes(), "the endorsement already on record");
    assert_eq!(countersign("epo.json").stdout, first.stdout);

    let other = world.sign(
        &p.offer,
        &p.delivery.note,
        &p.delivery.ciphertext,
        crate::common::now().plus(jiff::SignedDuration::from_mins(5)).unwrap(),
    );
    world.write("other-epo.json", other.to_json_pretty());
    let refused = countersign("other-epo.json");
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already countersigned for a different EPO"));
}

#[test]
fn the_whole_purchase_through_the_tools_is_settled_once() {
    let world = World::new();
    catalog(&world);
    let run = |tool: &str, args: &[&str]| {
        let out = world.tool(tool).args(args).output().unwrap();
        assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    std::fs::write(world.path("offer.json"), offer(&world, "alice.id.json", "p").stdout).unwrap();
    run(
        "goods-encrypt",
        &[
            "--key",
            "bookshop.key",
            "--offer",
            "offer.json",
            "--goods",
            "goods.txt",
            "--store",
            "store",
            "--ciphertext",
            "goods.enc",
            "-o",
            "delivery.json",
        ],
    );
    run(
        "epo-sign",
        &[
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
        ],
    );
    run(
        "epo-countersign",
        &[
            "--key",
            "bookshop.key",
            "--store",
            "store",
            "--customer",
            "alice.id.json",
            "--server",
            "netbill.id.json",
            "epo.json",
            "-o",
            "endorsed.json",
        ],
    );
    let receipt = run("netbill-settle", &["--ledger", "netbill.db", "--key", "netbill.key", "endorsed.json"]);
    assert_eq!(run("netbill-settle", &["--ledger", "netbill.db", "--key", "netbill.key", "endorsed.json"]), receipt);
    std::fs::write(world.path("receipt.json"), &receipt).unwrap();
    let goods = run(
        "goods-decrypt",
        &[
            "--receipt",
            "receipt.json",
            "--server",
            "netbill.id.json",
            "--ciphertext",
            "goods.enc",
            "--offer",
            "offer.json",
            "--merchant",
            "bookshop.id.json",
        ],
    );
    assert_eq!(goods, b"the goods\n");
    assert_eq!(world.balance("alice").to_string(), "4.93");
}

/// epo-countersign checks the EPO against the merchant's own offer and delivery, the server
/// and the clock before it commits to anything: each mismatch is refused and nothing recorded.
#[test]
fn the_merchant_countersigns_only_the_epo_of_his_offer_and_delivery() {
    use atomic_commerce::doc::{Hex, Signed};
    let world = World::new();
    let p = world.unrecorded_purchase(
        "0.1",
        b"goods",
        crate::common::now().plus(jiff::SignedDuration::from_hours(1)).unwrap(),
    );
    atomic_commerce::netbill::merchant_store::MerchantStore::create(&world.store)
        .unwrap()
        .record_delivery(&p.offer, &p.delivery.note, &p.delivery.key)
        .unwrap();
    let altered = |edit: &dyn Fn(&mut atomic_commerce::netbill::epo::Epo)| {
        let mut epo = p.epo.unverified().clone();
        edit(&mut epo);
        Signed::sign(epo, &world.alice.keys).to_json_line()
    };
    let cases: [(String, &str); 6] = [
        (altered(&|e| e.price = "0.01".parse().unwrap()), "differs from the offered"),
        (altered(&|e| e.ciphertext_root = Hex([1; 32])), "another ciphertext than the one delivered"),
        (altered(&|e| e.key_commitment = Hex([2; 32])), "another key commitment than the delivery note's"),
        (altered(&|e| e.server = world.alice.keys.key_id()), "the EPO names server"),
        (altered(&|e| e.expires_at = "2026-11-25T11:00:00Z".parse().unwrap()), "the EPO expired"),
        (Signed::sign(p.epo.unverified().clone(), &world.bookshop.keys).to_json_line(), "not by alice"),
    ];
    for (epo, needle) in cases {
        world
            .tool("epo-countersign")
            .args(["--key", "bookshop.key", "--store", "store", "--customer", "alice.id.json"])
            .args(["--server", "netbill.id.json"])
            .write_stdin(epo)
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicates::str::contains(needle));
    }
    let epo_id = p.epo.unverified().epo_id.to_string();
    assert!(!world.store.join(&epo_id).join("endorsed.json").exists(), "nothing countersigned");
    // His own K, changed in his store after the note committed to it, is not released either.
    let key_file = world.store.join(&epo_id).join("key.json");
    let stored = std::fs::read_to_string(&key_file).unwrap();
    std::fs::write(&key_file, stored.replace(&p.delivery.key.to_string(), &Hex([0; 32]).to_string())).unwrap();
    world
        .tool("epo-countersign")
        .args(["--key", "bookshop.key", "--store", "store", "--customer", "alice.id.json"])
        .args(["--server", "netbill.id.json"])
        .write_stdin(p.epo.to_json_line())
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicates::str::contains("the stored K is not the one the delivery note commits to"));
    assert!(!world.store.join(&epo_id).join("endorsed.json").exists(), "nothing countersigned");
}
