//! The SQLite file behind each cash party (bank, wallet, merchant): created whole with mode
//! 0600 (it holds secrets), opened with its kind checked, written one immediate transaction per
//! protocol step so that a step happens entirely or not at all.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{Error, ErrorKind, Result, ResultExt};

/// Turns database errors into the toolkit's (busy or locked: a temporary failure); the store
/// adds the file name.
pub trait Sql<T> {
    /// See the trait.
    fn sql(self) -> Result<T>;
}

impl<T> Sql<T> for rusqlite::Result<T> {
    fn sql(self) -> Result<T> {
        self.map_err(|e| {
            let busy = matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            );
            Error::new(if busy { ErrorKind::Busy } else { ErrorKind::Io }, format!("database: {e}"))
        })
    }
}

/// An optional binary column.
pub type Blob = Option<Vec<u8>>;

/// A record's JSON text, as the stores keep documents and spends.
pub fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("documents serialize")
}

/// A record read back from a store; a parse failure means the file was damaged.
pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::malformed(format!("corrupt record in the database: {e}")))
}

/// An open store of one kind (`"bank"`, `"wallet"`, `"merchant"`).
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA_VERSION: &str = "1";

impl Store {
    /// Creates the store (failing if the file exists): `schema`, then `meta` pairs. The file
    /// appears only once complete.
    pub fn create(path: &Path, kind: &str, schema: &str, meta: &[(&str, &str)]) -> Result<()> {
        crate::fsio::create_database(path, &format!("{kind} database"), |conn| {
            conn.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;")?;
            conn.execute_batch(schema)?;
            let mut put = conn.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
            for (k, v) in [("kind", kind), ("schema_version", SCHEMA_VERSION)].iter().chain(meta) {
                put.execute(params![k, v])?;
            }
            Ok(())
        })
    }

    /// Opens an existing store of `kind`; `init` names the command that creates one.
    pub fn open(path: &Path, kind: &str, init: &str) -> Result<Store> {
        if !path.exists() {
            return Err(
                Error::new(ErrorKind::NoInput, format!("no {kind} here; create one with `{init}`")).at(path.display())
            );
        }
        // The store holds secrets (keys, coin secrets, blinding factors): refuse it when others
        // may read it, as with key files.
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(|e| Error::io(&e).at(path.display()))?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(Error::refused(format!(
                    "{kind} file has mode {:04o}, readable by others; run chmod 600 on it",
                    mode & 0o777
                ))
                .at(path.display()));
            }
        }
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .sql()
                .at(path.display())?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).sql().at(path.display())?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .sql()
            .at(path.display())?;
        let store = Store { conn, path: path.to_path_buf() };
        let not_one = || Error::malformed(format!("not a {kind} database")).at(path.display());
        match store.meta("kind").map_err(|_| not_one())?.as_deref() {
            Some(k) if k == kind => {}
            _ => return Err(not_one()),
        }
        match store.meta("schema_version")?.as_deref() {
            Some(SCHEMA_VERSION) => Ok(store),
            v => Err(Error::malformed(format!("{kind} schema version {v:?} is not supported")).at(path.display())),
        }
    }

    /// A value from the meta table.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .sql()
            .at(self.path.display())
    }

    /// A required value from the meta table.
    pub fn required(&self, key: &str) -> Result<String> {
        self.meta(key)?.ok_or_else(|| Error::malformed(format!("{key} is missing")).at(self.path.display()))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `step` in one immediate (write-locking) transaction, committed only if it succeeds.
    /// Errors other than refusals are placed at the store's file unless they name a place already.
    pub fn write<T>(&mut self, step: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let run = || {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).sql()?;
            let out = step(&tx)?;
            tx.commit().sql()?;
            Ok(out)
        };
        run().map_err(|e| placed(e, &path))
    }

    /// Runs `query` on a consistent snapshot.
    pub fn read<T>(&mut self, query: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let run = || {
            let tx = self.conn.transaction().sql()?;
            query(&tx)
        };
        run().map_err(|e| placed(e, &path))
    }
}

/// A refusal concerns the request, not the store: it is left for the caller to place (at
/// the input file); anything else is placed at the store's file.
fn placed(e: Error, path: &Path) -> Error {
    match e.kind() {
        ErrorKind::Refused | ErrorKind::Usage => e,
        _ => e.at(path.display()),
    }
}
