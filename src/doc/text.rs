//! Values whose document form is their text: `Display` to write, `FromStr` (with the
//! toolkit's strict rules) to read.

/// Implements `Serialize` and `Deserialize` for types that are written with `Display` and
/// read with `FromStr<Err = crate::Error>`.
macro_rules! serde_as_text {
    ($($t:ty),+ $(,)?) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(|e: $crate::Error| serde::de::Error::custom(e.message()))
            }
        }
    )+};
}

serde_as_text!(
    crate::money::Amount,
    crate::money::SignedAmount,
    crate::clock::Time,
    crate::clock::Day,
    crate::crypto::keys::KeyId,
    crate::netbill::delivery::EpoId,
);
