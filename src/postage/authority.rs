//! The postal authority (the postal service or the meter's vendor): it certifies meters'
//! public keys and sells refills as vouchers bound to one meter and one reset number, and
//! keeps its own record of everything it issued.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::clock::{Day, Time};
use crate::crypto::keys::{Identity, KeyId, PartyKeys};
use crate::doc::{Body, Hex, Signed};
use crate::error::{Error, ErrorKind, Result};
use crate::money::Amount;

/// The body of a `postage.certificate-request`, signed by the meter's new key (proof of
/// possession).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateRequest {
    /// The meter.
    pub meter_id: String,
    /// Key id of the meter's key.
    pub key_id: KeyId,
    /// The meter's Ed25519 public key, generated inside its coprocessor.
    pub ed25519: Hex<32>,
    /// The postal code the meter is licensed to mail from.
    pub origin_postal_code: String,
}

impl Body for CertificateRequest {
    const TYPE: &'static str = "postage.certificate-request";
}

/// The body of a `postage.meter-certificate`, signed by the postal authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterCertificate {
    /// Serial number, unique at the authority.
    pub serial: u64,
    /// The meter.
    pub meter_id: String,
    /// Key id of the meter's key.
    pub key_id: KeyId,
    /// The meter's Ed25519 public key.
    pub ed25519: Hex<32>,
    /// The licensed origin postal code.
    pub origin_postal_code: String,
    /// First day of validity.
    pub valid_from: Day,
    /// Last day of validity.
    pub valid_until: Day,
}

impl Body for MeterCertificate {
    const TYPE: &'static str = "postage.meter-certificate";
}

impl MeterCertificate {
    /// The meter's verifying key.
    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        VerifyingKey::from_bytes(&self.ed25519.0).map_err(|_| Error::malformed("invalid Ed25519 key in certificate"))
    }
}

/// The body of a `postage.refill-voucher`, signed by the postal authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Voucher {
    /// The one meter that may use it.
    pub meter_id: String,
    /// The key id of that meter's certified coprocessor key: a device made later under the
    /// same meter id has another key, and refuses the voucher.
    pub key_id: KeyId,
    /// The meter's reset number it is for: its count of accepted refills plus one.
    pub reset_number: u64,
    /// Postage added to the descending register.
    pub amount: Amount,
    /// When it was issued.
    pub issued_at: Time,
}

impl Body for Voucher {
    const TYPE: &'static str = "postage.refill-voucher";
}

/// Verifies a certificate request's proof of possession.
pub fn check_request(request: &Signed<CertificateRequest>) -> Result<&CertificateRequest> {
    let body = request.unverified();
    if KeyId::of(&body.ed25519.0) != body.key_id {
        return Err(Error::malformed("the request's key id does not match its key"));
    }
    let key = VerifyingKey::from_bytes(&body.ed25519.0).map_err(|_| Error::malformed("invalid Ed25519 key"))?;
    request.verify_with(body.key_id, &key, &format!("meter {}", body.meter_id))?;
    crate::postage::indicium::check_postal_code(&body.origin_postal_code)?;
    crate::crypto::keys::check_name(&body.meter_id)
        .map_err(|_| Error::malformed(format!("invalid meter id {:?}", body.meter_id)))?;
    Ok(body)
}

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE certificates (
    serial INTEGER PRIMARY KEY,
    meter_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    document TEXT NOT NULL
) STRICT;
CREATE TABLE vouchers (
    meter_id TEXT NOT NULL,
    reset_number INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (meter_id, reset_number)
) STRICT;
";

/// The authority's record of what it issued (SQLite).
pub struct AuthorityBook {
    conn: Connection,
    path: PathBuf,
}

/// The key id `meter_id` is certified with, if any (one key per meter id, see `certify`).
fn certified_key(conn: &Connection, meter_id: &str, path: &Path) -> Result<Option<KeyId>> {
    let key: Option<String> = conn
        .query_row("SELECT key_id FROM certificates WHERE meter_id = ?1 LIMIT 1", [meter_id], |r| r.get(0))
        .optional()
        .map_err(db(path))?;
    key.map(|k| k.parse().map_err(|_| Error::malformed("a certificate's key id").at(path.display()))).transpose()
}

fn db(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::database("authority database", path, &e)
}

impl AuthorityBook {
    /// Creates the record for the authority with identity `identity`; fails if it exists.
    pub fn create(path: &Path, identity: &Signed<Identity>) -> Result<()> {
        crate::fsio::create_database(path, "authority database", |conn| {
            conn.execute_batch(SCHEMA)?;
            conn.execute("INSERT INTO meta VALUES ('identity', ?1)", [identity.to_json_line()])?;
            Ok(())
        })
    }

    /// Opens an existing record.
    pub fn open(path: &Path) -> Result<AuthorityBook> {
        if !path.exists() {
            return Err(Error::new(
                ErrorKind::NoInput,
                "no authority record here; create one with `postal-authority init`",
            )
            .at(path.display()));
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(db(path))?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db(path))?;
        Ok(AuthorityBook { conn, path: path.to_path_buf() })
    }

    /// The authority's identity document.
    pub fn identity(&self) -> Result<Signed<Identity>> {
        let json: String = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'identity'", [], |r| r.get(0))
            .map_err(db(&self.path))?;
        Signed::parse(json.as_bytes())
    }

    /// Certifies a meter's key for `valid_days` days from `today`.
    pub fn certify(
        &mut self,
        request: &Signed<CertificateRequest>,
        keys: &PartyKeys,
        today: Day,
        valid_until: Day,
    ) -> Result<Signed<MeterCertificate>> {
        self.check_keys(keys)?;
        let body = check_request(request)?;
        let path = self.path.clone();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db(&path))?;
        if let Some(key) = certified_key(&tx, &body.meter_id, &path)?.filter(|k| *k != body.key_id) {
            return Err(Error::refused(format!(
                "meter {} is certified with another key ({key}): one meter id, one device",
                body.meter_id
            )));
        }
        let serial: i64 = tx
            .query_row("SELECT coalesce(max(serial), 0) + 1 FROM certificates", [], |r| r.get(0))
            .map_err(db(&path))?;
        let certificate = MeterCertificate {
            serial: u64::try_from(serial).expect("serials are positive"),
            meter_id: body.meter_id.clone(),
            key_id: body.key_id,
            ed25519: body.ed25519,
            origin_postal_code: body.origin_postal_code.clone(),
            valid_from: today,
            valid_until,
        };
        let signed = Signed::sign(certificate, keys);
        tx.execute(
            "INSERT INTO certificates VALUES (?1, ?2, ?3, ?4)",
            params![serial, body.meter_id, body.key_id.to_string(), signed.to_json_line()],
        )
        .map_err(db(&path))?;
        tx.commit().map_err(db(&path))?;
        Ok(signed)
    }

    /// Issues a voucher for `amount` to a certified meter, for its next reset number.
    pub fn voucher(&mut self, meter_id: &str, amount: Amount, keys: &PartyKeys, now: Time) -> Result<Signed<Voucher>> {
        self.check_keys(keys)?;
        if amount == Amount::ZERO {
            return Err(Error::usage("the amount must be greater than zero"));
        }
        let path = self.path.clone();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db(&path))?;
        let Some(key_id) = certified_key(&tx, meter_id, &path)? else {
            return Err(Error::refused(format!("meter {meter_id} has no certificate from this authority")));
        };
        let next: i64 = tx
            .query_row("SELECT coalesce(max(reset_number), 0) + 1 FROM vouchers WHERE meter_id = ?1", [meter_id], |r| {
                r.get(0)
            })
            .map_err(db(&path))?;
        let voucher = Voucher {
            meter_id: meter_id.to_string(),
            key_id,
            reset_number: u64::try_from(next).expect("reset numbers are positive"),
            amount,
            issued_at: now,
        };
        let signed = Signed::sign(voucher, keys);
        let micros = i64::try_from(amount.micros()).expect("amounts fit i64");
        tx.execute(
            "INSERT INTO vouchers VALUES (?1, ?2, ?3, ?4)",
            params![meter_id, next, micros, signed.to_json_line()],
        )
        .map_err(db(&path))?;
        tx.commit().map_err(db(&path))?;
        Ok(signed)
    }

    fn check_keys(&self, keys: &PartyKeys) -> Result<()> {
        let identity = self.identity()?;
        if identity.unverified().key_id != keys.key_id() {
            return Err(Error::usage("the key is not this authority's").at(self.path.display()));
        }
        Ok(())
    }

    /// Everything issued, as documents (certificates, then vouchers).
    pub fn issued(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT document FROM certificates UNION ALL SELECT document FROM vouchers")
            .map_err(db(&self.path))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(db(&self.path))?;
        rows.collect::<rusqlite::Result<Vec<String>>>().map_err(db(&self.path))
    }
}
