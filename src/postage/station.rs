//! The sorting station: checks each piece's indicium against the pinned postal authority's
//! certificates, the address the sorter read, the date of mailing, and the pieces seen before.
//!
//! The order matters: the date is checked before the seen-database, and the database is purged
//! only of pieces older than the validity window, so a purged piece can never be replayed.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::clock::{Day, Time};
use crate::crypto::keys::Identity;
use crate::doc::{Body, Signed};
use crate::error::{Error, Result};
use crate::postage::authority::MeterCertificate;
use crate::postage::indicium::{Indicium, address_matches};

/// Days an indicium stays valid after its date of mailing (about six months).
pub const VALIDITY_DAYS: i64 = 183;

/// Why a piece was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// No symbol could be read from the image.
    Undecodable,
    /// The symbol or document is not a valid indicium record.
    MalformedRecord,
    /// No valid certificate from the authority for this meter and serial at the date of mailing.
    UncertifiedMeter,
    /// The signature does not verify with the certified key.
    BadSignature,
    /// The address the sorter read is not the one the indicium was printed for.
    AddressMismatch,
    /// The date of mailing is older than the validity window.
    Expired,
    /// The date of mailing is in the future.
    PostDated,
    /// This meter's sequence number was seen before.
    Duplicate,
}

/// Where and when a piece was first seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sighting {
    /// The piece's name (its file).
    pub piece: String,
    /// When the station saw it.
    pub at: Time,
}

/// The body of a `postage.sorting-verdict`: one per piece.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// The piece (its file name).
    pub piece: String,
    /// Accepted or not.
    pub accepted: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// What was found.
    pub detail: String,
    /// The meter, when the record could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_id: Option<String>,
    /// The sequence number, when the record could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// For a duplicate: the first sighting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Sighting>,
}

impl Body for Verdict {
    const TYPE: &'static str = "postage.sorting-verdict";
}

/// The body of a `postage.sorting-summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Pieces checked.
    pub pieces: u64,
    /// Pieces accepted.
    pub accepted: u64,
    /// Rejections by reason.
    pub rejected: BTreeMap<Reason, u64>,
}

impl Body for Summary {
    const TYPE: &'static str = "postage.sorting-summary";
}

/// The meter certificates the station trusts, each verified against the pinned authority.
pub struct Registry {
    certificates: HashMap<(String, u64), MeterCertificate>,
}

impl Registry {
    /// Keeps the certificates signed by `authority`; any other is an error naming it.
    pub fn new(authority: &Identity, certificates: &[Signed<MeterCertificate>]) -> Result<Registry> {
        let mut map = HashMap::new();
        for c in certificates {
            let body = c.verify(authority)?;
            if crate::crypto::keys::KeyId::of(&body.ed25519.0) != body.key_id {
                return Err(Error::malformed(format!("certificate {}: key id does not match its key", body.serial)));
            }
            map.insert((body.meter_id.clone(), body.serial), body.clone());
        }
        Ok(Registry { certificates: map })
    }
}

impl Registry {
    /// The signed indicium a compact record stands for: the record carries no key id, so the
    /// signature is attributed to the key of the certificate its meter id and serial select
    /// (to no key, when none does: the certificate check then rejects it).
    pub fn with_certified_key(&self, record: crate::postage::record::Record) -> Signed<Indicium> {
        let key_id = self
            .certificates
            .get(&(record.body.meter_id.clone(), record.body.certificate_serial))
            .map_or(crate::crypto::keys::KeyId([0; 8]), |c| c.key_id);
        record.signed(key_id)
    }
}

/// A rejection: its reason and what was found.
pub type Rejected = (Reason, String);

/// Every check but the seen-database, in order: certificate, signature, address, date.
pub fn check(
    indicium: &Signed<Indicium>,
    sorted_address: &str,
    registry: &Registry,
    today: Day,
) -> Result<(), Rejected> {
    let i = indicium.unverified();
    let uncertified = |why: String| (Reason::UncertifiedMeter, why);
    let cert = registry
        .certificates
        .get(&(i.meter_id.clone(), i.certificate_serial))
        .ok_or_else(|| uncertified(format!("no certificate {} for meter {}", i.certificate_serial, i.meter_id)))?;
    if i.date < cert.valid_from || i.date > cert.valid_until {
        return Err(uncertified(format!(
            "certificate {} is valid {} to {}, not on {}",
            cert.serial, cert.valid_from, cert.valid_until, i.date
        )));
    }
    if i.origin_postal_code != cert.origin_postal_code {
        return Err(uncertified(format!(
            "meter {} is licensed for {}, not {}",
            i.meter_id, cert.origin_postal_code, i.origin_postal_code
        )));
    }
    let key = cert.verifying_key().map_err(|e| (Reason::BadSignature, e.message().to_string()))?;
    indicium
        .verify_with(cert.key_id, &key, &format!("meter {}", i.meter_id))
        .map_err(|e| (Reason::BadSignature, e.message().to_string()))?;
    if !address_matches(sorted_address, i) {
        return Err((
            Reason::AddressMismatch,
            "the address read at sorting is not the one the indicium was printed for".into(),
        ));
    }
    let age = today.days_since(i.date);
    if age < 0 {
        return Err((Reason::PostDated, format!("dated {}, {} day(s) after today {today}", i.date, -age)));
    }
    if age > VALIDITY_DAYS {
        return Err((
            Reason::Expired,
            format!("dated {}, {age} days before today {today} (valid {VALIDITY_DAYS})", i.date),
        ));
    }
    Ok(())
}

/// The station's record of pieces seen (SQLite).
pub struct SeenDb {
    conn: Connection,
    path: PathBuf,
}

fn db(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::database("station database", path, &e)
}

impl SeenDb {
    /// Opens the database, creating it if needed.
    pub fn open(path: &Path) -> Result<SeenDb> {
        let conn = Connection::open(path).map_err(db(path))?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db(path))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS seen (
                 meter_id TEXT NOT NULL, sequence INTEGER NOT NULL,
                 mailed_on TEXT NOT NULL, piece TEXT NOT NULL, seen_at TEXT NOT NULL,
                 PRIMARY KEY (meter_id, sequence)) STRICT;",
        )
        .map_err(db(path))?;
        Ok(SeenDb { conn, path: path.to_path_buf() })
    }

    /// Records a sighting of (meter, sequence); returns the first sighting if there was one.
    pub fn sight(&mut self, i: &Indicium, piece: &str, now: Time) -> Result<Option<Sighting>> {
        let path = self.path.clone();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db(&path))?;
        let sequence = i64::try_from(i.sequence).map_err(|_| Error::malformed("sequence number out of range"))?;
        let first: Option<(String, String)> = tx
            .query_row(
                "SELECT piece, seen_at FROM seen WHERE meter_id = ?1 AND sequence = ?2",
                params![i.meter_id, sequence],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db(&path))?;
        if let Some((piece, at)) = first {
            return Ok(Some(Sighting { piece, at: at.parse()? }));
        }
        tx.execute(
            "INSERT INTO seen VALUES (?1, ?2, ?3, ?4, ?5)",
            params![i.meter_id, sequence, i.date.to_string(), piece, now.to_string()],
        )
        .map_err(db(&path))?;
        tx.commit().map_err(db(&path))?;
        Ok(None)
    }

    /// Drops pieces mailed more than the validity window before `today` (never younger ones,
    /// which could otherwise be replayed); returns how many.
    pub fn purge(&mut self, today: Day) -> Result<u64> {
        let oldest_kept = Day::from_epoch_days(
            u16::try_from(i64::from(today.epoch_days().unwrap_or(u16::MAX)) - VALIDITY_DAYS).unwrap_or(0),
        );
        let n = self
            .conn
            .execute("DELETE FROM seen WHERE mailed_on < ?1", [oldest_kept.to_string()])
            .map_err(db(&self.path))?;
        Ok(n as u64)
    }

    /// Pieces currently remembered.
    pub fn remembered(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row("SELECT count(*) FROM seen", [], |r| r.get(0)).map_err(db(&self.path))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
