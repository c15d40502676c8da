//! The merchant's records: per EPO id, the offer, the delivery note, K (mode 0600), the
//! customer's identity, the endorsed EPO and the receipt.
//!
//! Layout: `STORE/<epo id>/{offer,delivery,key,customer,endorsed,receipt}.json`. A delivery
//! appears whole (built in a temporary directory, then renamed), and every later record is
//! written once: countersigning twice returns the first endorsement (sealing is randomized,
//! so a second one would differ and the server would refuse it as a replay).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::crypto::goods::GoodsKey;
use crate::crypto::keys::Identity;
use crate::doc::{Body, Hex, Plain, Signed};
use crate::error::{Error, ErrorKind, Result};
use crate::fsio;
use crate::netbill::delivery::{DeliveryNote, EpoId};
use crate::netbill::epo::EndorsedEpo;
use crate::netbill::offer::Offer;
use crate::netbill::receipt::Receipt;

/// The body of a stored `netbill.goods-key` file.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    epo_id: EpoId,
    key: Hex<32>,
}

impl Drop for StoredKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl Body for StoredKey {
    const TYPE: &'static str = "netbill.goods-key";
}

/// One delivery as the merchant recorded it.
pub struct DeliveryRecord {
    /// The offer delivered against.
    pub offer: Signed<Offer>,
    /// The delivery note.
    pub note: Signed<DeliveryNote>,
    /// K.
    pub key: zeroize::Zeroizing<Hex<32>>,
}

/// A merchant's store directory.
pub struct MerchantStore {
    dir: PathBuf,
}

impl MerchantStore {
    /// Opens the store at `dir`, creating it (mode 0700) if needed: for recording deliveries.
    pub fn create(dir: &Path) -> Result<MerchantStore> {
        fsio::create_private_dir(dir)?;
        Ok(MerchantStore { dir: dir.to_path_buf() })
    }

    /// Opens the existing store at `dir`.
    pub fn open(dir: &Path) -> Result<MerchantStore> {
        if !dir.is_dir() {
            return Err(
                Error::new(ErrorKind::NoInput, "no merchant store here (goods-encrypt makes one)").at(dir.display())
            );
        }
        Ok(MerchantStore { dir: dir.to_path_buf() })
    }

    fn file(&self, epo_id: &EpoId, name: &str) -> PathBuf {
        self.dir.join(epo_id.as_str()).join(name)
    }

    fn read<T>(&self, epo_id: &EpoId, name: &str, parse: impl FnOnce(&[u8]) -> Result<T>) -> Result<Option<T>> {
        let path = self.file(epo_id, name);
        match std::fs::read(&path) {
            Ok(bytes) => parse(&bytes).map(Some).map_err(|e| e.at(path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&e).at(path.display())),
        }
    }

    /// Records a new delivery: all its files appear at once.
    pub fn record_delivery(&self, offer: &Signed<Offer>, note: &Signed<DeliveryNote>, key: &GoodsKey) -> Result<()> {
        let epo_id = &note.unverified().epo_id;
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::Builder::new()
            .prefix(".delivery-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&self.dir)
            .map_err(|e| Error::new(ErrorKind::CannotCreate, e.to_string()).at(self.dir.display()))?;
        let key = StoredKey { epo_id: epo_id.clone(), key: **key };
        fsio::write_secret(&tmp.path().join("key.json"), Plain(key).to_json_pretty().as_bytes())?;
        fsio::write_new(&tmp.path().join("offer.json"), offer.to_json_pretty().as_bytes())?;
        fsio::write_new(&tmp.path().join("delivery.json"), note.to_json_pretty().as_bytes())?;
        let target = self.dir.join(epo_id.as_str());
        std::fs::rename(tmp.path(), &target).map_err(|e| Error::io(&e).at(target.display()))?;
        let _ = tmp.keep(); // renamed: disarm the guard that would delete it
        Ok(())
    }

    /// The delivery recorded for `epo_id`.
    pub fn delivery(&self, epo_id: &EpoId) -> Result<DeliveryRecord> {
        let missing =
            || Error::new(ErrorKind::NoInput, format!("no delivery {epo_id} in this store")).at(self.dir.display());
        let offer = self.read(epo_id, "offer.json", Signed::parse)?.ok_or_else(missing)?;
        let note = self.read(epo_id, "delivery.json", Signed::parse)?.ok_or_else(missing)?;
        let stored = self.read(epo_id, "key.json", Plain::<StoredKey>::parse)?.ok_or_else(missing)?;
        if stored.epo_id != *epo_id {
            return Err(Error::malformed(format!("key file is for {}", stored.epo_id))
                .at(self.file(epo_id, "key.json").display()));
        }
        Ok(DeliveryRecord { offer, note, key: zeroize::Zeroizing::new(stored.key) })
    }

    /// The endorsement made for `epo_id`, if any.
    pub fn endorsed(&self, epo_id: &EpoId) -> Result<Option<Signed<EndorsedEpo>>> {
        self.read(epo_id, "endorsed.json", Signed::parse)
    }

    /// Records the endorsement and the identity document (as published, self-signed) of the
    /// customer it was made for.
    pub fn record_endorsement(&self, endorsed: &Signed<EndorsedEpo>, customer_identity: &[u8]) -> Result<()> {
        let epo_id = &endorsed.unverified().epo.unverified().epo_id;
        fsio::write_atomic(&self.file(epo_id, "customer.json"), customer_identity)?;
        fsio::write_new(&self.file(epo_id, "endorsed.json"), endorsed.to_json_pretty().as_bytes())
    }

    /// The identity of the customer who signed `epo_id`'s EPO.
    pub fn customer(&self, epo_id: &EpoId) -> Result<Option<Identity>> {
        self.read(epo_id, "customer.json", Identity::parse)
    }

    /// Records the server's receipt for a delivery. A refusal that does not bind the EPO id
    /// (an unknown account, a bad signature, another server) answers one request only: a later
    /// receipt replaces it, and it never replaces a binding one. Recording the same receipt
    /// again is a no-op; a different binding receipt for the same EPO id is refused.
    pub fn record_receipt(&self, receipt: &Signed<Receipt>) -> Result<()> {
        let epo_id = &receipt.unverified().epo_id;
        let path = self.file(epo_id, "receipt.json");
        match self.receipt(epo_id)? {
            None => fsio::write_new(&path, receipt.to_json_pretty().as_bytes()),
            Some(existing) if existing.digest() == receipt.digest() => Ok(()),
            Some(existing) if !existing.unverified().binds() => {
                fsio::write_atomic(&path, receipt.to_json_pretty().as_bytes())
            }
            Some(_) if !receipt.unverified().binds() => Ok(()),
            Some(_) => Err(Error::refused(format!(
                "a different receipt for {epo_id} is already recorded; keep both as evidence"
            ))),
        }
    }

    /// The receipt recorded for `epo_id`, if any.
    pub fn receipt(&self, epo_id: &EpoId) -> Result<Option<Signed<Receipt>>> {
        self.read(epo_id, "receipt.json", Signed::parse)
    }
}
