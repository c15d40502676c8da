//! The fuzz entry points (atomic_commerce::fuzzing, which the cargo-fuzz targets in fuzz/ call)
//! on the committed seed corpora and on many mutations of each seed: no input makes any parser
//! panic. `UPDATE_SEEDS=1 cargo test --test tests fuzzing::` regenerates the corpora from
//! fresh documents.

use std::path::{Path, PathBuf};

use atomic_commerce::doc::{Plain, Signed};
use atomic_commerce::fuzzing;
use atomic_commerce::postage::indicium::Indicium;

use crate::common::cash::CashWorld;
use crate::common::post::{Kind, PostWorld};
use crate::common::{World, now};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target)
}

/// Writes fresh seeds for every target.
fn regenerate() {
    let world = World::new();
    let p = world.purchase("0.1", b"goods");
    let receipt = world.books().settle(&p.endorsed, &world.server.keys, now()).unwrap();
    let entry: String = rusqlite::Connection::open(&world.ledger)
        .unwrap()
        .query_row("SELECT entry FROM journal ORDER BY seq DESC LIMIT 1", [], |r| r.get(0))
        .unwrap();
    let mut ledger = atomic_commerce::ledger::Ledger::open(&world.ledger).unwrap();
    let plan = Plain(ledger.unwind_plan(None).unwrap()).to_json_pretty();
    let statement = Plain(ledger.statement("alice").unwrap()).to_json_pretty();
    let mut cash = CashWorld::new("5");
    cash.withdraw("1");
    let request = cash.offer("order-1", "1");
    let payment = cash.pay(&request);
    let post = PostWorld::new(Kind::Emulated);
    let indicium: Signed<Indicium> = Signed::parse(&post.meter_ok(&["print", "envelope.json"])).unwrap();
    let documents = [
        world.alice.keys.identity_document().to_json_pretty(),
        p.offer.to_json_pretty(),
        p.delivery.note.to_json_pretty(),
        p.epo.to_json_pretty(),
        p.endorsed.to_json_pretty(),
        receipt.to_json_pretty(),
        entry,
        plan,
        statement,
        cash.bank_doc.clone(),
        request.to_json_pretty(),
        Plain(payment).to_json_pretty(),
        indicium.to_json_pretty(),
        std::fs::read_to_string(post.path("certificate.json")).unwrap(),
    ];
    let seeds: [(&str, Vec<Vec<u8>>); 4] = [
        ("documents", documents.iter().map(|d| d.clone().into_bytes()).collect()),
        ("record", vec![atomic_commerce::postage::record::encode(&indicium).unwrap()]),
        (
            "ndjson",
            vec![format!("{}{}{{\"type\": 1}}\n", p.endorsed.to_json_line(), p.endorsed.to_json_line()).into_bytes()],
        ),
        (
            "values",
            ["0.1", "-1.5", "9223372036854.775807", "2026-11-25T12:00:00Z", "2026-11-25", "10m", "1h30m"]
                .iter()
                .map(|v| v.as_bytes().to_vec())
                .collect(),
        ),
    ];
    for (target, seeds) in seeds {
        let dir = corpus(target);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
        }
    }
}

/// A small deterministic generator (xorshift), so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to parsers.
const INTERESTING: &[u8] = b"\"{}[]:,-09e.\\\x00\xff";

/// One mutation of `seed`: a flipped bit, a replaced, inserted or deleted byte, a cut, a
/// duplicated span, or an interesting byte (quote, brace, digit, high byte).
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 if at < out.len() => out[at] = INTERESTING[rng.below(INTERESTING.len())],
            2 => out.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            3 if at < out.len() => {
                out.remove(at);
            }
            4 => out.truncate(at),
            5 if at < out.len() => {
                let end = (at + rng.below(64)).min(out.len());
                let span = out[at..end].to_vec();
                out.splice(at..at, span);
            }
            _ => out.insert(at, b'9'),
        }
    }
    out
}

/// A fuzz entry point.
type Entry = fn(&[u8]);

#[test]
fn no_input_makes_a_parser_panic() {
    if std::env::var_os("UPDATE_SEEDS").is_some() {
        regenerate();
    }
    let targets: [(&str, Entry); 4] = [
        ("documents", fuzzing::documents),
        ("record", fuzzing::record),
        ("ndjson", fuzzing::ndjson),
        ("values", fuzzing::values),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (target, entry) in targets {
        let seeds: Vec<Vec<u8>> = std::fs::read_dir(corpus(target))
            .unwrap_or_else(|_| {
                panic!("fuzz/corpus/{target} is missing: run UPDATE_SEEDS=1 cargo test --test tests fuzzing::")
            })
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        assert!(!seeds.is_empty(), "fuzz/corpus/{target} has no seed");
        let rounds = if target == "documents" { 150 } else { 1000 };
        for seed in &seeds {
            entry(seed);
            for round in 0..rounds {
                let input = mutate(seed, &mut rng);
                let caught = std::panic::catch_unwind(|| entry(&input));
                assert!(caught.is_ok(), "{target} panicked on mutation {round}: {:?}", String::from_utf8_lossy(&input));
            }
        }
    }
}
