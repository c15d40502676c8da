//! The ledger on PostgreSQL, for books shared by many settlers and machines.
//!
//! Same tables and semantics as [`crate::ledger::sqlite`], in SQL that CockroachDB also
//! accepts (BIGSERIAL keys, `= ANY($1)`, `UNNEST`, `FOR UPDATE`). Concurrency is handled with
//! explicit row locks: a group of settlements locks its accounts (`FOR UPDATE`, in key order,
//! so settlers never deadlock) before reading their balances, so no update is ever lost; a
//! transaction that fails with a serialization failure, a deadlock or a unique violation (two
//! settlers racing on one EPO id) is retried whole, and its group is decided afresh. A group
//! costs a handful of round trips, whatever its size: its rows are written with `UNNEST`.

use std::collections::HashMap;

use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, NoTls, Transaction};

use crate::clock::Time;
use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::doc::{Hex, Signed};
use crate::error::{Error, ErrorKind, Result};
use crate::ledger::audit::{self, Tables};
use crate::ledger::journal::{Action, Entry, Head, Replayed, StoredReceipts};
use crate::ledger::sqlite::External;
use crate::ledger::unwind::{self, Plan};
use crate::ledger::{AuditReport, Statement, statement_lines};
use crate::money::{Amount, from_sql as amount, to_sql as micros};
use crate::netbill::batch::{self, Directory, Prepared};
use crate::netbill::delivery::EpoId;
use crate::netbill::receipt::{Outcome, Receipt};
use crate::netbill::settle::{Account, Books, Decision, StoredSettlement};

const SCHEMA_VERSION: &str = "5";

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE journal (seq BIGINT PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE journal_head (one INT PRIMARY KEY CHECK (one = 1), seq BIGINT NOT NULL, digest TEXT NOT NULL);
CREATE TABLE accounts (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    key_id TEXT NOT NULL UNIQUE,
    identity TEXT NOT NULL,
    balance BIGINT NOT NULL CHECK (balance >= 0),
    opened_at TEXT NOT NULL
);
CREATE TABLE transactions (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'purchase', 'correction')),
    epo_id TEXT,
    memo TEXT,
    at TEXT NOT NULL,
    entry BIGINT NOT NULL,
    action BIGINT NOT NULL,
    UNIQUE (entry, action)
);
CREATE TABLE movements (
    id BIGSERIAL PRIMARY KEY,
    txn BIGINT NOT NULL REFERENCES transactions(id),
    account BIGINT REFERENCES accounts(id),
    amount BIGINT NOT NULL
);
CREATE INDEX movements_by_account ON movements(account, id);
CREATE TABLE settlements (
    epo_id TEXT PRIMARY KEY,
    request_sha256 TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('paid', 'refused')),
    ciphertext_root TEXT NOT NULL,
    goods_key TEXT,
    entry BIGINT NOT NULL,
    action BIGINT NOT NULL,
    txn BIGINT UNIQUE REFERENCES transactions(id),
    at TEXT NOT NULL
);
";

/// How many times a transaction that lost a race is tried again.
const RETRIES: u32 = 100;

/// A NetBill ledger in a PostgreSQL database.
pub struct PgLedger {
    client: Client,
    place: String,
    server: Identity,
    server_document: Signed<Identity>,
}

/// Why a transaction step failed: the database (perhaps a lost race, to retry) or the books.
enum Fail {
    Db(postgres::Error),
    Books(Error),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Fail {
        Fail::Db(e)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Books(e)
    }
}

/// A lost race: the transaction is tried again from the start.
fn retryable(e: &postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION
    })
}

fn db_error(place: &str, e: &postgres::Error) -> Error {
    let kind = if retryable(e) || e.is_closed() { ErrorKind::Busy } else { ErrorKind::Io };
    let what = match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => db.message().to_string(),
        (None, Some(source)) => format!("{e}: {source}"),
        (None, None) => e.to_string(),
    };
    Error::new(kind, format!("ledger database: {what}")).at(place)
}

/// The URL as it may be shown: without a password, in the user part or in the query.
pub fn shown(url: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = base[scheme + 3..at].split(':').next().unwrap_or_default();
            format!("{}{user}{}", &base[..scheme + 3], &base[at..])
        }
        _ => base.to_string(),
    };
    match query {
        Some(q) => {
            let kept: Vec<&str> = q.split('&').filter(|p| !p.starts_with("password=")).collect();
            if kept.is_empty() { base } else { format!("{base}?{}", kept.join("&")) }
        }
        None => base,
    }
}

fn connect(url: &str) -> Result<Client> {
    Client::connect(url, NoTls).map_err(|e| db_error(&shown(url), &e))
}

impl PgLedger {
    /// Creates the ledger's tables and the journal's first entry in the (empty) database at `url`.
    pub fn create(url: &str, server: &PartyKeys, now: Time) -> Result<()> {
        let place = shown(url);
        let genesis = Entry::sign(None, now, vec![Action::Create { server: server.identity() }], server);
        let mut client = connect(url)?;
        let run = |client: &mut Client| -> std::result::Result<(), Fail> {
            let mut tx = client.transaction()?;
            let exists = tx.query_opt(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'meta'",
                &[],
            )?;
            if exists.is_some() {
                return Err(Fail::Books(Error::new(
                    ErrorKind::CannotCreate,
                    "already holds a ledger; refusing to overwrite",
                )));
            }
            tx.batch_execute(SCHEMA)?;
            for (k, v) in [
                ("schema_version", SCHEMA_VERSION.to_string()),
                ("server_identity", server.identity_document().to_json_line()),
                ("created_at", now.to_string()),
            ] {
                tx.execute("INSERT INTO meta (key, value) VALUES ($1, $2)", &[&k, &v])?;
            }
            tx.execute("INSERT INTO journal_head (one, seq, digest) VALUES (1, 0, '')", &[])?;
            append(&mut tx, &genesis)?;
            tx.commit()?;
            Ok(())
        };
        run(&mut client).map_err(|f| match f {
            Fail::Db(e) => db_error(&place, &e),
            Fail::Books(e) => e.at(&place),
        })
    }

    /// Opens the ledger at `url`.
    pub fn open(url: &str) -> Result<PgLedger> {
        let place = shown(url);
        let mut client = connect(url)?;
        let not_one = || Error::malformed("not a NetBill ledger").at(&place);
        let meta = |client: &mut Client, key: &str| -> Result<Option<String>> {
            client
                .query_opt("SELECT value FROM meta WHERE key = $1", &[&key])
                .map(|r| r.map(|r| r.get(0)))
                .map_err(|_| not_one())
        };
        match meta(&mut client, "schema_version")?.as_deref() {
            Some(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(Error::malformed(format!(
                    "ledger schema version {v} is not supported (this release reads version {SCHEMA_VERSION})"
                ))
                .at(&place));
            }
            None => return Err(not_one()),
        }
        let identity = meta(&mut client, "server_identity")?.ok_or_else(not_one)?;
        let server = Identity::parse(identity.as_bytes()).map_err(|e| e.at(&place))?;
        let server_document = Signed::parse(identity.as_bytes()).map_err(|e| e.at(&place))?;
        Ok(PgLedger { client, place, server, server_document })
    }

    /// The server's self-signed identity document.
    pub fn server_document(&self) -> &Signed<Identity> {
        &self.server_document
    }

    /// Checks that `keys` are this ledger's server keys.
    pub fn check_server_keys(&self, keys: &PartyKeys) -> Result<()> {
        crate::ledger::check_server(&self.server, keys).map_err(|e| e.at(&self.place))
    }

    /// Runs `step` in a READ COMMITTED transaction, again from the start while it loses races.
    fn transact<T>(&mut self, mut step: impl FnMut(&mut Transaction<'_>) -> std::result::Result<T, Fail>) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = (|| {
                let mut tx = self.client.build_transaction().isolation_level(IsolationLevel::ReadCommitted).start()?;
                let value = step(&mut tx)?;
                tx.commit()?;
                Ok(value)
            })();
            match outcome {
                Ok(value) => return Ok(value),
                Err(Fail::Db(e)) if retryable(&e) && attempt < RETRIES => {
                    std::thread::sleep(std::time::Duration::from_micros(200 * u64::from(attempt.min(20))));
                }
                Err(Fail::Db(e)) => return Err(db_error(&self.place, &e)),
                Err(Fail::Books(e)) => return Err(e.at(&self.place)),
            }
        }
    }

    /// Opens an account bound to `identity`, with a zero balance.
    pub fn open_account(&mut self, identity: &Identity, server: &PartyKeys, now: Time) -> Result<()> {
        crate::ledger::check_account_key(identity)?;
        self.check_server_keys(server)?;
        let json = serde_json::to_string(identity).expect("serializable");
        self.transact(|tx| {
            let head = head(tx)?;
            let inserted = tx.execute(
                "INSERT INTO accounts (name, key_id, identity, balance, opened_at) VALUES ($1, $2, $3, 0, $4)
                 ON CONFLICT DO NOTHING",
                &[&identity.name, &identity.key_id.to_string(), &json, &now.to_string()],
            )?;
            if inserted == 0 {
                return Err(Fail::Books(Error::refused(format!(
                    "account {} already exists (names and keys are unique)",
                    identity.name
                ))));
            }
            let entry = Entry::sign(Some(head), now, vec![Action::Open { identity: identity.clone() }], server);
            append(tx, &entry)
        })
    }

    /// Moves external money into or out of an account.
    pub fn external(
        &mut self,
        account: &str,
        kind: External,
        value: Amount,
        memo: Option<&str>,
        server: &PartyKeys,
        now: Time,
    ) -> Result<Amount> {
        if value == Amount::ZERO {
            return Err(Error::usage("the amount must be greater than zero"));
        }
        self.check_server_keys(server)?;
        self.transact(|tx| {
            let head = head(tx)?;
            let row = tx
                .query_opt(
                    "SELECT id, balance, key_id FROM accounts WHERE name = $1 OR key_id = $1 FOR UPDATE",
                    &[&account],
                )?
                .ok_or_else(|| Error::new(ErrorKind::NoInput, format!("no account {account:?}")))?;
            let (id, balance, key_id): (i64, Amount, String) = (row.get(0), amount(row.get(1))?, row.get(2));
            let new_balance = match kind {
                External::Deposit => balance.checked_add(value)?,
                External::Withdrawal => balance.checked_sub(value).ok_or_else(|| {
                    Error::refused(format!("insufficient funds: {account} has {balance}, cannot withdraw {value}"))
                })?,
            };
            let delta = if kind == External::Deposit { micros(value) } else { -micros(value) };
            let txn: i64 = tx
                .query_one(
                    "INSERT INTO transactions (kind, memo, at, entry, action) VALUES ($1, $2, $3, $4, 0) RETURNING id",
                    &[&kind.as_str(), &memo, &now.to_string(), &((head.seq + 1) as i64)],
                )?
                .get(0);
            tx.execute(
                "INSERT INTO movements (txn, account, amount) VALUES ($1, $2, $3), ($1, NULL, $4)",
                &[&txn, &id, &delta, &-delta],
            )?;
            tx.execute("UPDATE accounts SET balance = $1 WHERE id = $2", &[&micros(new_balance), &id])?;
            let action = kind.action(key_id.parse()?, value, memo, new_balance);
            append(tx, &Entry::sign(Some(head), now, vec![action], server))?;
            Ok(new_balance)
        })
    }

    /// The balance of an account (by name or key id).
    pub fn balance(&mut self, account: &str) -> Result<Amount> {
        let row = self
            .client
            .query_opt("SELECT balance FROM accounts WHERE name = $1 OR key_id = $1", &[&account])
            .map_err(|e| db_error(&self.place, &e))?
            .ok_or_else(|| Error::new(ErrorKind::NoInput, format!("no account {account:?}")).at(&self.place))?;
        amount(row.get(0)).map_err(|e| e.at(&self.place))
    }

    /// Every movement of an account, oldest first.
    pub fn statement(&mut self, account: &str) -> Result<Statement> {
        let place = self.place.clone();
        self.transact(|tx| {
            let row = tx
                .query_opt(
                    "SELECT id, name, key_id, balance FROM accounts WHERE name = $1 OR key_id = $1",
                    &[&account],
                )?
                .ok_or_else(|| Error::new(ErrorKind::NoInput, format!("no account {account:?}")))?;
            let (id, name, key_id, balance): (i64, String, String, i64) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let rows = tx.query(
                "SELECT t.at, t.kind, t.epo_id, t.memo, m.amount FROM movements m JOIN transactions t ON t.id = m.txn
                 WHERE m.account = $1 ORDER BY m.id",
                &[&id],
            )?;
            let lines = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect();
            Ok(Statement {
                account: name,
                key_id: key_id.parse()?,
                balance: amount(balance)?,
                movements: statement_lines(lines, &place)?,
            })
        })
    }

    /// The audit: the journal replayed alone, and the books compared with it.
    pub fn audit(&mut self) -> Result<AuditReport> {
        Ok(audit::audit(&self.tables()?, &self.server, &[]))
    }

    /// One consistent snapshot of the books and the journal.
    pub fn tables(&mut self) -> Result<Tables> {
        let place = self.place.clone();
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(|e| db_error(&place, &e))?;
        let tables = read_tables(&mut tx).map_err(|e| db_error(&place, &e))?;
        tx.commit().map_err(|e| db_error(&place, &e))?;
        Ok(tables)
    }

    /// Applies an unwinding plan (see [`crate::ledger::unwind`]) in one transaction.
    pub fn unwind_apply(&mut self, plan: &Plan, server: &PartyKeys, now: Time) -> Result<()> {
        self.check_server_keys(server)?;
        self.transact(|tx| {
            head(tx)?;
            let (entry, replayed) = unwind::apply(&read_tables(tx)?, server, plan, now)?;
            append(tx, &entry)?;
            rebuild(tx, &replayed)
        })
    }

    /// The recorded settlement of `epo_id`, and the account of its customer.
    pub fn settlement(&mut self, epo_id: &EpoId) -> Result<Option<(StoredSettlement, Option<Account>)>> {
        let place = self.place.clone();
        let mut tx = self.client.build_transaction().read_only(true).start().map_err(|e| db_error(&place, &e))?;
        let stored = stored_settlements(&mut tx, &[epo_id.as_str().to_string()]).map_err(|e| match e {
            Fail::Db(e) => db_error(&place, &e),
            Fail::Books(e) => e.at(&place),
        })?;
        tx.commit().map_err(|e| db_error(&place, &e))?;
        let Some((_, stored)) = stored.into_iter().next() else { return Ok(None) };
        let customer = stored.receipt.unverified().customer;
        let account = self
            .client
            .query_opt("SELECT name, identity, balance FROM accounts WHERE key_id = $1", &[&customer.to_string()])
            .map_err(|e| db_error(&place, &e))?
            .map(|r| account_of(r.get(0), r.get(1), r.get(2)))
            .transpose()
            .map_err(|e| e.at(&place))?;
        Ok(Some((stored, account)))
    }

    /// Adds to `directory` the identities and keys of the accounts of `keys` it lacks.
    pub fn fill_directory(&mut self, keys: impl IntoIterator<Item = KeyId>, directory: &mut Directory) -> Result<()> {
        let missing: Vec<String> =
            keys.into_iter().filter(|k| !directory.contains_key(k)).map(|k| k.to_string()).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let rows = self
            .client
            .query("SELECT identity FROM accounts WHERE key_id = ANY($1)", &[&missing])
            .map_err(|e| db_error(&self.place, &e))?;
        for row in rows {
            let json: String = row.get(0);
            let identity: Identity = serde_json::from_str(&json)
                .map_err(|e| Error::malformed(format!("stored identity: {e}")).at(&self.place))?;
            let key = identity.verifying_key()?;
            directory.insert(identity.key_id, (identity, key));
        }
        Ok(())
    }

    /// Settles a group of prepared requests in one transaction (retried whole if it loses a
    /// race) and returns their receipts, to be released only now that they are committed.
    pub fn settle_group(
        &mut self,
        group: &[Prepared],
        server: &PartyKeys,
        now: Time,
        threads: usize,
    ) -> Result<Vec<Signed<Receipt>>> {
        self.check_server_keys(server)?;
        let mut keys: Vec<String> = group
            .iter()
            .flat_map(|p| {
                let epo = p.request.unverified().epo.unverified();
                [epo.customer.to_string(), epo.merchant.to_string()]
            })
            .collect();
        keys.sort();
        keys.dedup();
        let epo_ids: Vec<String> =
            group.iter().map(|p| p.request.unverified().epo.unverified().epo_id.as_str().to_string()).collect();
        self.transact(|tx| {
            let mut books = MemoryBooks { head: Some(head(tx)?), ..MemoryBooks::default() };
            for row in tx.query(
                "SELECT id, key_id, name, identity, balance FROM accounts WHERE key_id = ANY($1) ORDER BY key_id FOR UPDATE",
                &[&keys],
            )? {
                let key: String = row.get(1);
                let key: KeyId = key.parse()?;
                books.ids.insert(key, row.get(0));
                books.accounts.insert(key, account_of(row.get(2), row.get(3), row.get(4))?);
            }
            books.settlements = stored_settlements(tx, &epo_ids)?;
            let receipts = batch::settle_group(&mut books, group, server, now, threads)?;
            books.write(tx)?;
            Ok(receipts)
        })
    }
}

fn account_of(name: String, identity: String, balance: i64) -> Result<Account> {
    let identity: Identity = serde_json::from_str(&identity)
        .map_err(|e| Error::malformed(format!("account {name}: stored identity: {e}")))?;
    Ok(Account { name, identity, balance: amount(balance)? })
}

/// The stored settlements of `epo_ids`, their receipts read from the journal entries that hold
/// them (in entry order, one entry at a time).
fn stored_settlements(
    tx: &mut Transaction<'_>,
    epo_ids: &[String],
) -> std::result::Result<HashMap<EpoId, StoredSettlement>, Fail> {
    let rows = tx.query(
        "SELECT epo_id, request_sha256, entry, action FROM settlements WHERE epo_id = ANY($1) ORDER BY entry, action",
        &[&epo_ids],
    )?;
    let mut receipts = StoredReceipts::default();
    let mut stored = HashMap::with_capacity(rows.len());
    for row in rows {
        let (epo_id, request, entry, action): (String, String, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let in_context = |e: Error| Error::malformed(format!("settlement {epo_id}: {}", e.message()));
        let receipt = receipts.get((entry, action), |seq| -> std::result::Result<Option<String>, Fail> {
            Ok(tx.query_opt("SELECT entry FROM journal WHERE seq = $1", &[&(seq as i64)])?.map(|row| row.get(0)))
        });
        let settlement = StoredSettlement {
            request: Hex::parse(&request).map_err(|e| in_context(Error::malformed(e)))?,
            receipt: receipt.map_err(|e| match e {
                Fail::Books(e) => Fail::Books(in_context(e)),
                db => db,
            })?,
        };
        stored.insert(epo_id.parse()?, settlement);
    }
    Ok(stored)
}

/// A group's books in memory: its accounts (locked) and settlements read at the start, its
/// decisions written at the end in a few statements.
#[derive(Default)]
struct MemoryBooks {
    head: Option<Head>,
    ids: HashMap<KeyId, i64>,
    accounts: HashMap<KeyId, Account>,
    settlements: HashMap<EpoId, StoredSettlement>,
    records: Vec<(Decision, (u64, u32))>,
    entry: Option<Signed<Entry>>,
}

impl Books for MemoryBooks {
    fn account(&mut self, key: KeyId) -> Result<Option<Account>> {
        Ok(self.accounts.get(&key).cloned())
    }

    fn settlement(&mut self, epo_id: &EpoId) -> Result<Option<StoredSettlement>> {
        Ok(self.settlements.get(epo_id).cloned())
    }

    fn head(&mut self) -> Result<Head> {
        Ok(self.head.expect("read when the group's transaction starts"))
    }

    fn record(&mut self, decision: &Decision, place: (u64, u32)) -> Result<()> {
        self.records.push((decision.clone(), place));
        Ok(())
    }

    fn append(&mut self, entry: &Signed<Entry>) -> Result<()> {
        self.entry = Some(entry.clone());
        Ok(())
    }
}

impl MemoryBooks {
    /// Writes the group's purchases, movements, balances and settlements.
    fn write(&self, tx: &mut Transaction<'_>) -> std::result::Result<(), Fail> {
        let paid: Vec<(&Decision, (u64, u32))> =
            self.records.iter().filter(|(d, _)| d.transfer.is_some()).map(|(d, place)| (d, *place)).collect();
        let mut txns: HashMap<String, i64> = HashMap::new();
        if !paid.is_empty() {
            let ids: Vec<String> = paid.iter().map(|(d, _)| d.receipt.epo_id.as_str().to_string()).collect();
            let ats: Vec<String> = paid.iter().map(|(d, _)| d.receipt.server_time.to_string()).collect();
            let entries: Vec<i64> = paid.iter().map(|(_, p)| p.0 as i64).collect();
            let actions: Vec<i64> = paid.iter().map(|(_, p)| i64::from(p.1)).collect();
            for row in tx.query(
                "INSERT INTO transactions (kind, epo_id, at, entry, action)
                 SELECT 'purchase', e, a, n, i FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[]) AS t(e, a, n, i)
                 RETURNING id, epo_id",
                &[&ids, &ats, &entries, &actions],
            )? {
                txns.insert(row.get(1), row.get(0));
            }
            let (mut txn, mut account, mut moved) = (Vec::new(), Vec::new(), Vec::new());
            let mut deltas: HashMap<i64, i64> = HashMap::new();
            for (d, _) in &paid {
                let t = d.transfer.expect("paid");
                let id = txns[d.receipt.epo_id.as_str()];
                for (key, delta) in [(t.customer, -micros(t.price)), (t.merchant, micros(t.price))] {
                    let account_id = self.ids[&key];
                    txn.push(id);
                    account.push(account_id);
                    moved.push(delta);
                    *deltas.entry(account_id).or_default() += delta;
                }
            }
            tx.execute(
                "INSERT INTO movements (txn, account, amount) SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[])",
                &[&txn, &account, &moved],
            )?;
            let (ids, deltas): (Vec<i64>, Vec<i64>) = deltas.into_iter().unzip();
            tx.execute(
                "UPDATE accounts SET balance = accounts.balance + d.delta FROM UNNEST($1::int8[], $2::int8[]) AS d(id, delta)
                 WHERE accounts.id = d.id",
                &[&ids, &deltas],
            )?;
        }
        if self.records.is_empty() {
            return Ok(());
        }
        let mut columns: (Vec<String>, Vec<String>, Vec<String>, Vec<String>) = Default::default();
        let (mut keys, mut entries, mut actions, mut txn, mut at) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (d, place) in &self.records {
            let r = &d.receipt;
            columns.0.push(r.epo_id.as_str().to_string());
            columns.1.push(r.request.to_string());
            columns.2.push((if r.result == Outcome::Paid { "paid" } else { "refused" }).to_string());
            columns.3.push(r.ciphertext_root.to_string());
            keys.push(r.key.map(|k| k.to_string()));
            entries.push(place.0 as i64);
            actions.push(i64::from(place.1));
            txn.push(txns.get(r.epo_id.as_str()).copied());
            at.push(r.server_time.to_string());
        }
        tx.execute(
            "INSERT INTO settlements (epo_id, request_sha256, result, ciphertext_root, goods_key, entry, action, txn, at)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[],
                                  $8::int8[], $9::text[])",
            &[&columns.0, &columns.1, &columns.2, &columns.3, &keys, &entries, &actions, &txn, &at],
        )?;
        if let Some(entry) = &self.entry {
            append(tx, entry)?;
        }
        Ok(())
    }
}

/// The journal's head, locked until the transaction ends: every writer takes this lock first,
/// so the journal grows one entry at a time, in commit order.
fn head(tx: &mut Transaction<'_>) -> std::result::Result<Head, Fail> {
    let row = tx.query_one("SELECT seq, digest FROM journal_head FOR UPDATE", &[])?;
    let (seq, digest): (i64, String) = (row.get(0), row.get(1));
    Ok(Head {
        seq: seq as u64,
        digest: Hex::parse(&digest).map_err(|e| Error::malformed(format!("journal head: {e}")))?,
    })
}

/// Appends a signed entry to the journal and makes it the head.
fn append(tx: &mut Transaction<'_>, entry: &Signed<Entry>) -> std::result::Result<(), Fail> {
    let head = Head::of(entry);
    let seq = head.seq as i64;
    tx.execute("INSERT INTO journal (seq, entry) VALUES ($1, $2)", &[&seq, &entry.to_json_line()])?;
    tx.execute("UPDATE journal_head SET seq = $1, digest = $2", &[&seq, &head.digest.to_string()])?;
    Ok(())
}

/// The books and the journal as the transaction sees them.
fn read_tables(tx: &mut Transaction<'_>) -> std::result::Result<Tables, postgres::Error> {
    Ok(Tables {
        accounts: tx
            .query(audit::SELECT_ACCOUNTS, &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
            .collect(),
        transactions: tx
            .query(audit::SELECT_TRANSACTIONS, &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)))
            .collect(),
        movements: tx.query(audit::SELECT_MOVEMENTS, &[])?.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect(),
        settlements: tx
            .query(audit::SELECT_SETTLEMENTS, &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7), r.get(8)))
            .collect(),
        journal: tx.query(audit::SELECT_JOURNAL, &[])?.iter().map(|r| (r.get(0), r.get(1))).collect(),
        head: tx.query(audit::SELECT_HEAD, &[])?.iter().map(|r| (r.get(0), r.get(1))).next(),
    })
}

/// Replaces the books by those the journal makes.
fn rebuild(tx: &mut Transaction<'_>, books: &Replayed) -> std::result::Result<(), Fail> {
    tx.batch_execute(
        "DELETE FROM settlements; DELETE FROM movements; DELETE FROM transactions; DELETE FROM accounts;",
    )?;
    let mut ids = HashMap::new();
    for (key, a) in &books.accounts {
        let balance = i64::try_from(a.balance).map_err(|_| Error::refused("a balance out of range"))?;
        let row = tx.query_one(
            "INSERT INTO accounts (name, key_id, identity, balance, opened_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&a.name, key, &a.identity, &balance, &a.opened_at],
        )?;
        ids.insert(key.as_str(), row.get::<_, i64>(0));
    }
    let mut txns = HashMap::new();
    for (place, t) in &books.transactions {
        let row = tx.query_one(
            "INSERT INTO transactions (kind, epo_id, memo, at, entry, action) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&t.kind, &t.epo_id, &t.memo, &t.at, &(place.0 as i64), &i64::from(place.1)],
        )?;
        let txn: i64 = row.get(0);
        txns.insert(*place, txn);
        for (account, amount) in &t.moves {
            let account = account.as_deref().map(|k| ids[k]);
            tx.execute("INSERT INTO movements (txn, account, amount) VALUES ($1, $2, $3)", &[&txn, &account, amount])?;
        }
    }
    for (epo_id, s) in &books.settlements {
        tx.execute(
            "INSERT INTO settlements (epo_id, request_sha256, result, ciphertext_root, goods_key, entry, action, txn, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                epo_id,
                &s.request,
                &s.result,
                &s.ciphertext,
                &s.goods_key,
                &(s.place.0 as i64),
                &i64::from(s.place.1),
                &s.txn.map(|p| txns[&p]),
                &s.at,
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(super::shown("postgresql://bob:s3cret@db/ledger"), "postgresql://bob@db/ledger");
        assert_eq!(
            super::shown("postgresql://bob@db/ledger?password=s3cret&sslmode=disable"),
            "postgresql://bob@db/ledger?sslmode=disable"
        );
        assert_eq!(super::shown("postgresql://%2Frun%2Fpg/ledger"), "postgresql://%2Frun%2Fpg/ledger");
    }
}
