//! netbill-settle killed with SIGKILL again and again in the middle of a stream, on SQLite and
//! on PostgreSQL: the books stay sound, every receipt that was printed is in the ledger, and
//! re-sending the whole stream settles each purchase exactly once.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use atomic_commerce::doc::Signed;
use atomic_commerce::netbill::receipt::Receipt;

use atomic_commerce::ledger::Ledger;

use crate::common::World;
use crate::common::pg::PgDb;

// Enough that the child is still settling new purchases when it is killed.
const PURCHASES: usize = 300;
const KILLS: usize = 12;

#[test]
fn sigkill_during_a_stream_loses_nothing_and_charges_once() {
    let world = World::new();
    kill_again_and_again(&world, world.ledger.to_str().unwrap());
}

#[test]
fn sigkill_during_a_stream_on_postgres_loses_nothing_and_charges_once() {
    let world = World::new();
    let db = PgDb::ledger_for(&world);
    kill_again_and_again(&world, &db.url);
}

fn kill_again_and_again(world: &World, spec: &str) {
    let stream: String = (0..PURCHASES).map(|_| world.purchase("0.01", b"goods").endorsed.to_json_line()).collect();
    let input = world.write("stream.ndjson", &stream);
    let settle = || {
        Command::new(assert_cmd::cargo::cargo_bin("netbill-settle"))
            .current_dir(world.dir.path())
            .args(["--ledger", spec, "--key", "netbill.key", "--now", crate::common::NOW])
            .arg(&input)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };

    let mut printed: Vec<String> = Vec::new();
    let mut killed_mid_stream = 0;
    for round in 0..KILLS {
        let mut child = settle();
        // Kept open until the kill: a closed pipe would end the child early (and quietly).
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        // Let it print a few receipts past the ones already settled, then kill it.
        let target = (round + 1) * PURCHASES / (KILLS + 2) + rand::random_range(0..5usize);
        let started = Instant::now();
        let mut seen = 0;
        for line in (&mut reader).lines() {
            let Ok(line) = line else { break };
            printed.push(line);
            seen += 1;
            if seen >= target || started.elapsed() > Duration::from_secs(20) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(rand::random_range(0..15)));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed_mid_stream += 1;
        }
    }
    assert!(killed_mid_stream >= KILLS / 2, "only {killed_mid_stream} runs were killed before finishing");

    let mut books = Ledger::open(std::path::Path::new(spec)).unwrap();
    let audit = books.audit().unwrap();
    assert!(audit.problems.is_empty(), "{:?}", audit.problems);
    for line in &printed {
        let receipt = Signed::<Receipt>::parse(line.as_bytes()).unwrap();
        let (stored, _) =
            books.settlement(&receipt.unverified().epo_id).unwrap().expect("a printed receipt is in the ledger");
        assert_eq!(stored.receipt, receipt, "the printed receipt is the stored one");
    }

    let out = world.settle_on(spec, &input);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), PURCHASES);
    let audit = books.audit().unwrap();
    assert!(audit.problems.is_empty(), "{:?}", audit.problems);
    assert_eq!(audit.receipts, PURCHASES as u64);
    assert_eq!(audit.transactions, PURCHASES as u64 + 1, "one deposit and one purchase each");
    assert_eq!(books.balance("alice").unwrap().to_string(), "2", "5 - 300 x 0.01, charged exactly once each");
    assert_eq!(books.balance("bookshop").unwrap().to_string(), "3");
}
