//! A fresh PostgreSQL database per test, on the server `scripts/test` starts.

use atomic_commerce::ledger::{External, Ledger};

use super::{World, now};

/// The server's URL without a database, from NETBILL_TEST_POSTGRES (scripts/test sets it).
fn server() -> String {
    std::env::var("NETBILL_TEST_POSTGRES").expect(
        "NETBILL_TEST_POSTGRES is not set: run the suite with scripts/test, which installs and starts PostgreSQL \
         (or set it to a server URL whose user may create databases, e.g. postgresql://root@%2Fvar%2Frun%2Fpostgresql)",
    )
}

/// A database created for one test and dropped after it.
pub struct PgDb {
    name: String,
    /// The database's URL.
    pub url: String,
}

impl PgDb {
    pub fn new() -> PgDb {
        let name = format!("netbill_test_{}", hex::encode(atomic_commerce::crypto::random::<8>()));
        let mut admin = postgres::Client::connect(&format!("{}/postgres", server()), postgres::NoTls)
            .expect("the PostgreSQL server of NETBILL_TEST_POSTGRES accepts connections");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        PgDb { url: format!("{}/{name}", server()), name }
    }

    /// A NetBill ledger in this database with the world's server, accounts and alice's 5.
    pub fn ledger_for(world: &World) -> PgDb {
        let db = PgDb::new();
        let spec = std::path::Path::new(&db.url);
        let server = &world.server.keys;
        Ledger::create(spec, server, now()).unwrap();
        let mut ledger = Ledger::open(spec).unwrap();
        ledger.open_account(&world.alice.identity(), server, now()).unwrap();
        ledger.open_account(&world.bookshop.identity(), server, now()).unwrap();
        ledger.external("alice", External::Deposit, "5".parse().unwrap(), None, server, now()).unwrap();
        db
    }

    pub fn ledger(&self) -> Ledger {
        Ledger::open(std::path::Path::new(&self.url)).unwrap()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&format!("{}/postgres", server()), postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
