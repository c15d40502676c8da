//! The ledger on an embedded SQLite database.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::clock::Time;
use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::doc::{Hex, Signed};
use crate::error::{Error, ErrorKind, Result};
use crate::ledger::audit::{self, Tables};
use crate::ledger::journal::{self, Action, Entry, Head, Replayed, StoredReceipts};
use crate::ledger::unwind::{self, Plan};
use crate::ledger::{AuditReport, Statement, statement_lines};
use crate::money::{Amount, from_sql, to_sql as micros};
use crate::netbill::batch::{self, Directory, Prepared};
use crate::netbill::delivery::EpoId;
use crate::netbill::epo::EndorsedEpo;
use crate::netbill::receipt::{Outcome, Receipt};
use crate::netbill::settle::{Account, Books, Decision, StoredSettlement};

const SCHEMA_VERSION: &str = "5";

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE journal (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL) STRICT;
CREATE TABLE journal_head (one INTEGER PRIMARY KEY CHECK (one = 1), seq INTEGER NOT NULL, digest TEXT NOT NULL) STRICT;
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    key_id TEXT NOT NULL UNIQUE,
    identity TEXT NOT NULL,
    balance INTEGER NOT NULL CHECK (balance >= 0),
    opened_at TEXT NOT NULL
) STRICT;
CREATE TABLE transactions (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'purchase', 'correction')),
    epo_id TEXT,
    memo TEXT,
    at TEXT NOT NULL,
    entry INTEGER NOT NULL,
    action INTEGER NOT NULL,
    UNIQUE (entry, action)
) STRICT;
CREATE TABLE movements (
    id INTEGER PRIMARY KEY,
    txn INTEGER NOT NULL REFERENCES transactions(id),
    account INTEGER REFERENCES accounts(id),
    amount INTEGER NOT NULL
) STRICT;
CREATE INDEX movements_by_account ON movements(account, id);
CREATE TABLE settlements (
    epo_id TEXT PRIMARY KEY,
    request_sha256 TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('paid', 'refused')),
    ciphertext_root TEXT NOT NULL,
    goods_key TEXT,
    entry INTEGER NOT NULL,
    action INTEGER NOT NULL,
    txn INTEGER UNIQUE REFERENCES transactions(id),
    at TEXT NOT NULL
) STRICT;
";

/// A NetBill ledger in one SQLite file.
pub struct SqliteLedger {
    conn: Connection,
    path: PathBuf,
    server: Identity,
    server_document: Signed<Identity>,
}

/// Maps a database error to the toolkit's error: a locked database is a temporary failure.
fn db_error(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::database("ledger database", path, &e)
}

/// A stored amount, the error placed at the ledger.
fn amount(micros: i64, path: &Path) -> Result<Amount> {
    from_sql(micros).map_err(|e| e.at(path.display()))
}

impl SqliteLedger {
    /// Creates a new ledger file for the server `server`; fails if it exists. The file appears
    /// only once its schema and the journal's first entry are complete.
    pub fn create(path: &Path, server: &PartyKeys, now: Time) -> Result<()> {
        let genesis = Entry::sign(None, now, vec![Action::Create { server: server.identity() }], server);
        crate::fsio::create_database(path, "ledger database", |conn| {
            conn.execute_batch(SCHEMA)?;
            let mut put = conn.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
            for (k, v) in [
                ("schema_version", SCHEMA_VERSION.to_string()),
                ("server_identity", server.identity_document().to_json_line()),
                ("created_at", now.to_string()),
            ] {
                put.execute(params![k, v])?;
            }
            conn.execute("INSERT INTO journal_head (one, seq, digest) VALUES (1, 0, '')", [])?;
            append(conn, &genesis)
        })
    }

    /// Opens an existing ledger.
    pub fn open(path: &Path) -> Result<SqliteLedger> {
        if !path.exists() {
            return Err(Error::new(ErrorKind::NoInput, "no ledger here; create one with `netbill-ledger init`")
                .at(path.display()));
        }
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(db_error(path))?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db_error(path))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(db_error(path))?;
        let meta = |key: &str| -> Result<Option<String>> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(|_| Error::malformed("not a NetBill ledger").at(path.display()))
        };
        match meta("schema_version")?.as_deref() {
            Some(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(Error::malformed(format!(
                    "ledger schema version {v} is not supported (this release reads version {SCHEMA_VERSION})"
                ))
                .at(path.display()));
            }
            None => return Err(Error::malformed("not a NetBill ledger").at(path.display())),
        }
        let identity = meta("server_identity")?
            .ok_or_else(|| Error::malformed("ledger has no server identity").at(path.display()))?;
        let server = Identity::parse(identity.as_bytes()).map_err(|e| e.at(path.display()))?;
        let server_document = Signed::parse(identity.as_bytes()).map_err(|e| e.at(path.display()))?;
        Ok(SqliteLedger { conn, path: path.to_path_buf(), server, server_document })
    }

    /// The server's self-signed identity document.
    pub fn server_document(&self) -> &Signed<Identity> {
        &self.server_document
    }

    /// Checks that `keys` are this ledger's server keys.
    pub fn check_server_keys(&self, keys: &PartyKeys) -> Result<()> {
        crate::ledger::check_server(&self.server, keys).map_err(|e| e.at(self.path.display()))
    }

    fn write_txn(&mut self) -> Result<Transaction<'_>> {
        self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error(&self.path))
    }

    /// Opens an account bound to `identity`, with a zero balance.
    pub fn open_account(&mut self, identity: &Identity, server: &PartyKeys, now: Time) -> Result<()> {
        crate::ledger::check_account_key(identity)?;
        self.check_server_keys(server)?;
        let path = self.path.clone();
        let tx = self.write_txn()?;
        let head = head(&tx).map_err(db_error(&path))?;
        let taken: Option<String> = tx
            .query_row(
                "SELECT name FROM accounts WHERE name = ?1 OR key_id = ?2",
                params![identity.name, identity.key_id.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_error(&path))?;
        if let Some(name) = taken {
            return Err(
                Error::refused(format!("account {name} already exists (names and keys are unique)")).at(path.display())
            );
        }
        let identity_json = serde_json::to_string(identity).expect("serializable");
        tx.execute(
            "INSERT INTO accounts (name, key_id, identity, balance, opened_at) VALUES (?1, ?2, ?3, 0, ?4)",
            params![identity.name, identity.key_id.to_string(), identity_json, now.to_string()],
        )
        .map_err(db_error(&path))?;
        let entry = Entry::sign(Some(head), now, vec![Action::Open { identity: identity.clone() }], server);
        append(&tx, &entry).map_err(db_error(&path))?;
        tx.commit().map_err(db_error(&path))
    }

    /// Moves external money into (`deposit`) or out of (`withdrawal`) an account, as one
    /// balanced transaction against the outside world.
    pub fn external(
        &mut self,
        account: &str,
        kind: External,
        value: Amount,
        memo: Option<&str>,
        server: &PartyKeys,
        now: Time,
    ) -> Result<Amount> {
        let path = self.path.clone();
        if value == Amount::ZERO {
            return Err(Error::usage("the amount must be greater than zero"));
        }
        self.check_server_keys(server)?;
        let delta = micros(value);
        let tx = self.write_txn()?;
        let head = head(&tx).map_err(db_error(&path))?;
        let (id, balance) = find_account(&tx, account, &path)?;
        let key_id: String =
            tx.query_row("SELECT key_id FROM accounts WHERE id = ?1", [id], |r| r.get(0)).map_err(db_error(&path))?;
        let new_balance = match kind {
            External::Deposit => balance.checked_add(value)?,
            External::Withdrawal => balance.checked_sub(value).ok_or_else(|| {
                Error::refused(format!("insufficient funds: {account} has {balance}, cannot withdraw {value}"))
            })?,
        };
        let signed = if kind == External::Deposit { delta } else { -delta };
        tx.execute(
            "INSERT INTO transactions (kind, memo, at, entry, action) VALUES (?1, ?2, ?3, ?4, 0)",
            params![kind.as_str(), memo, now.to_string(), (head.seq + 1) as i64],
        )
        .map_err(db_error(&path))?;
        let txn = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO movements (txn, account, amount) VALUES (?1, ?2, ?3), (?1, NULL, ?4)",
            params![txn, id, signed, -signed],
        )
        .map_err(db_error(&path))?;
        tx.execute("UPDATE accounts SET balance = ?1 WHERE id = ?2", params![micros(new_balance), id])
            .map_err(db_error(&path))?;
        let action = kind.action(key_id.parse()?, value, memo, new_balance);
        append(&tx, &Entry::sign(Some(head), now, vec![action], server)).map_err(db_error(&path))?;
        tx.commit().map_err(db_error(&path))?;
        Ok(new_balance)
    }

    /// The balance of an account (by name or key id).
    pub fn balance(&mut self, account: &str) -> Result<Amount> {
        Ok(find_account(&self.conn, account, &self.path)?.1)
    }

    /// Every movement of an account, oldest first.
    pub fn statement(&mut self, account: &str) -> Result<Statement> {
        let db = db_error(&self.path);
        let (id, balance) = find_account(&self.conn, account, &self.path)?;
        let (name, key_id): (String, String) = self
            .conn
            .query_row("SELECT name, key_id FROM accounts WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&db)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT t.at, t.kind, t.epo_id, t.memo, m.amount FROM movements m JOIN transactions t ON t.id = m.txn
                 WHERE m.account = ?1 ORDER BY m.id",
            )
            .map_err(&db)?;
        let rows = stmt
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(&db)?;
        let rows = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&db)?;
        let movements = statement_lines(rows, &self.path.display().to_string())?;
        Ok(Statement { account: name, key_id: key_id.parse()?, balance, movements })
    }

    /// Settles one endorsed EPO in one transaction and returns the receipt to release.
    pub fn settle(&mut self, request: &Signed<EndorsedEpo>, server: &PartyKeys, now: Time) -> Result<Signed<Receipt>> {
        let epo = request.unverified().epo.unverified();
        let mut directory = Directory::new();
        self.fill_directory([epo.customer, epo.merchant], &mut directory)?;
        let prepared = batch::prepare(vec![request.clone()], &directory, server, 1);
        Ok(self.settle_group(&prepared, server, now, 1)?.remove(0))
    }

    /// Settles a group of prepared requests in one transaction (group commit) and returns
    /// their receipts, to be released only now that they are committed.
    pub fn settle_group(
        &mut self,
        group: &[Prepared],
        server: &PartyKeys,
        now: Time,
        threads: usize,
    ) -> Result<Vec<Signed<Receipt>>> {
        self.check_server_keys(server)?;
        let path = self.path.clone();
        let tx = self.write_txn()?;
        let mut books = SqliteBooks::new(&tx, &path);
        let receipts = batch::settle_group(&mut books, group, server, now, threads)?;
        books.apply_deltas()?;
        tx.commit().map_err(db_error(&path))?;
        Ok(receipts)
    }

    /// Adds to `directory` the identities and keys of the accounts of `keys` it lacks.
    pub fn fill_directory(&mut self, keys: impl IntoIterator<Item = KeyId>, directory: &mut Directory) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT identity FROM accounts WHERE key_id = ?1")
            .map_err(db_error(&self.path))?;
        for key in keys {
            if directory.contains_key(&key) {
                continue;
            }
            let found: Option<String> =
                stmt.query_row([key.to_string()], |r| r.get(0)).optional().map_err(db_error(&self.path))?;
            if let Some(json) = found {
                let identity: Identity = serde_json::from_str(&json)
                    .map_err(|e| Error::malformed(format!("stored identity {key}: {e}")).at(self.path.display()))?;
                let verifying = identity.verifying_key()?;
                directory.insert(key, (identity, verifying));
            }
        }
        Ok(())
    }

    /// The recorded settlement of `epo_id`, and the account identity of its customer.
    pub fn settlement(&mut self, epo_id: &EpoId) -> Result<Option<(StoredSettlement, Option<Account>)>> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(db_error(&path))?;
        let mut books = SqliteBooks::new(&tx, &path);
        let Some(stored) = books.settlement(epo_id)? else {
            return Ok(None);
        };
        let customer = books.account(stored.receipt.unverified().customer)?;
        Ok(Some((stored, customer)))
    }

    /// The audit: the journal replayed alone, and the books compared with it.
    pub fn audit(&mut self) -> Result<AuditReport> {
        Ok(audit::audit(&self.tables()?, &self.server, &[]))
    }

    /// One consistent snapshot of the books and the journal.
    pub fn tables(&mut self) -> Result<Tables> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(db_error(&path))?;
        tables(&tx).map_err(db_error(&path))
    }

    /// Applies an unwinding plan (see [`crate::ledger::unwind`]) in one transaction.
    pub fn unwind_apply(&mut self, plan: &Plan, server: &PartyKeys, now: Time) -> Result<()> {
        self.check_server_keys(server)?;
        let path = self.path.clone();
        let tx = self.write_txn()?;
        let (entry, replayed) = unwind::apply(&tables(&tx).map_err(db_error(&path))?, server, plan, now)?;
        append(&tx, &entry).map_err(db_error(&path))?;
        rebuild(&tx, &replayed).map_err(db_error(&path))?;
        tx.commit().map_err(db_error(&path))
    }
}

/// External money movements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum External {
    /// Money in from outside.
    Deposit,
    /// Money out to outside.
    Withdrawal,
}

impl External {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            External::Deposit => "deposit",
            External::Withdrawal => "withdrawal",
        }
    }

    /// The journal action recording this movement of `amount` on `account`, left at `balance`.
    pub(crate) fn action(self, account: KeyId, amount: Amount, memo: Option<&str>, balance: Amount) -> Action {
        let moved = journal::External { account, amount, memo: memo.map(str::to_string), balance };
        match self {
            External::Deposit => Action::Deposit(moved),
            External::Withdrawal => Action::Withdrawal(moved),
        }
    }
}

fn find_account(conn: &Connection, account: &str, path: &Path) -> Result<(i64, Amount)> {
    conn.query_row("SELECT id, balance FROM accounts WHERE name = ?1 OR key_id = ?1", [account], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })
    .optional()
    .map_err(db_error(path))?
    .ok_or_else(|| Error::new(ErrorKind::NoInput, format!("no account {account:?}")).at(path.display()))
    .and_then(|(id, b)| Ok((id, amount(b, path)?)))
}

struct SqliteBooks<'a> {
    tx: &'a Transaction<'a>,
    path: &'a Path,
    /// What the payments recorded so far move on each account (in micro-units), applied once
    /// per account at the end of the group.
    deltas: HashMap<KeyId, i64>,
    /// The row ids of the accounts read in this transaction.
    ids: HashMap<KeyId, i64>,
    /// The stored settlements' receipts, read from the journal.
    receipts: StoredReceipts,
}

impl<'a> SqliteBooks<'a> {
    fn new(tx: &'a Transaction<'a>, path: &'a Path) -> SqliteBooks<'a> {
        SqliteBooks { tx, path, deltas: HashMap::new(), ids: HashMap::new(), receipts: StoredReceipts::default() }
    }

    /// The row id of account `key`: as read with it in this transaction, or looked up.
    fn account_id(&mut self, key: KeyId) -> Result<i64> {
        if let Some(&id) = self.ids.get(&key) {
            return Ok(id);
        }
        let id = self
            .tx
            .prepare_cached("SELECT id FROM accounts WHERE key_id = ?1")
            .and_then(|mut s| s.query_row([key.to_string()], |r| r.get(0)))
            .map_err(db_error(self.path))?;
        self.ids.insert(key, id);
        Ok(id)
    }

    /// Applies the group's balance changes, one update per account; each must find the
    /// account and leave it non-negative (the transaction holds the write lock, so the balances
    /// the group was decided on are still the books').
    fn apply_deltas(&mut self) -> Result<()> {
        let mut update = self
            .tx
            .prepare_cached("UPDATE accounts SET balance = balance + ?1 WHERE key_id = ?2 AND balance + ?1 >= 0")
            .map_err(db_error(self.path))?;
        for (key, delta) in self.deltas.drain() {
            if update.execute(params![delta, key.to_string()]).map_err(db_error(self.path))? != 1 {
                return Err(Error::new(ErrorKind::Io, "account changed during settlement").at(self.path.display()));
            }
        }
        Ok(())
    }
}

impl Books for SqliteBooks<'_> {
    fn account(&mut self, key: KeyId) -> Result<Option<Account>> {
        let row: Option<(i64, String, String, i64)> = self
            .tx
            .prepare_cached("SELECT id, name, identity, balance FROM accounts WHERE key_id = ?1")
            .and_then(|mut s| s.query_row([key.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))))
            .optional()
            .map_err(db_error(self.path))?;
        row.map(|(id, name, identity, balance)| {
            self.ids.insert(key, id);
            let identity: Identity = serde_json::from_str(&identity).map_err(|e| {
                Error::malformed(format!("account {name}: stored identity: {e}")).at(self.path.display())
            })?;
            Ok(Account { name, identity, balance: amount(balance, self.path)? })
        })
        .transpose()
    }

    fn settlement(&mut self, epo_id: &EpoId) -> Result<Option<StoredSettlement>> {
        let row: Option<(String, i64, i64)> = self
            .tx
            .prepare_cached("SELECT request_sha256, entry, action FROM settlements WHERE epo_id = ?1")
            .and_then(|mut s| s.query_row([epo_id.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
            .optional()
            .map_err(db_error(self.path))?;
        let Some((request, entry, action)) = row else {
            return Ok(None);
        };
        let at = |e: Error| e.at(format!("{}: settlement {epo_id}", self.path.display()));
        let (tx, path) = (self.tx, self.path);
        let receipt = self.receipts.get((entry, action), |seq| {
            tx.prepare_cached("SELECT entry FROM journal WHERE seq = ?1")
                .and_then(|mut s| s.query_row([seq as i64], |r| r.get(0)))
                .optional()
                .map_err(db_error(path))
        });
        Ok(Some(StoredSettlement {
            request: Hex::parse(&request).map_err(|e| at(Error::malformed(e)))?,
            receipt: receipt.map_err(at)?,
        }))
    }

    fn head(&mut self) -> Result<Head> {
        head(self.tx).map_err(db_error(self.path))
    }

    fn append(&mut self, entry: &Signed<Entry>) -> Result<()> {
        append(self.tx, entry).map_err(db_error(self.path))
    }

    fn record(&mut self, decision: &Decision, place: (u64, u32)) -> Result<()> {
        let db = db_error(self.path);
        let r = &decision.receipt;
        let at = r.server_time.to_string();
        let txn = match &decision.transfer {
            None => None,
            Some(t) => {
                let price = micros(t.price);
                self.tx
                    .prepare_cached(
                        "INSERT INTO transactions (kind, epo_id, at, entry, action) VALUES ('purchase', ?1, ?2, ?3, ?4)",
                    )
                    .and_then(|mut s| s.execute(params![r.epo_id.as_str(), at, place.0 as i64, place.1]))
                    .map_err(&db)?;
                let txn = self.tx.last_insert_rowid();
                for (key, delta) in [(t.customer, -price), (t.merchant, price)] {
                    let d = self.deltas.entry(key).or_default();
                    // The decisions kept every balance in range, so their sums are too.
                    *d = d.checked_add(delta).expect("a group moves less than the largest amount");
                }
                let (customer, merchant) = (self.account_id(t.customer)?, self.account_id(t.merchant)?);
                self.tx
                    .prepare_cached("INSERT INTO movements (txn, account, amount) VALUES (?1, ?2, -?3), (?1, ?4, ?3)")
                    .and_then(|mut s| s.execute(params![txn, customer, price, merchant]))
                    .map_err(&db)?;
                Some(txn)
            }
        };
        let result = if r.result == Outcome::Paid { "paid" } else { "refused" };
        self.tx
            .prepare_cached(
                "INSERT INTO settlements (epo_id, request_sha256, result, ciphertext_root, goods_key, entry, action, txn, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    r.epo_id.as_str(),
                    r.request.to_string(),
                    result,
                    r.ciphertext_root.to_string(),
                    r.key.map(|k| k.to_string()),
                    place.0 as i64,
                    place.1,
                    txn,
                    at
                ])
            })
            .map_err(&db)?;
        Ok(())
    }
}

/// The journal's head.
fn head(conn: &Connection) -> rusqlite::Result<Head> {
    let (seq, digest): (i64, String) =
        conn.prepare_cached("SELECT seq, digest FROM journal_head")?.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let digest = Hex::parse(&digest)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into()))?;
    Ok(Head { seq: seq as u64, digest })
}

/// Appends a signed entry to the journal and makes it the head.
fn append(conn: &Connection, entry: &Signed<Entry>) -> rusqlite::Result<()> {
    let head = Head::of(entry);
    conn.prepare_cached("INSERT INTO journal (seq, entry) VALUES (?1, ?2)")?
        .execute(params![head.seq as i64, entry.to_json_line()])?;
    conn.prepare_cached("UPDATE journal_head SET seq = ?1, digest = ?2")?
        .execute(params![head.seq as i64, head.digest.to_string()])?;
    Ok(())
}

/// One consistent snapshot of the books and the journal (`conn` is in a transaction).
fn tables(conn: &Connection) -> rusqlite::Result<Tables> {
    fn rows<T>(
        conn: &Connection,
        sql: &str,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        conn.prepare(sql)?.query_map([], f)?.collect()
    }
    Ok(Tables {
        accounts: rows(conn, audit::SELECT_ACCOUNTS, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })?,
        transactions: rows(conn, audit::SELECT_TRANSACTIONS, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })?,
        movements: rows(conn, audit::SELECT_MOVEMENTS, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?,
        settlements: rows(conn, audit::SELECT_SETTLEMENTS, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
        })?,
        journal: rows(conn, audit::SELECT_JOURNAL, |r| Ok((r.get(0)?, r.get(1)?)))?,
        head: rows(conn, audit::SELECT_HEAD, |r| Ok((r.get(0)?, r.get(1)?)))?.pop(),
    })
}

/// A replayed balance as stored (the unwinding has checked it is one).
fn sql_balance(balance: i128) -> rusqlite::Result<i64> {
    i64::try_from(balance).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(3, i64::MAX))
}

/// Replaces the books by those the journal makes.
fn rebuild(conn: &Connection, books: &Replayed) -> rusqlite::Result<()> {
    conn.execute_batch(
        "DELETE FROM settlements; DELETE FROM movements; DELETE FROM transactions; DELETE FROM accounts;",
    )?;
    let mut ids = HashMap::new();
    for (key, a) in &books.accounts {
        conn.execute(
            "INSERT INTO accounts (name, key_id, identity, balance, opened_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![a.name, key, a.identity, sql_balance(a.balance)?, a.opened_at],
        )?;
        ids.insert(key.as_str(), conn.last_insert_rowid());
    }
    let mut txns = HashMap::new();
    for (place, t) in &books.transactions {
        conn.execute(
            "INSERT INTO transactions (kind, epo_id, memo, at, entry, action) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![t.kind, t.epo_id, t.memo, t.at, place.0 as i64, place.1],
        )?;
        let txn = conn.last_insert_rowid();
        txns.insert(*place, txn);
        for (account, amount) in &t.moves {
            let account = account.as_deref().map(|k| ids[k]);
            conn.execute(
                "INSERT INTO movements (txn, account, amount) VALUES (?1, ?2, ?3)",
                params![txn, account, amount],
            )?;
        }
    }
    for (epo_id, s) in &books.settlements {
        conn.execute(
            "INSERT INTO settlements (epo_id, request_sha256, result, ciphertext_root, goods_key, entry, action, txn, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                epo_id,
                s.request,
                s.result,
                s.ciphertext,
                s.goods_key,
                s.place.0 as i64,
                s.place.1,
                s.txn.map(|p| txns[&p]),
                s.at
            ],
        )?;
    }
    Ok(())
}
