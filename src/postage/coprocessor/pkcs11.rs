//! A PKCS#11 token as the coprocessor, through `cryptoki` (tested against SoftHSM2).
//!
//! The Ed25519 key pair is generated on the token, the private half sensitive and
//! non-extractable; the sealing key is a generic secret on the token used with
//! CKM_SHA256_HMAC. Objects are addressed by an RFC 7512 URI
//! (`pkcs11:token=<label>;object=<label>[?module-path=…&pin-source=file:…]`); tokens are
//! selected by label, never by slot number. The PIN comes from a file or the environment,
//! never from the command line (a `pin-value` attribute is refused).

use std::sync::OnceLock;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use super::Coprocessor;
use crate::error::{Error, ErrorKind, Result};

/// The default module: Debian's SoftHSM2.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// DER PrintableString "edwards25519", the curve parameter PKCS#11 3.0 names Ed25519 with.
const ED25519_PARAMS: &[u8] = b"\x13\x0cedwards25519";

/// The parts of an RFC 7512 PKCS#11 URI the meter uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// Token label.
    pub token: String,
    /// Object label of the meter's keys (the sealing key is `<object>.seal`).
    pub object: String,
    /// Path of the PKCS#11 module, if given.
    pub module_path: Option<String>,
    /// Where the PIN comes from (`file:<path>`), if given.
    pub pin_source: Option<String>,
    /// The token's serial number, manufacturer and model, and the slot id, when the URI names
    /// them: a token must match every one given.
    pub serial: Option<String>,
    /// See `serial`.
    pub manufacturer: Option<String>,
    /// See `serial`.
    pub model: Option<String>,
    /// See `serial`.
    pub slot_id: Option<u64>,
}

fn percent_decode(s: &str) -> Result<String> {
    let bad = || Error::usage(format!("invalid percent-encoding in PKCS#11 URI component {s:?}"));
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex: Vec<u8> = bytes.by_ref().take(2).collect();
            if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(bad());
            }
            let text = std::str::from_utf8(&hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(text, 16).map_err(|_| bad())?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

impl Pkcs11Uri {
    /// Parses a `pkcs11:` URI; `token` and `object` are required, `pin-value` is refused.
    pub fn parse(uri: &str) -> Result<Pkcs11Uri> {
        let rest = uri.strip_prefix("pkcs11:").ok_or_else(|| Error::usage("a PKCS#11 URI starts with pkcs11:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut parsed = Pkcs11Uri {
            token: String::new(),
            object: String::new(),
            module_path: None,
            pin_source: None,
            serial: None,
            manufacturer: None,
            model: None,
            slot_id: None,
        };
        let pairs = path.split(';').chain(query.split('&')).filter(|p| !p.is_empty());
        for pair in pairs {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| Error::usage(format!("PKCS#11 URI attribute {pair:?} has no value")))?;
            let value = percent_decode(value)?;
            match name {
                "token" => parsed.token = value,
                "object" => parsed.object = value,
                "module-path" => parsed.module_path = Some(value),
                "pin-source" => parsed.pin_source = Some(value),
                "serial" => parsed.serial = Some(value),
                "manufacturer" => parsed.manufacturer = Some(value),
                "model" => parsed.model = Some(value),
                "slot-id" => {
                    let id = value.parse().map_err(|_| Error::usage(format!("invalid slot-id {value:?}")))?;
                    parsed.slot_id = Some(id);
                }
                "pin-value" => {
                    return Err(Error::usage(
                        "a PIN in the URI is refused: use pin-source=file:…, --pin-file or METER_PIN",
                    ));
                }
                _ => {} // other RFC 7512 attributes (type, id, library-…) do not select anything here
            }
        }
        if parsed.token.is_empty() || parsed.object.is_empty() {
            return Err(Error::usage(format!("the PKCS#11 URI {uri:?} must name a token and an object")));
        }
        Ok(parsed)
    }
}

fn p11(what: &str) -> impl Fn(P11Error) -> Error + '_ {
    move |e| Error::new(ErrorKind::Io, format!("PKCS#11 {what}: {e}"))
}

/// The process's one PKCS#11 context (a second C_Initialize fails, and C_Finalize would break
/// every other user, so the context is made once and never finalized).
fn context(module: &str) -> Result<&'static Pkcs11> {
    static CONTEXT: OnceLock<Pkcs11> = OnceLock::new();
    if let Some(c) = CONTEXT.get() {
        return Ok(c);
    }
    let ctx = Pkcs11::new(module).map_err(|e| {
        Error::new(ErrorKind::NoInput, format!("cannot load PKCS#11 module {module}: {e} (install softhsm2?)"))
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(p11("initialize")(e)),
    }
    Ok(CONTEXT.get_or_init(|| ctx))
}

/// A meter's keys on a PKCS#11 token.
pub struct Pkcs11Device {
    session: Session,
    private: Option<ObjectHandle>,
    public: ObjectHandle,
    seal: Option<ObjectHandle>,
}

impl Pkcs11Device {
    fn session(uri: &Pkcs11Uri, pin: &AuthPin) -> Result<Session> {
        let ctx = context(uri.module_path.as_deref().unwrap_or(DEFAULT_MODULE))?;
        let slots = ctx.get_slots_with_initialized_token().map_err(p11("listing slots"))?;
        let matches = |slot: &cryptoki::slot::Slot| {
            let given = |wanted: &Option<String>, actual: &str| wanted.as_deref().is_none_or(|w| w == actual);
            uri.slot_id.is_none_or(|id| id == slot.id())
                && ctx.get_token_info(*slot).is_ok_and(|t| {
                    t.label() == uri.token
                        && given(&uri.serial, t.serial_number())
                        && given(&uri.manufacturer, t.manufacturer_id())
                        && given(&uri.model, t.model())
                })
        };
        let mut found = slots.into_iter().filter(matches);
        let slot = found.next().ok_or_else(|| {
            Error::new(ErrorKind::NoInput, format!("no PKCS#11 token matches the URI (label {:?})", uri.token))
        })?;
        if found.next().is_some() {
            return Err(Error::usage(format!(
                "several PKCS#11 tokens are labelled {:?}: name one with serial= or slot-id= in the URI",
                uri.token
            )));
        }
        let session = ctx.open_rw_session(slot).map_err(p11("opening a session"))?;
        match session.login(UserType::User, Some(pin)) {
            Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(P11Error::Pkcs11(RvError::PinIncorrect, _)) => Err(Error::refused("the token refused the PIN")),
            Err(e) => Err(p11("login")(e)),
        }
    }

    fn find(session: &Session, class: ObjectClass, label: &str) -> Result<Option<ObjectHandle>> {
        let found = session
            .find_objects(&[Attribute::Class(class), Attribute::Label(label.as_bytes().to_vec())])
            .map_err(p11("finding objects"))?;
        Ok(found.into_iter().next())
    }

    /// Generates the meter's keys on the token; fails if the object label is taken.
    pub fn create(uri: &Pkcs11Uri, pin: &AuthPin) -> Result<Pkcs11Device> {
        let session = Self::session(uri, pin)?;
        let seal_label = format!("{}.seal", uri.object);
        for (class, label) in [
            (ObjectClass::PRIVATE_KEY, &uri.object),
            (ObjectClass::PUBLIC_KEY, &uri.object),
            (ObjectClass::SECRET_KEY, &seal_label),
        ] {
            if Self::find(&session, class, label)?.is_some() {
                return Err(Error::new(
                    ErrorKind::CannotCreate,
                    format!("the token already holds an object {label:?}"),
                ));
            }
        }
        let label = Attribute::Label(uri.object.as_bytes().to_vec());
        let id = Attribute::Id(uri.object.as_bytes().to_vec());
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            label.clone(),
            id.clone(),
            Attribute::EcParams(ED25519_PARAMS.to_vec()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            label,
            id,
        ];
        let (public, private) = session
            .generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public_template, &private_template)
            .map_err(p11("generating the Ed25519 key"))?;
        let seal_template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(seal_label.into_bytes()),
        ];
        let seal = session
            .generate_key(&Mechanism::GenericSecretKeyGen, &seal_template)
            .map_err(p11("generating the sealing key"))?;
        Ok(Pkcs11Device { session, private: Some(private), public, seal: Some(seal) })
    }

    /// Opens the meter's keys on the token.
    pub fn open(uri: &Pkcs11Uri, pin: &AuthPin) -> Result<Pkcs11Device> {
        let session = Self::session(uri, pin)?;
        let missing = || {
            Error::refused(format!(
                "the token holds no key {:?}: it was zeroized, or this is another token",
                uri.object
            ))
        };
        let private = Self::find(&session, ObjectClass::PRIVATE_KEY, &uri.object)?.ok_or_else(missing)?;
        let public = Self::find(&session, ObjectClass::PUBLIC_KEY, &uri.object)?.ok_or_else(missing)?;
        let seal =
            Self::find(&session, ObjectClass::SECRET_KEY, &format!("{}.seal", uri.object))?.ok_or_else(missing)?;
        Ok(Pkcs11Device { session, private: Some(private), public, seal: Some(seal) })
    }

    fn key(handle: Option<ObjectHandle>) -> Result<ObjectHandle> {
        handle.ok_or_else(|| Error::refused("the device's keys were zeroized"))
    }
}

impl Coprocessor for Pkcs11Device {
    fn public_key(&self) -> Result<[u8; 32]> {
        let attributes = self
            .session
            .get_attributes(self.public, &[AttributeType::EcPoint])
            .map_err(p11("reading the public key"))?;
        let point = attributes
            .into_iter()
            .find_map(|a| if let Attribute::EcPoint(p) = a { Some(p) } else { None })
            .ok_or_else(|| Error::malformed("the token's public key has no EC point"))?;
        // PKCS#11 3.0 tokens give a DER OCTET STRING (04 20 ‖ key), 3.1 tokens the raw key.
        let raw = match point.as_slice() {
            [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
            raw => raw,
        };
        raw.try_into().map_err(|_| Error::malformed("the token's Ed25519 public key is not 32 bytes"))
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64]> {
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let signature = self.session.sign(&mechanism, Self::key(self.private)?, message).map_err(p11("signing"))?;
        signature.try_into().map_err(|_| Error::malformed("the token's signature is not 64 bytes"))
    }

    fn seal_tag(&self, data: &[u8]) -> Result<[u8; 32]> {
        let tag = self.session.sign(&Mechanism::Sha256Hmac, Self::key(self.seal)?, data).map_err(p11("sealing"))?;
        tag.try_into().map_err(|_| Error::malformed("the token's HMAC is not 32 bytes"))
    }

    fn zeroize(&mut self) -> Result<()> {
        // The public key goes too, so the label is free and no stale half of a pair remains.
        for handle in [self.private.take(), self.seal.take(), Some(self.public)].into_iter().flatten() {
            self.session.destroy_object(handle).map_err(p11("destroying a key"))?;
        }
        Ok(())
    }
}
