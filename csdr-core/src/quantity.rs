//! Kubernetes resource quantities (`20Gi`, `500m`, `2e10`), parsed and compared exactly.
//!
//! A [`Quantity`] is what Kubernetes calls `resource.Quantity`: a signed decimal number with a
//! suffix. The rules follow `k8s.io/apimachinery/pkg/api/resource` (`quantity.go`,
//! `suffix.go` and their table tests):
//!
//! - binary suffixes `Ki Mi Gi Ti Pi Ei` (powers of 1024), decimal suffixes
//!   `n u m "" k M G T P E` (powers of 1000), decimal exponents `2e10`, `1E-3`, `1.3E+6`;
//!   decimals (`1.5Gi`, `.5`, `1.`) and a leading sign;
//! - values finer than a nano unit are rounded away from zero to one (`0.9n` is `1n`), and a
//!   quantity written with a binary suffix is capped at 2⁶³−1 (`9Ei`), exactly as Kubernetes
//!   does when it stores an object;
//! - a quantity remembers the kind of suffix it was written with ([`QuantityFormat`]) and
//!   prints in Kubernetes' canonical form for it (`Quantity.String()`): `20480Mi` → `20Gi`,
//!   `1.5Gi` → `1536Mi`, `1000m` → `1`, `2e10` → `20e9`, `0.5` → `500m`.
//!
//! Nothing is ever held in floating point: the value is an integer mantissa with a power-of-ten
//! exponent, and comparison is exact (`20G` < `20Gi`, `20480Mi` == `20Gi`, `0.5Gi` == `512Mi`).
//! Equality and ordering are by value; the format only affects printing.
//!
//! Where csdr is stricter than apimachinery: a string without any digit (`Ki`, `.`, `-`),
//! which Kubernetes would read as zero, is rejected; and a number with more than
//! [`MAX_SIGNIFICANT_DIGITS`] significant digits, or whose exponent leaves the `i32` range, is
//! rejected instead of being carried in an arbitrary-precision decimal.
//!
//! ```
//! use csdr_core::quantity::Quantity;
//!
//! let requested: Quantity = "20G".parse()?;
//! assert!(requested < Quantity::gibibytes(20));
//! assert_eq!(Quantity::parse("20480Mi")?, Quantity::parse("20Gi")?);
//! assert_eq!(Quantity::parse("1.5Gi")?.to_string(), "1536Mi");
//! assert_eq!(Quantity::parse("512Mi")?.integer_value(), Some(536_870_912));
//! assert!(Quantity::parse("20GB").unwrap_err().to_string().contains("GB"));
//! # Ok::<(), csdr_core::quantity::QuantityError>(())
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most significant decimal digits a [`Quantity`] keeps (the mantissa is below 10³⁸).
pub const MAX_SIGNIFICANT_DIGITS: usize = 38;

/// The smallest exponent a quantity has: values are kept down to nano units (10⁻⁹).
const NANO_EXPONENT: i64 = -9;

/// The largest value of a quantity written with a binary suffix (Kubernetes caps at 2⁶³−1).
const MAX_BINARY: u128 = i64::MAX as u128;

const BINARY_SUFFIXES: [(&str, u32); 6] = [
    ("Ki", 10),
    ("Mi", 20),
    ("Gi", 30),
    ("Ti", 40),
    ("Pi", 50),
    ("Ei", 60),
];

const DECIMAL_SUFFIXES: [(&str, i64); 10] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

/// The kind of suffix a quantity was written with; it decides how the quantity prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuantityFormat {
    /// Powers of 1000: `n u m "" k M G T P E` (e.g. `12M`).
    DecimalSi,
    /// Powers of 1024: `Ki Mi Gi Ti Pi Ei` (e.g. `12Mi`).
    BinarySi,
    /// A decimal exponent: `12e6`.
    DecimalExponent,
}

/// A string is not a Kubernetes quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {input:?}: {reason}")]
pub struct QuantityError {
    /// The string as given (shortened if very long).
    pub input: String,
    /// What is wrong with it and what a valid quantity looks like.
    pub reason: String,
}

impl QuantityError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        const MAX_SHOWN: usize = 80;
        let input = if input.chars().count() > MAX_SHOWN {
            let mut shown: String = input.chars().take(MAX_SHOWN).collect();
            shown.push('…');
            shown
        } else {
            input.to_string()
        };
        QuantityError {
            input,
            reason: reason.into(),
        }
    }
}

/// A Kubernetes resource quantity, held exactly: `±mantissa × 10^exponent`.
///
/// Equality, ordering and hashing are by value (`1Gi == 1073741824 == 1024Mi`); the
/// [`QuantityFormat`] only decides how it prints.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    negative: bool,
    /// Has no trailing decimal zero; zero only for the zero quantity.
    mantissa: u128,
    /// At least [`NANO_EXPONENT`]; zero for the zero quantity.
    exponent: i32,
    format: QuantityFormat,
}

impl Quantity {
    /// Zero, printed `0`.
    pub const ZERO: Quantity = Quantity {
        negative: false,
        mantissa: 0,
        exponent: 0,
        format: QuantityFormat::DecimalSi,
    };

    /// Parses a quantity as Kubernetes does (see the module documentation).
    pub fn parse(input: &str) -> Result<Quantity, QuantityError> {
        parse_quantity(input)
    }

    /// `value` times a binary suffix (`Ki`…`Ei`, or `""` for plain units), in binary format:
    /// `Quantity::from_binary(20, "Gi")`. Fails on another suffix or beyond 2⁶³−1.
    pub fn from_binary(value: i64, suffix: &str) -> Result<Quantity, QuantityError> {
        let shown = format!("{value}{suffix}");
        let shift = if suffix.is_empty() {
            0
        } else {
            BINARY_SUFFIXES
                .iter()
                .find(|(s, _)| *s == suffix)
                .map(|(_, shift)| *shift)
                .ok_or_else(|| {
                    QuantityError::new(
                        &shown,
                        format!("`{suffix}` is not a binary suffix; use Ki, Mi, Gi, Ti, Pi or Ei"),
                    )
                })?
        };
        let magnitude = u128::from(value.unsigned_abs()) << shift;
        if magnitude > MAX_BINARY {
            return Err(QuantityError::new(
                &shown,
                "a binary quantity must not exceed 2^63-1 (about 8Ei)",
            ));
        }
        Ok(Quantity::normalized(
            value < 0,
            magnitude,
            0,
            QuantityFormat::BinarySi,
        ))
    }

    /// `n` gibibytes (`n × 2³⁰`), e.g. `gibibytes(20)` prints `20Gi`.
    pub fn gibibytes(n: u32) -> Quantity {
        Quantity::normalized(false, u128::from(n) << 30, 0, QuantityFormat::BinarySi)
    }

    /// An integer number of units (bytes, cores…) in the given format.
    pub fn from_integer(value: i64, format: QuantityFormat) -> Quantity {
        Quantity::normalized(value < 0, u128::from(value.unsigned_abs()), 0, format)
    }

    /// `mantissa × 10^exponent` in the given format, e.g. `from_decimal(15, -1, DecimalSi)` is
    /// `1.5`. Fails if the value is finer than nano units or has more than
    /// [`MAX_SIGNIFICANT_DIGITS`] significant digits.
    pub fn from_decimal(
        mantissa: i128,
        exponent: i32,
        format: QuantityFormat,
    ) -> Result<Quantity, QuantityError> {
        let shown = format!("{mantissa}e{exponent}");
        let (mut magnitude, mut exponent) = (mantissa.unsigned_abs(), i64::from(exponent));
        if magnitude == 0 {
            return Ok(Quantity::ZERO.with_format(format));
        }
        while magnitude.is_multiple_of(10) {
            magnitude /= 10;
            exponent += 1;
        }
        if exponent < NANO_EXPONENT {
            return Err(QuantityError::new(
                &shown,
                "quantities are kept to nano units (1e-9); round the value first",
            ));
        }
        if digit_count(magnitude) > MAX_SIGNIFICANT_DIGITS {
            return Err(QuantityError::new(
                &shown,
                format!("more than {MAX_SIGNIFICANT_DIGITS} significant digits"),
            ));
        }
        let exponent = i32::try_from(exponent)
            .map_err(|_| QuantityError::new(&shown, "exponent out of range"))?;
        Ok(Quantity::normalized(
            mantissa < 0,
            magnitude,
            exponent,
            format,
        ))
    }

    fn normalized(
        negative: bool,
        mut mantissa: u128,
        exponent: i32,
        format: QuantityFormat,
    ) -> Self {
        if mantissa == 0 {
            return Quantity::ZERO.with_format(format);
        }
        let mut exponent = exponent;
        while mantissa.is_multiple_of(10) {
            mantissa /= 10;
            exponent += 1;
        }
        Quantity {
            negative,
            mantissa,
            exponent,
            format,
        }
    }

    fn with_format(mut self, format: QuantityFormat) -> Self {
        self.format = format;
        self
    }

    /// The kind of suffix it prints with.
    pub fn format(&self) -> QuantityFormat {
        self.format
    }

    /// Whether it is zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// Whether it is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The exact value as an integer (bytes for a storage size), if it is integral and fits
    /// an `i128`: `512Mi` → `536870912`; `1.5` → `None`.
    pub fn integer_value(&self) -> Option<i128> {
        if self.mantissa == 0 {
            return Some(0);
        }
        if self.exponent < 0 {
            return None;
        }
        let scale = 10i128.checked_pow(u32::try_from(self.exponent).ok()?)?;
        let magnitude = i128::try_from(self.mantissa).ok()?.checked_mul(scale)?;
        Some(if self.negative { -magnitude } else { magnitude })
    }

    fn cmp_magnitude(&self, other: &Quantity) -> Ordering {
        match (self.mantissa == 0, other.mantissa == 0) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        // The order of magnitude: the position of the leading digit.
        let order = |q: &Quantity| digit_count(q.mantissa) as i64 + i64::from(q.exponent);
        match order(self).cmp(&order(other)) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
        // Same order of magnitude: scaling the one with the larger exponent down to the other's
        // gives it the other's digit count, which fits since both mantissas are below 10^38.
        let (a, b) = (self, other);
        if a.exponent >= b.exponent {
            let shift = (a.exponent - b.exponent).unsigned_abs();
            pow10_mul(a.mantissa, shift).cmp(&b.mantissa)
        } else {
            let shift = (b.exponent - a.exponent).unsigned_abs();
            a.mantissa.cmp(&pow10_mul(b.mantissa, shift))
        }
    }
}

/// `value × 10^shift`, saturating (only called where the result is known to fit).
fn pow10_mul(value: u128, shift: u32) -> u128 {
    10u128
        .checked_pow(shift)
        .and_then(|p| value.checked_mul(p))
        .unwrap_or(u128::MAX)
}

fn digit_count(mut value: u128) -> usize {
    let mut count = 1;
    while value >= 10 {
        value /= 10;
        count += 1;
    }
    count
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The representation is normalised, so equal values have equal parts.
        self.negative.hash(state);
        self.mantissa.hash(state);
        self.exponent.hash(state);
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl fmt::Display for Quantity {
    /// Kubernetes' canonical form (`CanonicalizeBytes`): no fractional digits, the largest
    /// suffix that loses nothing, the format the quantity was written in where possible.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mantissa == 0 {
            return f.write_str("0");
        }
        if self.negative {
            f.write_str("-")?;
        }
        if self.format == QuantityFormat::BinarySi
            && let Some(mut integer) = self.binary_integer()
        {
            let mut power = 0;
            while power < BINARY_SUFFIXES.len() && integer.is_multiple_of(1024) {
                integer /= 1024;
                power += 1;
            }
            let suffix = match power {
                0 => "",
                p => BINARY_SUFFIXES[p - 1].0,
            };
            return write!(f, "{integer}{suffix}");
        }
        // Move the exponent down to a multiple of three, padding the digits.
        let exponent = i64::from(self.exponent);
        let exponent3 = exponent.div_euclid(3) * 3;
        let padding = (exponent - exponent3) as usize;
        write!(f, "{}{}", self.mantissa, "0".repeat(padding))?;
        let si = DECIMAL_SUFFIXES.iter().find(|(_, e)| *e == exponent3);
        match (self.format, si) {
            (QuantityFormat::DecimalExponent, _) | (_, None) => {
                if exponent3 != 0 {
                    write!(f, "e{exponent3}")?;
                }
                Ok(())
            }
            (_, Some((suffix, _))) => f.write_str(suffix),
        }
    }
}

impl Quantity {
    /// The magnitude as an integer of at least 1024, when a binary quantity prints with a
    /// binary suffix (Kubernetes prints smaller or fractional ones as decimal).
    fn binary_integer(&self) -> Option<u128> {
        if self.exponent < 0 {
            return None;
        }
        let value = 10u128
            .checked_pow(self.exponent.unsigned_abs())
            .and_then(|p| self.mantissa.checked_mul(p))?;
        (value >= 1024).then_some(value)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Kubernetes quantity such as \"20Gi\" or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
                // Like apimachinery's UnmarshalJSON, surrounding whitespace is ignored.
                Quantity::parse(v.trim()).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity::from_integer(v, QuantityFormat::DecimalSi))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
                Quantity::parse(&v.to_string()).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The suffix of a quantity, interpreted.
enum Suffix {
    Decimal(i64),
    Binary(u32),
    Exponent(i64),
}

fn interpret_suffix(input: &str, suffix: &str) -> Result<Suffix, QuantityError> {
    if let Some((_, e)) = DECIMAL_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Ok(Suffix::Decimal(*e));
    }
    if let Some((_, shift)) = BINARY_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Ok(Suffix::Binary(*shift));
    }
    if let Some(rest) = suffix.strip_prefix(['e', 'E']) {
        let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return rest.parse::<i64>().map(Suffix::Exponent).map_err(|_| {
                QuantityError::new(input, format!("exponent `{rest}` is out of range"))
            });
        }
    }
    Err(QuantityError::new(
        input,
        format!(
            "unknown suffix `{suffix}`: use a binary suffix (Ki, Mi, Gi, Ti, Pi, Ei), a decimal \
             one (n, u, m, k, M, G, T, P, E), none, or an exponent such as e9"
        ),
    ))
}

fn parse_quantity(input: &str) -> Result<Quantity, QuantityError> {
    if input.is_empty() {
        return Err(QuantityError::new(
            input,
            "empty string; write a number with an optional suffix, e.g. 20Gi",
        ));
    }
    let bytes = input.as_bytes();
    let mut pos = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            pos += 1;
            true
        }
        Some(b'+') => {
            pos += 1;
            false
        }
        _ => false,
    };
    let int_start = pos;
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    let int_digits = &bytes[int_start..pos];
    let mut frac_digits: &[u8] = &[];
    if pos < bytes.len() && bytes[pos] == b'.' {
        pos += 1;
        let frac_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        frac_digits = &bytes[frac_start..pos];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(QuantityError::new(
            input,
            "no digits; a quantity starts with a number, e.g. 20Gi or 0.5",
        ));
    }
    // `pos` is at an ASCII boundary (only ASCII bytes were consumed).
    let suffix = input.get(pos..).unwrap_or_default();
    let suffix = interpret_suffix(input, suffix)?;

    let mut digits: Vec<u8> = int_digits
        .iter()
        .chain(frac_digits)
        .map(|b| b - b'0')
        .collect();
    let fraction_len = i64::try_from(frac_digits.len())
        .map_err(|_| QuantityError::new(input, "number too long"))?;
    let out_of_range = || QuantityError::new(input, "exponent out of range");
    let (mut exponent, mut format) = match suffix {
        Suffix::Decimal(e) => (e - fraction_len, QuantityFormat::DecimalSi),
        Suffix::Exponent(e) => (
            e.checked_sub(fraction_len).ok_or_else(out_of_range)?,
            QuantityFormat::DecimalExponent,
        ),
        Suffix::Binary(shift) => {
            multiply_digits(&mut digits, 1u64 << shift);
            (-fraction_len, QuantityFormat::BinarySi)
        }
    };

    // Leading zeros carry nothing.
    let first = digits.iter().position(|d| *d != 0);
    let Some(first) = first else {
        return Ok(Quantity::ZERO.with_format(format));
    };
    digits.drain(..first);

    // Round anything finer than nano units away from zero, as Kubernetes does.
    if exponent < NANO_EXPONENT {
        let drop = NANO_EXPONENT - exponent;
        match usize::try_from(drop) {
            Ok(drop) if drop < digits.len() => {
                let kept = digits.len() - drop;
                let round_up = digits[kept..].iter().any(|d| *d != 0);
                digits.truncate(kept);
                if round_up {
                    increment_digits(&mut digits);
                }
            }
            _ => digits = vec![1],
        }
        exponent = NANO_EXPONENT;
    }
    while digits.len() > 1 && digits.last() == Some(&0) {
        digits.pop();
        exponent = exponent.checked_add(1).ok_or_else(out_of_range)?;
    }

    if format == QuantityFormat::BinarySi {
        let order = digits.len() as i64 + exponent;
        if order <= 0 {
            // Between zero and one: Kubernetes switches to decimal to avoid rounding.
            format = QuantityFormat::DecimalSi;
        } else if order > 19 || exceeds_max_binary(&digits, exponent) {
            // Kubernetes silently caps binary quantities at 2^63-1.
            digits = MAX_BINARY.to_string().bytes().map(|b| b - b'0').collect();
            exponent = 0;
        }
    }

    if digits.len() > MAX_SIGNIFICANT_DIGITS {
        return Err(QuantityError::new(
            input,
            format!(
                "more than {MAX_SIGNIFICANT_DIGITS} significant digits; no Kubernetes resource \
                 needs that precision"
            ),
        ));
    }
    let exponent = i32::try_from(exponent).map_err(|_| out_of_range())?;
    let mantissa = digits
        .iter()
        .fold(0u128, |acc, d| acc * 10 + u128::from(*d));
    Ok(Quantity::normalized(negative, mantissa, exponent, format))
}

/// Whether `digits × 10^exponent` (at most 19 integer digits, exponent ≥ -9) exceeds 2⁶³−1.
fn exceeds_max_binary(digits: &[u8], exponent: i64) -> bool {
    let value = digits.iter().fold(0u128, |acc, d| {
        acc.saturating_mul(10).saturating_add(u128::from(*d))
    });
    if exponent >= 0 {
        pow10_mul(value, exponent.unsigned_abs() as u32) > MAX_BINARY
    } else {
        value > pow10_mul(MAX_BINARY, exponent.unsigned_abs() as u32)
    }
}

/// Multiplies a big-endian decimal digit string by `factor` in place.
fn multiply_digits(digits: &mut Vec<u8>, factor: u64) {
    let mut carry: u128 = 0;
    for digit in digits.iter_mut().rev() {
        let product = u128::from(*digit) * u128::from(factor) + carry;
        *digit = (product % 10) as u8;
        carry = product / 10;
    }
    let mut head = Vec::new();
    while carry > 0 {
        head.push((carry % 10) as u8);
        carry /= 10;
    }
    head.reverse();
    digits.splice(0..0, head);
}

/// Adds one to a big-endian decimal digit string in place.
fn increment_digits(digits: &mut Vec<u8>) {
    for digit in digits.iter_mut().rev() {
        if *digit == 9 {
            *digit = 0;
        } else {
            *digit += 1;
            return;
        }
    }
    digits.insert(0, 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use QuantityFormat::{BinarySi, DecimalExponent, DecimalSi};
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn dec(mantissa: i128, exponent: i32, format: QuantityFormat) -> Quantity {
        Quantity::from_decimal(mantissa, exponent, format).unwrap()
    }

    /// apimachinery `TestQuantityParse`: value and format of each input, and of its negation
    /// and its explicitly positive form.
    #[test]
    fn parses_apimachinery_table() {
        let table: Vec<(&str, Quantity)> = vec![
            ("0", dec(0, 0, DecimalSi)),
            ("0n", dec(0, 0, DecimalSi)),
            ("0u", dec(0, 0, DecimalSi)),
            ("0m", dec(0, 0, DecimalSi)),
            ("0Ki", dec(0, 0, BinarySi)),
            ("0k", dec(0, 0, DecimalSi)),
            ("0Mi", dec(0, 0, BinarySi)),
            ("0M", dec(0, 0, DecimalSi)),
            ("0Gi", dec(0, 0, BinarySi)),
            ("0G", dec(0, 0, DecimalSi)),
            ("0Ti", dec(0, 0, BinarySi)),
            ("0T", dec(0, 0, DecimalSi)),
            ("1", dec(1, 0, DecimalSi)),
            ("1Ki", dec(1024, 0, BinarySi)),
            ("8Ki", dec(8 * 1024, 0, BinarySi)),
            ("7Mi", dec(7 << 20, 0, BinarySi)),
            ("6Gi", dec(6 << 30, 0, BinarySi)),
            ("5Ti", dec(5 << 40, 0, BinarySi)),
            ("4Pi", dec(4 << 50, 0, BinarySi)),
            ("3Ei", dec(3 << 60, 0, BinarySi)),
            ("10Ti", dec(10 << 40, 0, BinarySi)),
            ("100Ti", dec(100 << 40, 0, BinarySi)),
            ("5n", dec(5, -9, DecimalSi)),
            ("4u", dec(4, -6, DecimalSi)),
            ("3m", dec(3, -3, DecimalSi)),
            ("9", dec(9, 0, DecimalSi)),
            ("8k", dec(8, 3, DecimalSi)),
            ("50k", dec(5, 4, DecimalSi)),
            ("7M", dec(7, 6, DecimalSi)),
            ("6G", dec(6, 9, DecimalSi)),
            ("5T", dec(5, 12, DecimalSi)),
            ("40T", dec(4, 13, DecimalSi)),
            ("300T", dec(3, 14, DecimalSi)),
            ("2P", dec(2, 15, DecimalSi)),
            ("1E", dec(1, 18, DecimalSi)),
            ("1E-3", dec(1, -3, DecimalExponent)),
            ("1e3", dec(1, 3, DecimalExponent)),
            ("1E6", dec(1, 6, DecimalExponent)),
            ("1e9", dec(1, 9, DecimalExponent)),
            ("1E12", dec(1, 12, DecimalExponent)),
            ("1e15", dec(1, 15, DecimalExponent)),
            ("1E18", dec(1, 18, DecimalExponent)),
            ("1e14", dec(1, 14, DecimalExponent)),
            ("1e13", dec(1, 13, DecimalExponent)),
            ("100.035k", dec(100035, 0, DecimalSi)),
            ("0.001", dec(1, -3, DecimalSi)),
            ("0.0005k", dec(5, -1, DecimalSi)),
            ("0.005", dec(5, -3, DecimalSi)),
            ("0.05", dec(5, -2, DecimalSi)),
            ("0.5", dec(5, -1, DecimalSi)),
            ("0.00050k", dec(5, -1, DecimalSi)),
            ("0.00500", dec(5, -3, DecimalSi)),
            ("0.05000", dec(5, -2, DecimalSi)),
            ("0.50000", dec(5, -1, DecimalSi)),
            ("0.5e0", dec(5, -1, DecimalExponent)),
            ("0.5e-1", dec(5, -2, DecimalExponent)),
            ("0.5e-2", dec(5, -3, DecimalExponent)),
            ("10.035M", dec(10035, 3, DecimalSi)),
            ("1.2e3", dec(12, 2, DecimalExponent)),
            ("1.3E+6", dec(13, 5, DecimalExponent)),
            ("1.40e9", dec(14, 8, DecimalExponent)),
            ("1.53E12", dec(153, 10, DecimalExponent)),
            ("1.6e15", dec(16, 14, DecimalExponent)),
            ("1.7E18", dec(17, 17, DecimalExponent)),
            ("9.01", dec(901, -2, DecimalSi)),
            ("8.1k", dec(81, 2, DecimalSi)),
            ("7.123456M", dec(7123456, 0, DecimalSi)),
            ("6.987654321G", dec(6987654321, 0, DecimalSi)),
            ("5.444T", dec(5444, 9, DecimalSi)),
            ("40.1T", dec(401, 11, DecimalSi)),
            ("300.2T", dec(3002, 11, DecimalSi)),
            ("2.5P", dec(25, 14, DecimalSi)),
            ("1.01E", dec(101, 16, DecimalSi)),
            // Things that saturate or round.
            ("3.001n", dec(4, -9, DecimalSi)),
            ("1.1E-9", dec(2, -9, DecimalExponent)),
            ("0.0000000001", dec(1, -9, DecimalSi)),
            ("0.0000000005", dec(1, -9, DecimalSi)),
            ("0.00000000050", dec(1, -9, DecimalSi)),
            ("0.5e-9", dec(1, -9, DecimalExponent)),
            ("0.9n", dec(1, -9, DecimalSi)),
            ("0.00000012345", dec(124, -9, DecimalSi)),
            ("0.00000012354", dec(124, -9, DecimalSi)),
            ("9Ei", dec(i64::MAX.into(), 0, BinarySi)),
            ("9223372036854775807Ki", dec(i64::MAX.into(), 0, BinarySi)),
            ("12E", dec(12, 18, DecimalSi)),
            // Fractional binary quantities.
            ("100.035Ki", dec(10243584, -2, BinarySi)),
            ("0.5Mi", dec(1 << 19, 0, BinarySi)),
            ("0.05Gi", dec(536870912, -1, BinarySi)),
            ("0.025Ti", dec(274877906944, -1, BinarySi)),
            // "Things written by trolls".
            ("0.000000000001Ki", dec(2, -9, DecimalSi)),
            (".001", dec(1, -3, DecimalSi)),
            (".0001k", dec(100, -3, DecimalSi)),
            ("1.", dec(1, 0, DecimalSi)),
            ("1.G", dec(1, 9, DecimalSi)),
        ];
        for (input, expect) in table {
            for (prefix, negate) in [("", false), ("-", true), ("+", false)] {
                let text = format!("{prefix}{input}");
                let got = q(&text);
                let want = if negate && !expect.is_zero() {
                    Quantity {
                        negative: true,
                        ..expect
                    }
                } else {
                    expect
                };
                assert_eq!(got, want, "{text}: value");
                assert_eq!(got.format(), expect.format(), "{text}: format");
            }
        }
    }

    /// apimachinery's invalid inputs, plus the ones csdr adds.
    #[test]
    fn rejects_invalid_strings() {
        for input in [
            "",
            "1.1.M",
            "1+1.0M",
            "0.1mi",
            "0.1am",
            "aoeu",
            ".5i",
            "1i",
            "-3.01i",
            "-3.01e-",
            " 1",
            "1 ",
            "20GB",
            "20gi",
            "1e",
            "1E+",
            "10Gi ",
            "1Ki5",
            "1e5e5",
            "Ki",
            ".",
            "-",
            "1e99999999999999999999",
            "1e3000000000",
        ] {
            let err = Quantity::parse(input).unwrap_err();
            assert_eq!(err.input, input);
            assert!(!err.reason.is_empty());
        }
        let err = Quantity::parse("20GB").unwrap_err();
        assert!(err.to_string().contains("\"20GB\""), "{err}");
        assert!(err.to_string().contains("unknown suffix `GB`"), "{err}");
        let long = "1".repeat(39);
        assert!(Quantity::parse(&long).unwrap_err().reason.contains("38"));
    }

    /// apimachinery `TestQuantityString`: canonical form, and the alternate spelling
    /// canonicalises to it; negations print with a leading `-`.
    #[test]
    fn prints_canonical_form() {
        let table = [
            (dec(1 << 30, 0, BinarySi), "1Gi", "1024Mi"),
            (dec(300 << 20, 0, BinarySi), "300Mi", "307200Ki"),
            (dec(6 * 1024, 0, BinarySi), "6Ki", ""),
            (dec(1001 << 30, 0, BinarySi), "1001Gi", "1025024Mi"),
            (dec(1 << 40, 0, BinarySi), "1Ti", "1024Gi"),
            (dec(5, 0, BinarySi), "5", "5000m"),
            (dec(500, -3, BinarySi), "500m", "0.5"),
            (dec(1, 9, DecimalSi), "1G", "1000M"),
            (dec(1000, 6, DecimalSi), "1G", "0.001T"),
            (dec(1000000, 3, DecimalSi), "1G", ""),
            (dec(1000000000, 0, DecimalSi), "1G", ""),
            (dec(1, -3, DecimalSi), "1m", "1000u"),
            (dec(80, -3, DecimalSi), "80m", ""),
            (dec(1080, -3, DecimalSi), "1080m", "1.08"),
            (dec(108, -2, DecimalSi), "1080m", "1080000000n"),
            (dec(10800, -4, DecimalSi), "1080m", ""),
            (dec(300, 6, DecimalSi), "300M", ""),
            (dec(1, 12, DecimalSi), "1T", ""),
            (dec(1, 18, DecimalSi), "1E", ""),
            (dec(1, 21, DecimalSi), "1e21", "1000E"),
            (dec(5, 21, DecimalSi), "5e21", "5000E"),
            (dec(1, 24, DecimalSi), "1e24", "1000000E"),
            (dec(1234567, 6, DecimalSi), "1234567M", ""),
            (dec(1234567, -3, BinarySi), "1234567m", ""),
            (dec(3, 3, DecimalSi), "3k", ""),
            (dec(1025, 0, BinarySi), "1025", ""),
            (dec(0, 0, DecimalSi), "0", ""),
            (dec(0, 0, BinarySi), "0", ""),
            (dec(1, 9, DecimalExponent), "1e9", ".001e12"),
            (dec(1, -3, DecimalExponent), "1e-3", "0.001e0"),
            (dec(1, -9, DecimalExponent), "1e-9", "1000e-12"),
            (dec(80, -3, DecimalExponent), "80e-3", ""),
            (dec(300, 6, DecimalExponent), "300e6", ""),
            (dec(1, 12, DecimalExponent), "1e12", ""),
            (dec(1, 3, DecimalExponent), "1e3", ""),
            (dec(3, 3, DecimalExponent), "3e3", ""),
            (dec(0, 0, DecimalExponent), "0", "00"),
            (dec(1, -9, DecimalSi), "1n", ""),
            (dec(80, -9, DecimalSi), "80n", ""),
            (dec(1080, -9, DecimalSi), "1080n", ""),
            (dec(108, -8, DecimalSi), "1080n", ""),
            (dec(1, -6, DecimalSi), "1u", ""),
            (dec(80, -6, DecimalSi), "80u", ""),
            (dec(1080, -6, DecimalSi), "1080u", ""),
        ];
        for (quantity, expect, alternate) in table {
            assert_eq!(quantity.to_string(), expect);
            assert_eq!(q(expect).to_string(), expect);
            if !alternate.is_empty() {
                assert_eq!(q(alternate).to_string(), expect, "{alternate}");
            }
            if !quantity.is_zero() {
                let negated = Quantity {
                    negative: true,
                    ..quantity
                };
                assert_eq!(negated.to_string(), format!("-{expect}"));
            }
        }
    }

    /// apimachinery `TestQuantityParseEmit`, and the canonical forms csdr relies on.
    #[test]
    fn parse_then_emit() {
        for (input, expect) in [
            ("1Ki", "1Ki"),
            ("1Mi", "1Mi"),
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1000M", "1G"),
            (".001Ki", "1024m"),
            (".000001Ki", "1024u"),
            (".000000001Ki", "1024n"),
            (".000000000001Ki", "2n"),
            ("20480Mi", "20Gi"),
            ("1.5Gi", "1536Mi"),
            ("1000m", "1"),
            ("2e10", "20e9"),
            ("1536", "1536"),
            ("1.5Ki", "1536"),
        ] {
            assert_eq!(q(input).to_string(), expect, "{input}");
            assert_eq!(q(&format!("-{input}")).to_string(), format!("-{expect}"));
        }
    }

    #[test]
    fn compares_exactly() {
        use Ordering::*;
        for (a, b, expect) in [
            ("0", "0", Equal),
            ("100m", "50m", Greater),
            ("50m", "100m", Less),
            ("10000T", "100Gi", Greater),
            ("20G", "20Gi", Less),
            ("20480Mi", "20Gi", Equal),
            ("2e10", "20Gi", Less),
            ("0.5Gi", "512Mi", Equal),
            ("21474836480", "20Gi", Equal),
            ("21474836481", "20Gi", Greater),
            ("-1", "0", Less),
            ("-2Gi", "-1Gi", Less),
            ("1e-9", "1n", Equal),
            ("1e30", "999999999999999999999999999999", Greater),
            ("0.5", "500m", Equal),
            ("1E", "1e18", Equal),
        ] {
            assert_eq!(q(a).cmp(&q(b)), expect, "{a} vs {b}");
            assert_eq!(q(b).cmp(&q(a)), expect.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn constructors_and_integer_value() {
        assert_eq!(Quantity::gibibytes(20), q("20Gi"));
        assert_eq!(Quantity::gibibytes(20).to_string(), "20Gi");
        assert_eq!(Quantity::from_binary(20, "Gi").unwrap(), q("20480Mi"));
        assert_eq!(Quantity::from_binary(-3, "Ki").unwrap().to_string(), "-3Ki");
        assert!(Quantity::from_binary(20, "G").is_err());
        assert!(Quantity::from_binary(8, "Ei").is_err());
        assert_eq!(Quantity::from_integer(1000, DecimalSi).to_string(), "1k");
        assert_eq!(q("512Mi").integer_value(), Some(536_870_912));
        assert_eq!(q("1.5").integer_value(), None);
        assert_eq!(q("-2k").integer_value(), Some(-2000));
        assert_eq!(q("0").integer_value(), Some(0));
        assert!(Quantity::from_decimal(1, -10, DecimalSi).is_err());
    }

    #[test]
    fn serde_as_string() {
        let quantity: Quantity = serde_json::from_str("\"1.5Gi\"").unwrap();
        assert_eq!(serde_json::to_string(&quantity).unwrap(), "\"1536Mi\"");
        let quantity: Quantity = serde_json::from_str("\" 1 \"").unwrap();
        assert_eq!(quantity.to_string(), "1");
        let quantity: Quantity = serde_json::from_str("-10").unwrap();
        assert_eq!(quantity.to_string(), "-10");
        let err = serde_json::from_str::<Quantity>("\"20GB\"").unwrap_err();
        assert!(err.to_string().contains("20GB"));
    }

    #[test]
    fn hash_agrees_with_eq() {
        use std::collections::HashSet;
        let set: HashSet<Quantity> = ["20Gi", "20480Mi", "21474836480", "0.02Ti"]
            .iter()
            .map(|s| q(s))
            .collect();
        assert_eq!(set.len(), 2, "0.02Ti is 21990232555.52, the rest are 20Gi");
    }

    /// Every suffix with its value in nano units.
    const SUFFIXES_IN_NANO: [(&str, i128, i64); 16] = [
        ("n", 1, i64::MAX),
        ("u", 1_000, i64::MAX),
        ("m", 1_000_000, i64::MAX),
        ("", 1_000_000_000, i64::MAX),
        ("k", 1_000_000_000_000, i64::MAX),
        ("M", 1_000_000_000_000_000, i64::MAX),
        ("G", 1_000_000_000_000_000_000, i64::MAX),
        ("T", 1_000_000_000_000_000_000_000, i64::MAX),
        ("P", 1_000_000_000_000_000_000_000_000, i64::MAX),
        ("E", 1_000_000_000_000_000_000_000_000_000, i64::MAX),
        ("Ki", 1_000_000_000 << 10, i64::MAX >> 10),
        ("Mi", 1_000_000_000 << 20, i64::MAX >> 20),
        ("Gi", 1_000_000_000 << 30, i64::MAX >> 30),
        ("Ti", 1_000_000_000 << 40, i64::MAX >> 40),
        ("Pi", 1_000_000_000 << 50, i64::MAX >> 50),
        ("Ei", 1_000_000_000 << 60, i64::MAX >> 60),
    ];

    fn integer_quantity() -> impl Strategy<Value = (String, i128)> {
        (0..SUFFIXES_IN_NANO.len(), any::<u32>(), any::<bool>()).prop_map(|(i, n, neg)| {
            let (suffix, nano, max) = SUFFIXES_IN_NANO[i];
            let limit = max.min(i64::from(u32::MAX));
            let n = i64::from(n) % (limit + 1);
            let value = i128::from(n) * nano;
            let sign = if neg { "-" } else { "" };
            (
                format!("{sign}{n}{suffix}"),
                if neg { -value } else { value },
            )
        })
    }

    fn quantity_text() -> impl Strategy<Value = String> {
        let suffix = prop_oneof![
            proptest::sample::select(vec![
                "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi",
                "Ei",
            ])
            .prop_map(str::to_string),
            (-40i32..40).prop_map(|e| format!("e{e}")),
        ];
        (
            proptest::sample::select(vec!["", "-", "+"]),
            "[0-9]{0,22}",
            proptest::option::of("[0-9]{0,12}"),
            suffix,
        )
            .prop_map(|(sign, int, frac, suffix)| match frac {
                Some(frac) => format!("{sign}{int}.{frac}{suffix}"),
                None => format!("{sign}{int}{suffix}"),
            })
    }

    proptest! {
        /// Ordering agrees with the exact value (in nano units) for integers in every suffix.
        #[test]
        fn ordering_agrees_with_integer_value(a in integer_quantity(), b in integer_quantity()) {
            let (qa, qb) = (q(&a.0), q(&b.0));
            prop_assert_eq!(qa.cmp(&qb), a.1.cmp(&b.1), "{} vs {}", a.0, b.0);
            prop_assert_eq!(qa == qb, a.1 == b.1);
            if a.1 % 1_000_000_000 == 0 {
                prop_assert_eq!(qa.integer_value(), Some(a.1 / 1_000_000_000));
            }
        }

        /// parse(print(q)) == q, and printing is stable.
        #[test]
        fn print_parse_round_trip(text in quantity_text()) {
            if let Ok(quantity) = Quantity::parse(&text) {
                let printed = quantity.to_string();
                let reparsed = Quantity::parse(&printed).unwrap();
                prop_assert_eq!(reparsed, quantity, "{} printed {}", text, printed);
                prop_assert_eq!(reparsed.to_string(), printed);
            }
        }

        /// Never panics, on arbitrary strings and on strings of quantity characters.
        #[test]
        fn parse_never_panics(text in "\\PC{0,40}", near in "[-+0-9.eEinumkKMGTP]{0,40}") {
            let _ = Quantity::parse(&text);
            if let Ok(quantity) = Quantity::parse(&near) {
                let _ = quantity.to_string();
            }
        }
    }
}
