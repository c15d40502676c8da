//! The postage meter: registers kept as real meters keep them, in sealed, crash-safe state
//! beside a secure coprocessor.
//!
//! The meter directory holds `device.json` (which coprocessor), `state.json` (the registers,
//! sealed with an HMAC computed inside the coprocessor), `log.ndjson` (every indicium and
//! refill, appended), and `lock` (held for the whole of every operation). Every operation
//! checks the seal and the invariants first: descending + ascending = control total, the
//! sequence only grows. Any failure is treated as tampering: the coprocessor zeroizes its
//! keys, a sticky `TAMPERED` marker is written, and the meter refuses all further work.
//!
//! A print signs the indicium, commits the new state (temporary file, fsync, rename), appends
//! the log, and only then releases the indicium. A crash before the commit leaves nothing
//! spent and nothing released; after it, the indicium is in the state (and, repaired on the
//! next start, in the log) and `reprint` re-issues it byte for byte. So no postage is lost and
//! one sequence number never names two different indicia.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock::Time;
use crate::crypto::aead;
use crate::crypto::keys::{Identity, KeyId};
use crate::doc::{Body, Hex, HexBytes, Plain, Signed};
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::fsio;
use crate::money::Amount;
use crate::postage::authority::{CertificateRequest, MeterCertificate, Voucher};
use crate::postage::coprocessor::emulated::Emulated;
use crate::postage::coprocessor::pkcs11::{Pkcs11Device, Pkcs11Uri};
use crate::postage::coprocessor::{Coprocessor, DeviceChoice};
use crate::postage::indicium::{Envelope, Indicium, address_digest, check_postal_code};

/// The registers and everything the meter must remember, sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterState {
    /// The meter.
    pub meter_id: String,
    /// Key id of the coprocessor's signing key.
    pub key_id: KeyId,
    /// Licensed origin postal code.
    pub origin_postal_code: String,
    /// The postal authority whose certificates and vouchers the meter accepts.
    pub authority: Identity,
    /// The meter's certificate, once installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Signed<MeterCertificate>>,
    /// Descending register: postage available.
    pub descending: Amount,
    /// Ascending register: postage used.
    pub ascending: Amount,
    /// Control total: every refill ever accepted; always ascending + descending.
    pub control_total: Amount,
    /// Piece count: the sequence number of the last indicium.
    pub sequence: u64,
    /// Refills accepted (the reset number of the last voucher).
    pub resets: u64,
    /// The last indicium, kept for re-issue and for repairing the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_indicium: Option<Signed<Indicium>>,
    /// The sender of the last indicium's envelope, if it named one (for repairing the log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sender: Option<String>,
    /// The last voucher, kept for repairing the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_voucher: Option<Signed<Voucher>>,
}

impl MeterState {
    /// The invariants every state must hold.
    fn check(&self) -> std::result::Result<(), String> {
        if self.ascending.checked_add(self.descending).ok() != Some(self.control_total) {
            return Err(format!(
                "control total {} is not ascending {} + descending {}",
                self.control_total, self.ascending, self.descending
            ));
        }
        let last = self.last_indicium.as_ref().map(|i| i.unverified().sequence).unwrap_or(0);
        if last != self.sequence {
            return Err(format!("the last indicium has sequence {last}, the piece count is {}", self.sequence));
        }
        Ok(())
    }
}

/// The sealed state file: the state encrypted and authenticated (AES-256-GCM) under the state
/// key, which the coprocessor derives from its sealing key (see [`state_key`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedState {
    /// The device key the state belongs to (also bound as associated data).
    key_id: KeyId,
    nonce: Hex<{ aead::NONCE_LEN }>,
    /// `MeterState` as JSON, sealed.
    sealed: HexBytes,
}

impl Body for SealedState {
    const TYPE: &'static str = "postage.meter-state";
}

impl Body for DeviceChoice {
    const TYPE: &'static str = "postage.device";
}

/// One line of the meter's log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LogEntry {
    /// An indicium was issued.
    Print {
        /// The indicium.
        indicium: Signed<Indicium>,
        /// The envelope's sender, when it named one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender: Option<String>,
    },
    /// A refill was accepted.
    Refill {
        /// The voucher.
        voucher: Signed<Voucher>,
    },
    /// A certificate was installed.
    Certificate {
        /// The certificate.
        certificate: Signed<MeterCertificate>,
    },
    /// The meter detected tampering and zeroized its keys.
    Tamper {
        /// What was detected.
        reason: String,
        /// When.
        at: Time,
    },
}

impl Body for LogEntry {
    const TYPE: &'static str = "postage.meter-log";
}

/// The body of a `postage.meter-status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// The meter.
    pub meter_id: String,
    /// `emulated` or the PKCS#11 URI.
    pub coprocessor: String,
    /// Serial of the installed certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_serial: Option<u64>,
    /// Descending register.
    pub descending: Amount,
    /// Ascending register.
    pub ascending: Amount,
    /// Control total.
    pub control_total: Amount,
    /// Piece count.
    pub sequence: u64,
    /// Refills accepted.
    pub resets: u64,
}

impl Body for Status {
    const TYPE: &'static str = "postage.meter-status";
}

const DEVICE: &str = "device.json";
const STATE: &str = "state.json";
const LOG: &str = "log.ndjson";
const LOCK: &str = "lock";
const TAMPERED: &str = "TAMPERED";

/// Why repairing the log failed.
enum RepairError {
    /// Reading or writing failed.
    Failed(Error),
    /// The state is older than the log.
    RolledBack(String),
}

impl From<Error> for RepairError {
    fn from(e: Error) -> RepairError {
        RepairError::Failed(e)
    }
}

/// How far ahead a meter may date a piece (a real meter allows a little post-dating, and no
/// back-dating beyond yesterday).
pub const MAX_DAYS_AHEAD: i64 = 30;

/// A PIN for a PKCS#11 token.
pub type Pin = cryptoki::types::AuthPin;

/// An open meter: its lock is held until it is dropped.
pub struct Meter {
    dir: PathBuf,
    choice: DeviceChoice,
    device: Box<dyn Coprocessor>,
    state: MeterState,
    /// The state key (see [`state_key`]), derived once.
    state_key: zeroize::Zeroizing<[u8; 32]>,
    /// SHA-256 of `state.json` as this meter loaded or last wrote it.
    on_disk: Hex<32>,
    /// The time the meter was opened at (a tamper found later is logged at it).
    opened_at: Time,
    _lock: File,
}

fn device(dir: &Path, choice: &DeviceChoice, pin: Option<&Pin>, create: bool) -> Result<Box<dyn Coprocessor>> {
    Ok(match choice {
        DeviceChoice::Emulated if create => Box::new(Emulated::create(dir)?),
        DeviceChoice::Emulated => Box::new(Emulated::open(dir)?),
        DeviceChoice::Pkcs11 { uri } => {
            let uri = Pkcs11Uri::parse(uri)?;
            let pin = pin.ok_or_else(|| Error::usage("a PKCS#11 meter needs a PIN: --pin-file FILE or METER_PIN"))?;
            if create { Box::new(Pkcs11Device::create(&uri, pin)?) } else { Box::new(Pkcs11Device::open(&uri, pin)?) }
        }
    })
}

fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&e).at(path.display()))?;
    file.lock().map_err(|e| Error::io(&e).at(path.display()))?;
    Ok(file)
}

/// The state key: HMAC-SHA256, inside the coprocessor, of a fixed label under its sealing key
/// (HKDF-Expand's one-block form), so only this device can open or make its state.
fn state_key(device: &dyn Coprocessor) -> Result<zeroize::Zeroizing<[u8; 32]>> {
    Ok(zeroize::Zeroizing::new(device.seal_tag(b"atomic-commerce meter state key v2\x01")?))
}

/// The associated data of a state sealed for device key `key_id`.
fn state_aad(key_id: KeyId) -> Vec<u8> {
    format!("atomic-commerce meter state v2\0{key_id}").into_bytes()
}

/// The state as loaded: the state itself, the key that opened it, and the digest of its file.
type Loaded = (MeterState, zeroize::Zeroizing<[u8; 32]>, Hex<32>);

/// Reads, opens and checks the sealed state; the error says what was wrong (a tamper reason).
fn load(dir: &Path, device: &dyn Coprocessor) -> std::result::Result<Loaded, String> {
    let bytes = std::fs::read(dir.join(STATE)).map_err(|e| format!("state unreadable: {e}"))?;
    let sealed = Plain::<SealedState>::parse(&bytes).map_err(|e| format!("state damaged: {}", e.message()))?;
    let key = state_key(device).map_err(|e| e.message().to_string())?;
    let plain = aead::open(&key, sealed.nonce.0, &state_aad(sealed.key_id), &sealed.sealed.0)
        .ok_or("the state's seal does not verify")?;
    let state: MeterState =
        serde_json::from_slice(&plain).map_err(|e| format!("the sealed state does not parse: {e}"))?;
    state.check()?;
    let public = device.public_key().map_err(|e| e.message().to_string())?;
    if KeyId::of(&public) != state.key_id || state.key_id != sealed.key_id {
        return Err("the state belongs to another device key".into());
    }
    Ok((state, key, crate::crypto::sha256(&bytes)))
}

/// Tamper response: zeroize the device, mark the meter (sticky), log it, and say so.
fn tamper(dir: &Path, device: &mut dyn Coprocessor, reason: &str, now: Time) -> Error {
    let zeroized = device.zeroize();
    let _ = fsio::write_atomic(&dir.join(TAMPERED), format!("{reason}\n").as_bytes());
    let _ = append_log(dir, LogEntry::Tamper { reason: reason.to_string(), at: now });
    let keys = if zeroized.is_ok() { "its keys are zeroized" } else { "zeroizing its keys failed" };
    Error::refused(format!("tamper detected: {reason}; {keys} and the meter refuses all further work"))
        .at(dir.display())
}

/// Appends one entry to the log and syncs it.
fn append_log(dir: &Path, entry: LogEntry) -> Result<()> {
    let path = dir.join(LOG);
    let io = |e: std::io::Error| Error::io(&e).at(path.display());
    let mut file = File::options().create(true).append(true).open(&path).map_err(io)?;
    file.write_all(Plain(entry).to_json_line().as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

impl Meter {
    /// Creates a meter in `dir` (which must not exist) with fresh keys inside the chosen
    /// coprocessor, and returns it with its certificate request.
    pub fn create(
        dir: &Path,
        choice: DeviceChoice,
        pin: Option<&Pin>,
        meter_id: &str,
        origin_postal_code: &str,
        authority: Identity,
        now: Time,
    ) -> Result<(Meter, Signed<CertificateRequest>)> {
        crate::crypto::keys::check_name(meter_id)
            .map_err(|_| Error::usage(format!("invalid meter id {meter_id:?}")))?;
        check_postal_code(origin_postal_code)?;
        if dir.exists() {
            return Err(Error::new(ErrorKind::CannotCreate, "already exists; refusing to overwrite").at(dir.display()));
        }
        fsio::create_private_dir(dir)?;
        let created = Self::provision(dir, choice, pin, meter_id, origin_postal_code, authority, now);
        if created.is_err() {
            let _ = std::fs::remove_dir_all(dir); // a failed init leaves nothing behind
        }
        created
    }

    fn provision(
        dir: &Path,
        choice: DeviceChoice,
        pin: Option<&Pin>,
        meter_id: &str,
        origin_postal_code: &str,
        authority: Identity,
        opened_at: Time,
    ) -> Result<(Meter, Signed<CertificateRequest>)> {
        let lock = lock(dir)?;
        fsio::write_new(&dir.join(DEVICE), Plain(choice.clone()).to_json_pretty().as_bytes())?;
        let device = device(dir, &choice, pin, true)?;
        let public = device.public_key()?;
        let key_id = KeyId::of(&public);
        let state = MeterState {
            meter_id: meter_id.to_string(),
            key_id,
            origin_postal_code: origin_postal_code.to_string(),
            authority,
            certificate: None,
            descending: Amount::ZERO,
            ascending: Amount::ZERO,
            control_total: Amount::ZERO,
            sequence: 0,
            resets: 0,
            last_indicium: None,
            last_sender: None,
            last_voucher: None,
        };
        let state_key = state_key(device.as_ref())?;
        let mut meter = Meter {
            dir: dir.to_path_buf(),
            choice,
            device,
            state: state.clone(),
            state_key,
            on_disk: Hex([0; 32]),
            opened_at,
            _lock: lock,
        };
        meter.write_state(state)?;
        let request = CertificateRequest {
            meter_id: meter_id.to_string(),
            key_id,
            ed25519: Hex(public),
            origin_postal_code: origin_postal_code.to_string(),
        };
        let request = Signed::sign_with(request, key_id, |m| meter.device.sign(m))?;
        Ok((meter, request))
    }

    /// Opens the meter in `dir`: takes its lock, checks the seal and the invariants (any
    /// failure zeroizes the device), and repairs the log after a crash.
    pub fn open(dir: &Path, pin: Option<&Pin>, now: Time) -> Result<Meter> {
        let marker = dir.join(TAMPERED);
        if let Ok(reason) = std::fs::read_to_string(&marker) {
            return Err(Error::refused(format!(
                "the meter was tampered with ({}); its keys are zeroized and it refuses all work",
                reason.trim()
            ))
            .at(dir.display()));
        }
        if !dir.join(STATE).exists() {
            return Err(Error::new(ErrorKind::NoInput, "no meter here; create one with `meter init`").at(dir.display()));
        }
        let lock = lock(dir)?;
        fsio::remove_stale_temporaries(dir)?;
        let choice = Plain::<DeviceChoice>::parse(&fsio::read(&dir.join(DEVICE))?).at(dir.join(DEVICE).display())?;
        let mut device = device(dir, &choice, pin, false)?;
        let (state, state_key, on_disk) = match load(dir, device.as_ref()) {
            Ok(loaded) => loaded,
            Err(reason) => return Err(tamper(dir, device.as_mut(), &reason, now)),
        };
        let mut meter =
            Meter { dir: dir.to_path_buf(), choice, device, state, state_key, on_disk, opened_at: now, _lock: lock };
        match meter.repair_log() {
            Ok(()) => Ok(meter),
            Err(RepairError::Failed(e)) => Err(e),
            Err(RepairError::RolledBack(reason)) => Err(tamper(dir, meter.device.as_mut(), &reason, now)),
        }
    }

    /// Checks that the state on disk is still the one this meter loaded or last wrote (any
    /// change behind its back, even while it runs, is tamper), then writes `state`.
    fn commit(&mut self, state: MeterState) -> Result<()> {
        let unchanged = std::fs::read(self.dir.join(STATE)).map(|bytes| crate::crypto::sha256(&bytes) == self.on_disk);
        if !unchanged.unwrap_or(false) {
            let reason = "the state changed behind the meter's back";
            return Err(tamper(&self.dir, self.device.as_mut(), reason, self.opened_at));
        }
        self.write_state(state)
    }

    /// Seals and writes `state` (temporary file, fsync, rename): the commit point.
    fn write_state(&mut self, state: MeterState) -> Result<()> {
        state.check().map_err(Error::refused)?;
        let nonce = crate::crypto::random::<{ aead::NONCE_LEN }>();
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(&state).expect("serializable"));
        let sealed = aead::seal(&self.state_key, nonce, &state_aad(state.key_id), &plain);
        let file = SealedState { key_id: state.key_id, nonce: Hex(nonce), sealed: HexBytes(sealed) };
        let bytes = Plain(file).to_json_pretty();
        fsio::write_atomic(&self.dir.join(STATE), bytes.as_bytes())?;
        self.on_disk = crate::crypto::sha256(bytes.as_bytes());
        self.state = state;
        Ok(())
    }

    /// Every log entry, oldest first. A last line without its newline is an append that a
    /// crash cut short; it is ignored here and cut off by the next repair.
    pub fn log(&self) -> Result<Vec<LogEntry>> {
        let path = self.dir.join(LOG);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(&e).at(path.display())),
        };
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        complete
            .lines()
            .enumerate()
            .map(|(n, line)| {
                Plain::<LogEntry>::parse(line.as_bytes()).at(format!("{}: line {}", path.display(), n + 1))
            })
            .collect()
    }

    /// Cuts off a torn last line of the log.
    fn cut_torn_log_line(&self) -> Result<()> {
        let path = self.dir.join(LOG);
        let Ok(text) = std::fs::read(&path) else { return Ok(()) };
        if text.last().is_some_and(|b| *b != b'\n') {
            let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let io = |e: std::io::Error| Error::io(&e).at(path.display());
            let file = File::options().write(true).open(&path).map_err(io)?;
            file.set_len(keep as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok(())
    }

    /// Appends to the log what the state committed but a crash kept from the log. A log that
    /// is ahead of the state means the state was rolled back: that is tampering.
    fn repair_log(&self) -> std::result::Result<(), RepairError> {
        self.cut_torn_log_line()?;
        let log = self.log()?;
        let last_print = log.iter().rev().find_map(|e| match e {
            LogEntry::Print { indicium, .. } => Some(indicium.unverified().sequence),
            _ => None,
        });
        let last_refill = log.iter().rev().find_map(|e| match e {
            LogEntry::Refill { voucher } => Some(voucher.unverified().reset_number),
            _ => None,
        });
        if last_print > Some(self.state.sequence) || last_refill > Some(self.state.resets) {
            return Err(RepairError::RolledBack(format!(
                "the state (piece {}, reset {}) is older than the log (piece {}, reset {}): it was rolled back",
                self.state.sequence,
                self.state.resets,
                last_print.unwrap_or(0),
                last_refill.unwrap_or(0)
            )));
        }
        if let Some(v) = &self.state.last_voucher
            && last_refill < Some(v.unverified().reset_number)
        {
            append_log(&self.dir, LogEntry::Refill { voucher: v.clone() })?;
        }
        if let Some(i) = &self.state.last_indicium
            && last_print < Some(i.unverified().sequence)
        {
            append_log(&self.dir, LogEntry::Print { indicium: i.clone(), sender: self.state.last_sender.clone() })?;
        }
        Ok(())
    }

    /// The cover switch: the operator (or a test) declares the device opened.
    pub fn open_cover(mut self, now: Time) -> Error {
        tamper(&self.dir, self.device.as_mut(), "the cover was opened", now)
    }

    /// The current registers.
    pub fn status(&self) -> Status {
        let s = &self.state;
        Status {
            meter_id: s.meter_id.clone(),
            coprocessor: match &self.choice {
                DeviceChoice::Emulated => "emulated".into(),
                DeviceChoice::Pkcs11 { uri } => uri.clone(),
            },
            certificate_serial: s.certificate.as_ref().map(|c| c.unverified().serial),
            descending: s.descending,
            ascending: s.ascending,
            control_total: s.control_total,
            sequence: s.sequence,
            resets: s.resets,
        }
    }

    /// Installs the authority's certificate for this meter's key.
    pub fn install_certificate(&mut self, certificate: &Signed<MeterCertificate>) -> Result<()> {
        let cert = certificate.verify(&self.state.authority)?;
        if KeyId::of(&cert.ed25519.0) != cert.key_id {
            return Err(Error::refused("the certificate's key id does not match its key"));
        }
        if cert.origin_postal_code != self.state.origin_postal_code {
            return Err(Error::refused(format!(
                "the certificate is for origin {}, this meter mails from {}",
                cert.origin_postal_code, self.state.origin_postal_code
            )));
        }
        if cert.meter_id != self.state.meter_id || cert.key_id != self.state.key_id {
            return Err(Error::refused(format!(
                "the certificate is for meter {} key {}, not this meter",
                cert.meter_id, cert.key_id
            )));
        }
        let mut next = self.state.clone();
        next.certificate = Some(certificate.clone());
        self.commit(next)?;
        append_log(&self.dir, LogEntry::Certificate { certificate: certificate.clone() })
    }

    /// Adds a voucher's postage. Only the authority's voucher for this meter (its id and its
    /// coprocessor's key) and for its next reset number is accepted, so a voucher can be used
    /// once, on one device.
    pub fn refill(&mut self, voucher: &Signed<Voucher>) -> Result<()> {
        let v = voucher.verify(&self.state.authority)?;
        if v.meter_id != self.state.meter_id {
            return Err(Error::refused(format!(
                "the voucher is for meter {}, not {}",
                v.meter_id, self.state.meter_id
            )));
        }
        if v.key_id != self.state.key_id {
            return Err(Error::refused(format!(
                "the voucher is for meter {}'s device key {}, not this device's {}",
                v.meter_id, v.key_id, self.state.key_id
            )));
        }
        let expected = self.state.resets + 1;
        if v.reset_number != expected {
            return Err(Error::refused(format!(
                "the voucher is for reset {}, this meter's next reset is {expected}: it was used already or is out of order",
                v.reset_number
            )));
        }
        let mut next = self.state.clone();
        next.descending = next.descending.checked_add(v.amount)?;
        next.control_total = next.control_total.checked_add(v.amount)?;
        next.resets = expected;
        next.last_voucher = Some(voucher.clone());
        self.commit(next)?;
        append_log(&self.dir, LogEntry::Refill { voucher: voucher.clone() })
    }

    /// Debits the postage and returns the signed indicium. A print beyond the descending
    /// register, without a valid certificate, or for a date outside it, is refused and
    /// changes nothing.
    pub fn print(&mut self, envelope: &Envelope, now: Time) -> Result<Signed<Indicium>> {
        let today = crate::clock::Day::of(now);
        let ahead = envelope.date.days_since(today);
        if !(-1..=MAX_DAYS_AHEAD).contains(&ahead) {
            return Err(Error::refused(format!(
                "the date of mailing {} is not between yesterday and {MAX_DAYS_AHEAD} days from today ({today})",
                envelope.date
            )));
        }
        let certificate = self.state.certificate.as_ref().ok_or_else(|| Error::refused("no certificate installed"))?;
        let cert = certificate.unverified();
        if envelope.date < cert.valid_from || envelope.date > cert.valid_until {
            return Err(Error::refused(format!(
                "the date of mailing {} is outside the certificate's validity {} to {}",
                envelope.date, cert.valid_from, cert.valid_until
            )));
        }
        let descending = self.state.descending.checked_sub(envelope.postage).ok_or_else(|| {
            Error::refused(format!(
                "insufficient postage: {} available, {} asked",
                self.state.descending, envelope.postage
            ))
        })?;
        let mut next = self.state.clone();
        next.descending = descending;
        next.ascending = next.ascending.checked_add(envelope.postage)?;
        next.sequence += 1;
        let indicium = Indicium {
            algorithm: "ed25519".into(),
            meter_id: next.meter_id.clone(),
            certificate_serial: cert.serial,
            sequence: next.sequence,
            ascending: next.ascending,
            descending: next.descending,
            postage: envelope.postage,
            date: envelope.date,
            origin_postal_code: next.origin_postal_code.clone(),
            destination_postal_code: envelope.destination_postal_code.clone(),
            recipient_sha256: address_digest(&envelope.recipient),
            rate_category: envelope.rate_category.clone(),
        };
        let indicium = Signed::sign_with(indicium, next.key_id, |m| self.device.sign(m))?;
        next.last_indicium = Some(indicium.clone());
        next.last_sender = envelope.sender.clone();
        self.commit(next)?;
        append_log(&self.dir, LogEntry::Print { indicium: indicium.clone(), sender: envelope.sender.clone() })?;
        Ok(indicium)
    }

    /// Re-issues an indicium already paid for (the last one, or the one with `sequence`),
    /// byte for byte: for an output lost after the debit committed.
    pub fn reprint(&self, sequence: Option<u64>) -> Result<Signed<Indicium>> {
        let wanted = sequence.unwrap_or(self.state.sequence);
        if let Some(last) = self.state.last_indicium.as_ref().filter(|i| i.unverified().sequence == wanted) {
            return Ok(last.clone());
        }
        self.log()?
            .into_iter()
            .find_map(|e| match e {
                LogEntry::Print { indicium, .. } if indicium.unverified().sequence == wanted => Some(indicium),
                _ => None,
            })
            .ok_or_else(|| Error::new(ErrorKind::NoInput, format!("no indicium with sequence {wanted}")))
    }
}
