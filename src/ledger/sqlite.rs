//! The ledger on an embedded SQLite database.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::clock::Time;
use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::doc::{Hex, Signed};
use crate::error::{Error, ErrorKind, Result};
use crate::ledger::audit::{self, Tables};
use crate::ledger::{AuditReport, Statement, statement_lines};
use crate::money::{Amount, from_sql, to_sql as micros};
use crate::netbill::batch::{self, Directory, Prepared};
use crate::netbill::delivery::EpoId;
use crate::netbill::epo::EndorsedEpo;
use crate::netbill::receipt::{Outcome, Receipt};
use crate::netbill::settle::{self, Account, Books, Decision, StoredSettlement};

const SCHEMA_VERSION: &str = "1";

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
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
    kind TEXT NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'purchase')),
    epo_id TEXT UNIQUE,
    memo TEXT,
    at TEXT NOT NULL
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
    ciphertext_sha256 TEXT NOT NULL,
    goods_key TEXT,
    receipt TEXT NOT NULL,
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
    /// Creates a new ledger file for the server with identity `server`; fails if it exists.
    /// The file appears only once its schema is complete.
    pub fn create(path: &Path, server: &Signed<Identity>, now: Time) -> Result<()> {
        crate::fsio::create_database(path, "ledger database", |conn| {
            conn.execute_batch(SCHEMA)?;
            let mut put = conn.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
            for (k, v) in [
                ("schema_version", SCHEMA_VERSION.to_string()),
                ("server_identity", server.to_json_line()),
                ("created_at", now.to_string()),
            ] {
                put.execute(params![k, v])?;
            }
            Ok(())
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
                return Err(Error::malformed(format!("ledger schema version {v} is not supported")).at(path.display()));
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
    pub fn open_account(&mut self, identity: &Identity, now: Time) -> Result<()> {
        crate::ledger::check_account_key(identity)?;
        let path = self.path.clone();
        let tx = self.write_txn()?;
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
        now: Time,
    ) -> Result<Amount> {
        let path = self.path.clone();
        if value == Amount::ZERO {
            return Err(Error::usage("the amount must be greater than zero"));
        }
        let delta = micros(value);
        let tx = self.write_txn()?;
        let (id, balance) = find_account(&tx, account, &path)?;
        let new_balance = match kind {
            External::Deposit => balance.checked_add(value)?,
            External::Withdrawal => balance.checked_sub(value).ok_or_else(|| {
                Error::refused(format!("insufficient funds: {account} has {balance}, cannot withdraw {value}"))
            })?,
        };
        let signed = if kind == External::Deposit { delta } else { -delta };
        tx.execute(
            "INSERT INTO transactions (kind, memo, at) VALUES (?1, ?2, ?3)",
            params![kind.as_str(), memo, now.to_string()],
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
        self.check_server_keys(server)?;
        let path = self.path.clone();
        let tx = self.write_txn()?;
        let mut books = SqliteBooks { tx: &tx, path: &path };
        let receipt = settle::settle(&mut books, request, server, now)?;
        tx.commit().map_err(db_error(&path))?;
        Ok(receipt)
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
        let mut books = SqliteBooks { tx: &tx, path: &path };
        let receipts = batch::settle_group(&mut books, group, server, now, threads)?;
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
        let mut books = SqliteBooks { tx: &tx, path: &path };
        let Some(stored) = books.settlement(epo_id)? else {
            return Ok(None);
        };
        let customer = books.account(stored.receipt.unverified().customer)?;
        Ok(Some((stored, customer)))
    }

    /// Checks every invariant of the books (see [`AuditReport`]).
    pub fn audit(&mut self) -> Result<AuditReport> {
        Ok(audit::audit(&tables(&self.conn, &self.path)?, &self.server))
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
}

impl Books for SqliteBooks<'_> {
    fn account(&mut self, key: KeyId) -> Result<Option<Account>> {
        let row: Option<(String, String, i64)> = self
            .tx
            .prepare_cached("SELECT name, identity, balance FROM accounts WHERE key_id = ?1")
            .and_then(|mut s| s.query_row([key.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
            .optional()
            .map_err(db_error(self.path))?;
        row.map(|(name, identity, balance)| {
            let identity: Identity = serde_json::from_str(&identity).map_err(|e| {
                Error::malformed(format!("account {name}: stored identity: {e}")).at(self.path.display())
            })?;
            Ok(Account { name, identity, balance: amount(balance, self.path)? })
        })
        .transpose()
    }

    fn settlement(&mut self, epo_id: &EpoId) -> Result<Option<StoredSettlement>> {
        let row: Option<(String, String)> = self
            .tx
            .prepare_cached("SELECT request_sha256, receipt FROM settlements WHERE epo_id = ?1")
            .and_then(|mut s| s.query_row([epo_id.as_str()], |r| Ok((r.get(0)?, r.get(1)?))))
            .optional()
            .map_err(db_error(self.path))?;
        row.map(|(request, receipt)| {
            let at = |e: Error| e.at(format!("{}: settlement {epo_id}", self.path.display()));
            Ok(StoredSettlement {
                request: Hex::parse(&request).map_err(|e| at(Error::malformed(e)))?,
                receipt: Signed::parse(receipt.as_bytes()).map_err(at)?,
            })
        })
        .transpose()
    }

    fn record(&mut self, decision: &Decision, receipt: &Signed<Receipt>) -> Result<()> {
        let db = db_error(self.path);
        let r = &decision.receipt;
        let txn = match &decision.transfer {
            None => None,
            Some(t) => {
                let price = micros(t.price);
                self.tx
                    .prepare_cached("INSERT INTO transactions (kind, epo_id, at) VALUES ('purchase', ?1, ?2)")
                    .and_then(|mut s| s.execute(params![r.epo_id.as_str(), r.server_time.to_string()]))
                    .map_err(&db)?;
                let txn = self.tx.last_insert_rowid();
                let debited = self
                    .tx
                    .prepare_cached("UPDATE accounts SET balance = balance - ?1 WHERE key_id = ?2 AND balance >= ?1")
                    .and_then(|mut s| s.execute(params![price, t.customer.to_string()]))
                    .map_err(&db)?;
                let credited = self
                    .tx
                    .prepare_cached("UPDATE accounts SET balance = balance + ?1 WHERE key_id = ?2")
                    .and_then(|mut s| s.execute(params![price, t.merchant.to_string()]))
                    .map_err(&db)?;
                if debited != 1 || credited != 1 {
                    return Err(Error::new(ErrorKind::Io, "account changed during settlement").at(self.path.display()));
                }
                self.tx
                    .prepare_cached(
                        "INSERT INTO movements (txn, account, amount)
                         SELECT ?1, id, -?2 FROM accounts WHERE key_id = ?3
                         UNION ALL SELECT ?1, id, ?2 FROM accounts WHERE key_id = ?4",
                    )
                    .and_then(|mut s| s.execute(params![txn, price, t.customer.to_string(), t.merchant.to_string()]))
                    .map_err(&db)?;
                Some(txn)
            }
        };
        let result = if r.result == Outcome::Paid { "paid" } else { "refused" };
        self.tx
            .prepare_cached(
                "INSERT INTO settlements (epo_id, request_sha256, result, ciphertext_sha256, goods_key, receipt, txn, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    r.epo_id.as_str(),
                    r.request.to_string(),
                    result,
                    r.ciphertext_sha256.to_string(),
                    r.key.map(|k| k.to_string()),
                    receipt.to_json_line(),
                    txn,
                    r.server_time.to_string()
                ])
            })
            .map_err(&db)?;
        Ok(())
    }
}

/// One consistent snapshot of the tables the audit reads.
fn tables(conn: &Connection, path: &Path) -> Result<Tables> {
    let db = db_error(path);
    let tx = conn.unchecked_transaction().map_err(&db)?;
    fn rows<T>(
        conn: &Connection,
        sql: &str,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        conn.prepare(sql)?.query_map([], f)?.collect()
    }
    let tables = Tables {
        accounts: rows(conn, "SELECT id, name, key_id, balance FROM accounts ORDER BY id", |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .map_err(&db)?,
        movements: rows(conn, "SELECT txn, account, amount FROM movements ORDER BY id", |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(&db)?,
        transactions: rows(conn, "SELECT id, kind, epo_id FROM transactions ORDER BY id", |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(&db)?,
        settlements: rows(
            conn,
            "SELECT epo_id, request_sha256, result, goods_key, receipt, txn FROM settlements ORDER BY epo_id",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .map_err(&db)?,
    };
    tx.finish().map_err(&db)?;
    Ok(tables)
}
