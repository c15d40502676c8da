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
                $crate::doc::text::from_str_with(d, |text| text.parse().map_err(|e: $crate::Error| e.message().to_string()))
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

/// Deserializes a string with `parse`, reading it as the deserializer hands it over (borrowed
/// from the input or from its scratch buffer) rather than copied into a `String` first.
pub(crate) fn from_str_with<'de, D, T>(d: D, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    d.deserialize_str(Text(parse))
}

/// The visitor of [`from_str_with`].
struct Text<F>(F);

impl<T, F: FnOnce(&str) -> Result<T, String>> serde::de::Visitor<'_> for Text<F> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
        (self.0)(s).map_err(E::custom)
    }
}
