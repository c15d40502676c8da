//! Goods of gigabytes: encrypted, checksummed, settled and decrypted by the tools in bounded
//! memory, and a dispute over one chunk ruled from a proof of a few KiB.

use std::io::Read;
use std::process::Stdio;

use atomic_commerce::crypto::goods;
use atomic_commerce::doc::Signed;
use atomic_commerce::netbill::delivery::deliver_to;
use atomic_commerce::netbill::merchant_store::MerchantStore;
use atomic_commerce::netbill::offer::Offer;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{World, now};

const GIB: u64 = 1 << 30;

/// Runs `tool` timed, writes its stdout to `output` (if any), and returns its peak RSS in KiB.
fn step(world: &World, tool: &str, args: &str, output: Option<&str>) -> u64 {
    let out =
        world.timed(tool, args).output().expect("GNU time measures peak RSS (scripts/test installs the time package)");
    assert!(out.status.success(), "{tool} {args}: {}", String::from_utf8_lossy(&out.stderr));
    if let Some(name) = output {
        world.write(name, out.stdout);
    }
    world.peak_rss(tool)
}

/// A file of `size` zero bytes that takes no disk (sparse), and a catalog that sells it.
fn film(world: &World, size: u64) {
    std::fs::File::create(world.path("film.bin")).unwrap().set_len(size).unwrap();
    world.write(
        "catalog.json",
        r#"{"products": [{"id": "film", "description": "a film", "price": "1", "goods": "film.bin"}]}"#,
    );
}

const OFFER: &str = "--catalog catalog.json --key bookshop.key --customer alice.id.json --product film";
const ENCRYPT: &str = "--key bookshop.key --offer offer.json --goods film.bin --store store --ciphertext film.enc";

/// Alice signs the EPO for film.enc, the bookshop countersigns, the server settles: each tool's
/// peak RSS.
fn buy(world: &World) -> Vec<(&'static str, u64)> {
    let sign = "--key alice.key --offer offer.json --delivery delivery.json --ciphertext film.enc \
                --merchant bookshop.id.json --server netbill.id.json --expires-in 1h";
    let countersign = "--key bookshop.key --store store --customer alice.id.json --server netbill.id.json epo.json";
    let settle = "--ledger netbill.db --key netbill.key endorsed.json";
    vec![
        ("epo-sign", step(world, "epo-sign", sign, Some("epo.json"))),
        ("epo-countersign", step(world, "epo-countersign", countersign, Some("endorsed.json"))),
        ("netbill-settle", step(world, "netbill-settle", settle, Some("receipt.json"))),
    ]
}

/// Alice's "not what I ordered" claim, bundled as CASE with her documents and `goods` (a
/// ciphertext or a chunk proof), ruled with the server pinned: the exit status and the ruling.
fn claim(world: &World, case: &str, goods: &str) -> (i32, Value) {
    let documents = "alice.id.json bookshop.id.json netbill.id.json offer.json delivery.json epo.json receipt.json";
    step(world, "dispute-judge", &format!("bundle --claim not-what-i-ordered -o {case} {documents} {goods}"), None);
    let out = world.tool("dispute-judge").args(["rule", case, "--server", "netbill.id.json"]).output().unwrap();
    (out.status.code().unwrap(), serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn four_gib_of_goods_are_encrypted_checked_settled_and_decrypted_in_under_64_mib() {
    let world = World::new();
    film(&world, 4 * GIB);
    let mut peaks = vec![
        ("merchant-offer", step(&world, "merchant-offer", OFFER, Some("offer.json"))),
        ("goods-encrypt", step(&world, "goods-encrypt", ENCRYPT, Some("delivery.json"))),
    ];
    let mut header = [0u8; goods::HEADER_LEN];
    std::fs::File::open(world.path("film.enc")).unwrap().read_exact(&mut header).unwrap();
    assert_eq!(goods::Header::decode(&header).unwrap().chunks(), 1 << 18, "4 GiB in 2^18 chunks of 16 KiB");
    peaks.extend(buy(&world));
    // The goods stream to stdout, hashed here as they come: no second 4 GiB on disk.
    let decrypt = "--receipt receipt.json --server netbill.id.json --ciphertext film.enc --offer offer.json \
                   --merchant bookshop.id.json";
    let mut child = world.timed("goods-decrypt", decrypt).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let (mut hash, mut buffer, mut total) = (Sha256::new(), vec![0u8; 1 << 20], 0u64);
    loop {
        let n = out.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        hash.update(&buffer[..n]);
        total += n as u64;
    }
    assert!(child.wait().unwrap().success(), "goods-decrypt checks every chunk and the root");
    peaks.push(("goods-decrypt", world.peak_rss("goods-decrypt")));
    let (mut zero_hash, chunk) = (Sha256::new(), vec![0u8; 1 << 20]);
    for _ in 0..4096 {
        zero_hash.update(&chunk);
    }
    assert_eq!((total, hash.finalize()), (4 * GIB, zero_hash.finalize()), "the goods come back whole");
    for (tool, kib) in peaks {
        println!("{tool}: peak RSS {kib} KiB");
        assert!(kib < 64 * 1024, "{tool} peaked at {kib} KiB");
    }
}

#[test]
fn one_corrupted_chunk_of_a_gib_is_ruled_from_a_proof_under_10_kib_as_from_the_whole_file() {
    let world = World::new();
    film(&world, GIB);
    step(&world, "merchant-offer", OFFER, Some("offer.json"));
    // A merchant who builds his paths from the promised goods, then seals one chunk otherwise.
    let offer = Signed::<Offer>::parse(&std::fs::read(world.path("offer.json")).unwrap()).unwrap();
    let bad = 123_456u64 * 4096 + 17;
    let reads = std::cell::Cell::new(0);
    let open = || {
        reads.set(reads.get() + 1);
        let goods: Box<dyn Read> = if reads.get() == 1 {
            Box::new(std::io::repeat(0).take(GIB))
        } else {
            Box::new(std::io::repeat(0).take(bad).chain(&[1u8][..]).chain(std::io::repeat(0).take(GIB - bad - 1)))
        };
        Ok(std::io::BufReader::with_capacity(1 << 20, goods))
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(world.path("film.enc")).unwrap());
    let (note, key) = deliver_to(&offer, &world.bookshop.keys, GIB, open, &mut file, now(), &mut |_| {}).unwrap();
    drop(file);
    MerchantStore::create(&world.path("store")).unwrap().record_delivery(&offer, &note, &key).unwrap();
    world.write("delivery.json", note.to_json_pretty());
    buy(&world); // alice has 5, the film costs 1

    let prove = "prove film.enc --receipt receipt.json --offer offer.json -o proof.json";
    step(&world, "dispute-judge", prove, None);
    let proof_size = std::fs::metadata(world.path("proof.json")).unwrap().len();
    assert!(proof_size < 10 * 1024, "the proof is {proof_size} bytes");
    let proof: Value = serde_json::from_slice(&std::fs::read(world.path("proof.json")).unwrap()).unwrap();
    assert_eq!(proof["body"]["index"], bad / 4096, "the corrupted chunk");

    let mut rulings = Vec::new();
    for (case, goods) in [("whole", "film.enc"), ("proof", "proof.json")] {
        let (code, mut ruling) = claim(&world, case, goods);
        assert_eq!((code, &ruling["body"]["verdict"]), (0, &"merchant-at-fault".into()), "the claim is upheld");
        ruling["body"].as_object_mut().unwrap().remove("evidence");
        rulings.push(ruling);
    }
    assert_eq!(rulings[0], rulings[1], "the same findings, verdict and summary from 1 GiB and from {proof_size} bytes");
}

#[test]
fn a_proof_the_customer_altered_is_her_fault_and_an_honest_chunk_shows_no_fault() {
    let world = World::new();
    let p = world.purchase("0.5", &[7u8; 3 * 4096]);
    let receipt = world.books().settle(&p.endorsed, &world.server.keys, now()).unwrap();
    world.write("film.enc", &p.delivery.ciphertext);
    for (name, doc) in [
        ("offer.json", p.offer.to_json_pretty()),
        ("delivery.json", p.delivery.note.to_json_pretty()),
        ("epo.json", p.epo.to_json_pretty()),
        ("receipt.json", receipt.to_json_pretty()),
    ] {
        world.write(name, doc);
    }
    step(&world, "dispute-judge", "prove film.enc --chunk 1 -o proof.json", None);
    let mut proof: Value = serde_json::from_slice(&std::fs::read(world.path("proof.json")).unwrap()).unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut chunk = b64.decode(proof["body"]["chunk"].as_str().unwrap()).unwrap();
    chunk[100] ^= 1;
    proof["body"]["chunk"] = b64.encode(chunk).into();
    world.write("altered.json", proof.to_string());
    for (case, goods, verdict) in
        [("honest", "proof.json", "delivered-as-agreed"), ("altered", "altered.json", "customer-at-fault")]
    {
        let (code, ruling) = claim(&world, case, goods);
        assert_eq!(code, 1, "alice's claim is not upheld");
        assert_eq!(ruling["body"]["verdict"], verdict, "{ruling}");
    }
}
