//! Exact amounts of money.
//!
//! Microtransactions need sub-cent precision, and money must never be rounded, so an amount
//! is a whole number of micro-units (10⁻⁶ of the ledger's currency unit) held in a `u64`.
//! In documents it is an exact decimal string such as `"0.10"` or `"0.000250"`; arithmetic
//! is checked and there is no floating point anywhere. The largest amount is
//! 9223372036854.775807 (`i64::MAX` micro-units), so every amount and balance fits the signed
//! 64-bit integers of SQL databases.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Number of decimal places an amount may carry.
pub const SCALE: u32 = 6;
const UNIT: u64 = 10u64.pow(SCALE);

/// A non-negative amount of money, exact to one micro-unit, at most [`Amount::MAX`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u64);

impl Amount {
    /// No money.
    pub const ZERO: Amount = Amount(0);

    /// The largest amount: `i64::MAX` micro-units.
    pub const MAX: Amount = Amount(i64::MAX as u64);

    /// The amount of `micros` micro-units, or `None` above [`Amount::MAX`].
    pub const fn from_micros(micros: u64) -> Option<Self> {
        if micros <= Self::MAX.0 { Some(Amount(micros)) } else { None }
    }

    /// The amount in micro-units.
    pub const fn micros(self) -> u64 {
        self.0
    }

    /// `self + other`, or an error naming the overflow.
    pub fn checked_add(self, other: Amount) -> Result<Amount> {
        self.0
            .checked_add(other.0)
            .and_then(Amount::from_micros)
            .ok_or_else(|| Error::refused(format!("amount overflow: {self} + {other} exceeds {}", Amount::MAX)))
    }

    /// `self - other`, or `None` when `other` is larger.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }
}

/// An amount as SQL databases store it: signed 64-bit micro-units (every amount fits).
pub fn to_sql(amount: Amount) -> i64 {
    i64::try_from(amount.micros()).expect("amounts are at most i64::MAX micro-units")
}

/// An amount read from a database; the schemas CHECK amounts non-negative, so only a database
/// edited behind the tools' back holds a negative one, which reads as an error.
pub fn from_sql(micros: i64) -> Result<Amount> {
    u64::try_from(micros)
        .ok()
        .and_then(Amount::from_micros)
        .ok_or_else(|| Error::malformed(format!("invalid amount {micros} in the database")))
}

impl fmt::Display for Amount {
    /// The canonical form: no leading zeros, no trailing fractional zeros, no `.` for whole
    /// amounts (`"12"`, `"0.1"`, `"0.000001"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / UNIT, self.0 % UNIT);
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:06}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl FromStr for Amount {
    type Err = Error;

    /// Accepts `DIGITS[.DIGITS]` with at most six fractional digits; rejects signs,
    /// exponents, spaces, empty parts and anything that overflows.
    fn from_str(s: &str) -> Result<Amount> {
        let bad = |why: &str| Error::malformed(format!("invalid amount {s:?}: {why}"));
        if s.starts_with('-') {
            return Err(bad("amounts cannot be negative"));
        }
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(frac) {
            return Err(bad("expected decimal digits such as 12 or 0.25"));
        }
        if s.contains('.') && frac.is_empty() {
            return Err(bad("nothing after the decimal point"));
        }
        if frac.len() > SCALE as usize {
            return Err(bad("more than 6 decimal places"));
        }
        let overflow = || bad("too large");
        let whole: u64 = whole.parse().map_err(|_| overflow())?;
        let frac_micros: u64 = if frac.is_empty() {
            0
        } else {
            let padded = format!("{frac:0<6}");
            padded.parse().map_err(|_| bad("bad fraction"))?
        };
        whole
            .checked_mul(UNIT)
            .and_then(|w| w.checked_add(frac_micros))
            .and_then(Amount::from_micros)
            .ok_or_else(overflow)
    }
}

/// An amount with a sign: a running balance in a statement, which goes below zero only where
/// the server paid out of a balance changed behind its back (later corrected by an unwinding).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignedAmount {
    /// Below zero.
    pub negative: bool,
    /// How far from zero.
    pub magnitude: Amount,
}

impl SignedAmount {
    /// `micros` micro-units, or `None` beyond [`Amount::MAX`] either way.
    pub fn from_micros(micros: i128) -> Option<SignedAmount> {
        let magnitude = u64::try_from(micros.unsigned_abs()).ok().and_then(Amount::from_micros)?;
        Some(SignedAmount { negative: micros < 0, magnitude })
    }
}

impl fmt::Display for SignedAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative { write!(f, "-{}", self.magnitude) } else { write!(f, "{}", self.magnitude) }
    }
}

impl FromStr for SignedAmount {
    type Err = Error;

    /// An amount, or `-` and a non-zero amount.
    fn from_str(s: &str) -> Result<SignedAmount> {
        match s.strip_prefix('-') {
            Some(rest) => {
                let magnitude: Amount = rest.parse()?;
                if magnitude == Amount::ZERO {
                    return Err(Error::malformed("invalid amount \"-0\": zero has no sign"));
                }
                Ok(SignedAmount { negative: true, magnitude })
            }
            None => Ok(SignedAmount { negative: false, magnitude: s.parse()? }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_canonically() {
        for (text, micros, canonical) in [
            ("0", 0, "0"),
            ("12", 12_000_000, "12"),
            ("0.10", 100_000, "0.1"),
            ("0.000001", 1, "0.000001"),
            ("007.5", 7_500_000, "7.5"),
            ("9223372036854.775807", i64::MAX as u64, "9223372036854.775807"),
        ] {
            let a: Amount = text.parse().unwrap();
            assert_eq!(a.micros(), micros, "{text}");
            assert_eq!(a.to_string(), canonical);
        }
    }

    #[test]
    fn rejects_what_is_not_an_exact_amount() {
        for text in [
            "",
            "-1",
            "+1",
            "1e3",
            "1.",
            ".5",
            "0.0000001",
            "1 ",
            "NaN",
            "1,5",
            "9223372036854.775808",
            "99999999999999999999",
        ] {
            assert!(text.parse::<Amount>().is_err(), "{text:?} accepted");
        }
    }

    #[test]
    fn arithmetic_is_checked() {
        assert!(Amount::MAX.checked_add(Amount::from_micros(1).unwrap()).is_err());
        assert_eq!(Amount::from_micros(1).unwrap().checked_sub(Amount::from_micros(2).unwrap()), None);
    }
}
