//! A NetBill world for tests and benchmarks: three parties with key files and identities, a ledger with
//! accounts, and purchases built with the same library functions the tools call.

pub mod cash;
pub mod pg;
pub mod post;

use std::path::{Path, PathBuf};

use atomic_commerce::clock::Time;
use atomic_commerce::crypto::keys::{Identity, PartyKeys};
use atomic_commerce::doc::Signed;
use atomic_commerce::fsio;
use atomic_commerce::ledger::SqliteLedger;
use atomic_commerce::ledger::sqlite::External;
use atomic_commerce::money::Amount;
use atomic_commerce::netbill::delivery::{Delivery, DeliveryNote, deliver};
use atomic_commerce::netbill::epo::{EndorsedEpo, Endorsement, Epo, Purchase, countersign, sign_epo};
use atomic_commerce::netbill::merchant_store::MerchantStore;
use atomic_commerce::netbill::offer::{Catalog, Offer, OfferRequest, make_offer};

/// The fixed time every test runs at.
pub const NOW: &str = "2026-11-25T12:00:00Z";

pub fn now() -> Time {
    NOW.parse().unwrap()
}

/// A party: its keys, and the paths of its key file and identity document.
pub struct Party {
    pub keys: PartyKeys,
    pub id_file: PathBuf,
}

impl Party {
    fn new(dir: &Path, name: &str) -> Party {
        let keys = PartyKeys::generate(name).unwrap();
        let key_file = dir.join(format!("{name}.key"));
        let id_file = dir.join(format!("{name}.id.json"));
        fsio::write_secret(&key_file, keys.to_file().as_bytes()).unwrap();
        fsio::write_new(&id_file, keys.identity_document().to_json_pretty().as_bytes()).unwrap();
        Party { keys, id_file }
    }

    pub fn identity(&self) -> Identity {
        self.keys.identity()
    }
}

/// One purchase up to the endorsed EPO.
pub struct Pieces {
    pub offer: Signed<Offer>,
    pub delivery: Delivery,
    pub epo: Signed<Epo>,
    pub endorsed: Signed<EndorsedEpo>,
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub alice: Party,
    pub bookshop: Party,
    pub server: Party,
    pub ledger: PathBuf,
    pub store: PathBuf,
}

impl World {
    /// Alice (balance 5), the bookshop (balance 0) and a NetBill ledger.
    pub fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let alice = Party::new(dir.path(), "alice");
        let bookshop = Party::new(dir.path(), "bookshop");
        let server = Party::new(dir.path(), "netbill");
        let ledger = dir.path().join("netbill.db");
        SqliteLedger::create(&ledger, &server.keys, now()).unwrap();
        let mut books = SqliteLedger::open(&ledger).unwrap();
        books.open_account(&alice.identity(), &server.keys, now()).unwrap();
        books.open_account(&bookshop.identity(), &server.keys, now()).unwrap();
        books.external("alice", External::Deposit, "5".parse().unwrap(), None, &server.keys, now()).unwrap();
        let store = dir.path().join("store");
        World { dir, alice, bookshop, server, ledger, store }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn books(&self) -> SqliteLedger {
        SqliteLedger::open(&self.ledger).unwrap()
    }

    pub fn balance(&self, account: &str) -> Amount {
        self.books().balance(account).unwrap()
    }

    /// A tool, run in the world's directory at the fixed time.
    pub fn tool(&self, name: &str) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin(name).unwrap();
        cmd.current_dir(self.dir.path())
            .env("ATOMIC_COMMERCE_NOW", NOW)
            .env_remove("NETBILL_LEDGER")
            .env_remove("NETBILL_SERVER_KEY");
        cmd
    }

    /// The bookshop's offer of product p1 to alice; with `promised` goods, the offer promises
    /// their digest (static goods), without, it promises none (dynamic goods).
    pub fn offer(&self, price: &str, promised: Option<&[u8]>) -> Signed<Offer> {
        let goods_entry = match promised {
            Some(goods) => {
                let name = format!("goods-{}.txt", atomic_commerce::crypto::sha256(goods));
                std::fs::write(self.path(&name), goods).unwrap();
                format!(r#", "goods": "{name}""#)
            }
            None => String::new(),
        };
        let catalog =
            format!(r#"{{"products": [{{"id": "p1", "description": "a paper", "price": "{price}"{goods_entry}}}]}}"#);
        let catalog = Catalog::parse(catalog.as_bytes()).unwrap();
        let request = OfferRequest {
            catalog: &catalog,
            catalog_dir: self.dir.path(),
            product: "p1",
            customer: &self.alice.identity(),
            now: now(),
        };
        make_offer(&request, &self.bookshop.keys).unwrap()
    }

    /// A whole purchase of goods whose digest the offer promises, up to the endorsed EPO,
    /// recorded in the merchant's store.
    pub fn purchase(&self, price: &str, goods: &[u8]) -> Pieces {
        self.purchase_expiring(price, goods, now().plus(jiff::SignedDuration::from_hours(1)).unwrap())
    }

    pub fn purchase_expiring(&self, price: &str, goods: &[u8], expires_at: Time) -> Pieces {
        let pieces = self.unrecorded_purchase(price, goods, expires_at);
        let store = MerchantStore::create(&self.store).unwrap();
        store.record_delivery(&pieces.offer, &pieces.delivery.note, &pieces.delivery.key).unwrap();
        let customer = std::fs::read(&self.alice.id_file).unwrap();
        store.record_endorsement(&pieces.endorsed, &customer).unwrap();
        pieces
    }

    /// A purchase up to the endorsed EPO, without the merchant's store.
    pub fn unrecorded_purchase(&self, price: &str, goods: &[u8], expires_at: Time) -> Pieces {
        self.purchase_of(self.offer(price, Some(goods)), goods, expires_at)
    }

    /// A purchase of `goods` against `offer`, up to the endorsed EPO.
    pub fn purchase_of(&self, offer: Signed<Offer>, goods: &[u8], expires_at: Time) -> Pieces {
        let delivery = deliver(&offer, &self.bookshop.keys, goods, now()).unwrap();
        let epo = self.sign(&offer, &delivery.note, &delivery.ciphertext, expires_at);
        let endorsed = self.countersign(&epo, &offer, &delivery);
        Pieces { offer, delivery, epo, endorsed }
    }

    pub fn sign(
        &self,
        offer: &Signed<Offer>,
        note: &Signed<DeliveryNote>,
        ciphertext: &[u8],
        expires_at: Time,
    ) -> Signed<Epo> {
        let purchase = Purchase {
            offer,
            merchant: &self.bookshop.identity(),
            note,
            ciphertext_root: atomic_commerce::crypto::goods::ciphertext_root(ciphertext, &mut |_| {}).unwrap().1,
            server: &self.server.identity(),
            expires_at,
            max_price: None,
            now: now(),
        };
        sign_epo(&purchase, &self.alice.keys).unwrap()
    }

    pub fn countersign(&self, epo: &Signed<Epo>, offer: &Signed<Offer>, delivery: &Delivery) -> Signed<EndorsedEpo> {
        let endorsement = Endorsement {
            epo,
            customer: &self.alice.identity(),
            offer,
            note: &delivery.note,
            key: &delivery.key,
            server: &self.server.identity(),
            now: now(),
        };
        countersign(&endorsement, &self.bookshop.keys).unwrap()
    }

    /// `tool` with `args` (split at spaces), run under GNU time in the world's directory at the
    /// fixed time: its peak RSS goes to `TOOL.rss` ([`World::peak_rss`]).
    pub fn timed(&self, tool: &str, args: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new("/usr/bin/time");
        cmd.current_dir(self.dir.path())
            .env("ATOMIC_COMMERCE_NOW", NOW)
            .args(["-f", "%M", "-o"])
            .arg(self.path(&format!("{tool}.rss")))
            .arg(assert_cmd::cargo::cargo_bin(tool))
            .args(args.split(' '))
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// The peak RSS in KiB of the last timed run of `tool`.
    pub fn peak_rss(&self, tool: &str) -> u64 {
        std::fs::read_to_string(self.path(&format!("{tool}.rss"))).unwrap().trim().parse().unwrap()
    }

    /// Writes a document to a file in the world and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Runs netbill-settle on `input` and returns (exit code, stdout).
    pub fn settle(&self, input: &Path) -> (i32, String) {
        let out = self.settle_on("netbill.db", input);
        (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap())
    }

    /// Runs netbill-settle on the ledger `spec` (a file or a URL) with the server's key.
    pub fn settle_on(&self, spec: &str, input: &Path) -> std::process::Output {
        self.tool("netbill-settle").args(["--ledger", spec, "--key", "netbill.key"]).arg(input).output().unwrap()
    }
}
