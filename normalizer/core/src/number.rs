//! Exact handling of DynamoDB numbers (decimal text, up to 38 significant digits).
//!
//! Called by the record decoder (syntax check) and by the flattener when a declared column
//! has a numeric type. Numbers are never parsed into `f64`: conversions work on the digits.

use std::borrow::Cow;

/// Whether `s` is decimal number text as DynamoDB writes it: `-12`, `0.5`, `.5`, `1.5E+3`.
///
/// The decoder asks this of every `N` of every record, so it is one scan that allocates
/// nothing (it took [`parse`], which collects the digits, and was 2% of a batch's
/// instructions in the profile of issue 43); it accepts exactly what `parse` does.
pub fn is_dynamodb_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let (mut seen_digit, mut seen_dot) = (false, false);
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => seen_digit = true,
            b'.' if !seen_dot => seen_dot = true,
            b'e' | b'E' => break,
            _ => return false,
        }
        i += 1;
    }
    if !seen_digit {
        return false;
    }
    if i == b.len() {
        return true;
    }
    // The exponent: a sign, then 1 to 6 digits.
    let exp = &b[i + 1..];
    let digits = match exp.first() {
        Some(b'+' | b'-') => &exp[1..],
        _ => exp,
    };
    (1..=6).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit)
}

/// A number split into sign, significant digits and a decimal exponent:
/// the value is `(-1)^negative × digits × 10^exponent`.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    /// Digits without leading zeros; empty for zero.
    digits: Vec<u8>,
    exponent: i64,
}

fn parse(s: &str) -> Option<Decimal> {
    let b = s.as_bytes();
    let mut i = 0;
    let negative = b.first() == Some(&b'-');
    if negative {
        i += 1;
    }
    let mut digits = Vec::with_capacity(b.len());
    let mut exponent: i64 = 0;
    let mut seen_digit = false;
    let mut seen_dot = false;
    while i < b.len() {
        match b[i] {
            d @ b'0'..=b'9' => {
                seen_digit = true;
                if !(digits.is_empty() && d == b'0') {
                    digits.push(d - b'0');
                }
                if seen_dot {
                    exponent -= 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        i += 1;
    }
    if !seen_digit {
        return None;
    }
    if i < b.len() {
        // exponent part
        let exp_text = &s[i + 1..];
        let exp_digits = exp_text.strip_prefix(['+', '-']).unwrap_or(exp_text);
        if exp_digits.is_empty() || exp_digits.len() > 6 || !exp_digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let e: i64 = exp_text.parse().ok()?;
        exponent += e;
    }
    // Trailing zeros of the significand move into the exponent.
    while digits.last() == Some(&0) {
        digits.pop();
        exponent += 1;
    }
    if digits.is_empty() {
        exponent = 0;
    }
    Some(Decimal { negative, digits, exponent })
}

/// Why a number does not fit a declared column type.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NumberFitError {
    /// The text is not a number.
    #[error("not a number")]
    NotANumber,
    /// It has more fractional digits than the column's scale (it would be rounded).
    #[error("has more than {scale} fractional digits")]
    TooManyFractionDigits {
        /// The column's scale.
        scale: u8,
    },
    /// It is too large for the column.
    #[error("is out of range for the column type")]
    OutOfRange,
}

/// Renders `s` as plain decimal text with exactly `scale` fractional digits and at most
/// `precision` digits in all, as Athena's `DECIMAL(precision, scale)` reads it. Never rounds.
/// An integer already written that way (most counters) is `s` itself, not a copy.
pub fn to_decimal(s: &str, precision: u8, scale: u8) -> Result<Cow<'_, str>, NumberFitError> {
    match plain_integer(s) {
        Some(digits) if scale == 0 && digits <= usize::from(precision) => Ok(Cow::Borrowed(s)),
        _ => render_decimal(s, precision, scale).map(Cow::Owned),
    }
}

/// The number of digits of `s` when it is an integer as [`render_decimal`] writes one: `0`,
/// or digits without a leading zero after an optional `-`.
fn plain_integer(s: &str) -> Option<usize> {
    let digits = s.strip_prefix('-').unwrap_or(s).as_bytes();
    match digits {
        b"0" if digits.len() == s.len() => Some(1),
        [b'1'..=b'9', rest @ ..] if rest.iter().all(u8::is_ascii_digit) => Some(digits.len()),
        _ => None,
    }
}

/// [`to_decimal`] for any number text, written out digit by digit.
fn render_decimal(s: &str, precision: u8, scale: u8) -> Result<String, NumberFitError> {
    let d = parse(s).ok_or(NumberFitError::NotANumber)?;
    if d.digits.is_empty() {
        return Ok(if scale == 0 { "0".to_owned() } else { format!("0.{}", "0".repeat(scale as usize)) });
    }
    // Position of the decimal point counted from the left of `digits`.
    let int_len = d.digits.len() as i64 + d.exponent;
    let frac_len = (-d.exponent).max(0);
    if frac_len > scale as i64 {
        return Err(NumberFitError::TooManyFractionDigits { scale });
    }
    if int_len > (precision as i64 - scale as i64) {
        return Err(NumberFitError::OutOfRange);
    }
    let mut out = String::with_capacity(precision as usize + 3);
    if d.negative {
        out.push('-');
    }
    if int_len <= 0 {
        out.push('0');
    } else {
        for k in 0..int_len {
            let digit = d.digits.get(k as usize).copied().unwrap_or(0);
            out.push((b'0' + digit) as char);
        }
    }
    if scale > 0 {
        out.push('.');
        for k in int_len..int_len + scale as i64 {
            let digit = if k < 0 { 0 } else { d.digits.get(k as usize).copied().unwrap_or(0) };
            out.push((b'0' + digit) as char);
        }
    }
    Ok(out)
}

/// Renders `s` as an integer that fits in `bits` (32 or 64) signed bits, or says why not.
/// An integer already written as [`to_decimal`] writes one is `s` itself, not a copy.
pub fn to_integer(s: &str, bits: u32) -> Result<Cow<'_, str>, NumberFitError> {
    let text = to_decimal(s, 38, 0)?;
    let v: i128 = text.parse().map_err(|_| NumberFitError::OutOfRange)?;
    let max = (1i128 << (bits - 1)) - 1;
    let min = -(1i128 << (bits - 1));
    if v < min || v > max {
        return Err(NumberFitError::OutOfRange);
    }
    // `to_decimal` writes an integer's shortest text, which is the one `i128` writes.
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn syntax() {
        for ok in ["0", "-0", "12", "-1.5", ".5", "5.", "1E+3", "1e-130", "12345678901234567890123456789012345678"] {
            assert!(is_dynamodb_number(ok), "{ok}");
        }
        for bad in ["", "-", ".", "1.2.3", "1E", "1E+", "abc", "1 ", "+1", "0x10", "NaN", "Infinity"] {
            assert!(!is_dynamodb_number(bad), "{bad}");
        }
    }

    #[test]
    fn decimal_keeps_every_digit() {
        assert_eq!(
            to_decimal("12345678901234567890123456789012345678", 38, 0).unwrap(),
            "12345678901234567890123456789012345678"
        );
        assert_eq!(to_decimal("-1.5E+3", 10, 2).unwrap(), "-1500.00");
        assert_eq!(to_decimal("0.000001", 10, 6).unwrap(), "0.000001");
        assert_eq!(to_decimal("0", 10, 2).unwrap(), "0.00");
        assert_eq!(to_decimal("1.25", 10, 1), Err(NumberFitError::TooManyFractionDigits { scale: 1 }));
        assert_eq!(to_decimal("1E+10", 10, 2), Err(NumberFitError::OutOfRange));
        assert_eq!(to_decimal("1.50", 10, 1).unwrap(), "1.5");
    }

    #[test]
    fn integers_fit_or_fail() {
        assert_eq!(to_integer("9223372036854775807", 64).unwrap(), "9223372036854775807");
        assert_eq!(to_integer("9223372036854775808", 64), Err(NumberFitError::OutOfRange));
        assert_eq!(to_integer("-2147483648", 32).unwrap(), "-2147483648");
        assert_eq!(to_integer("1.5", 64), Err(NumberFitError::TooManyFractionDigits { scale: 0 }));
        assert_eq!(to_integer("2E+3", 64).unwrap(), "2000");
    }

    proptest! {
        /// Whether the text comes back as it is or written out, it is the text the digit
        /// by digit rendering gives, and the same error.
        #[test]
        fn a_decimal_is_its_rendering(
            s in "-?[0-9]{0,40}|-?[0-9]{0,4}\\.?[0-9]{0,4}([eE][-+]?[0-9]{0,3})?",
            precision in 1u8..=38,
            scale in 0u8..=4,
        ) {
            let scale = scale.min(precision);
            let got = to_decimal(&s, precision, scale).map(Cow::into_owned);
            prop_assert_eq!(got, render_decimal(&s, precision, scale), "{}", s);
        }

        /// An integer's text is the one `i128` writes for the value the digits say.
        #[test]
        fn an_integer_is_written_as_i128_writes_it(s in "-?[0-9]{1,21}(\\.0{0,2})?", bits in prop_oneof![Just(32u32), Just(64)]) {
            let digits = s.split('.').next().unwrap_or_default();
            let value: i128 = digits.parse().unwrap();
            let fits = value >= -(1i128 << (bits - 1)) && value < (1i128 << (bits - 1));
            match to_integer(&s, bits) {
                Ok(text) => prop_assert!(fits && text == value.to_string(), "{} gave {}", s, text),
                Err(e) => prop_assert!(!fits && e == NumberFitError::OutOfRange, "{} gave {}", s, e),
            }
        }

        /// The syntax check accepts exactly the texts the parser reads: number-like texts
        /// with their pieces in any order, repeated or missing.
        #[test]
        fn the_check_accepts_what_the_parser_reads(s in "[-+0-9.eE]{0,12}|-?[0-9]{0,4}\\.?[0-9]{0,4}([eE][-+]?[0-9]{0,8})?") {
            prop_assert_eq!(is_dynamodb_number(&s), parse(&s).is_some(), "{}", s);
        }

        #[test]
        fn integers_round_trip(v in any::<i64>()) {
            let text = v.to_string();
            prop_assert_eq!(to_integer(&text, 64).unwrap(), text.as_str());
        }

        #[test]
        fn decimals_round_trip(int in "-?[1-9][0-9]{0,27}", frac in "[0-9]{0,10}") {
            let text = if frac.is_empty() { int.clone() } else { format!("{int}.{frac}") };
            let padded = format!("{int}.{frac:0<10}");
            prop_assert_eq!(to_decimal(&text, 38, 10).unwrap(), padded);
        }
    }
}
