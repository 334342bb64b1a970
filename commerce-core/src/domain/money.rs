//! Money as integer minor units, never floating point; decimal strings only at the edges.

use std::fmt;
use std::str::FromStr;

/// An ISO 4217 currency and the number of decimals its minor unit has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

impl Currency {
    /// United States dollar.
    pub const USD: Currency = Currency::known(*b"USD", 2);
    /// Euro.
    pub const EUR: Currency = Currency::known(*b"EUR", 2);

    const fn known(code: [u8; 3], exponent: u8) -> Self {
        Self { code, exponent }
    }

    /// The currency for an ISO 4217 code such as `"EUR"`.
    ///
    /// Codes of currencies without a minor unit (JPY, KRW, …) or with three decimals (BHD, KWD,
    /// …) get their exponent; any other well-formed code is taken to have two decimals, which is
    /// true of nearly all of them.
    pub fn from_code(code: &str) -> Result<Self, MoneyError> {
        let bytes: [u8; 3] = code
            .as_bytes()
            .try_into()
            .map_err(|_| MoneyError::UnknownCurrency(code.to_owned()))?;
        if !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(MoneyError::UnknownCurrency(code.to_owned()));
        }
        let exponent = match code {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        };
        Ok(Self::known(bytes, exponent))
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // Only ever built from three ASCII uppercase letters.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// How many decimals the minor unit has: 2 for cents.
    pub fn exponent(&self) -> u8 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::from_code(code)
    }
}

/// Why an amount or currency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// Not a three-letter uppercase ISO 4217 code.
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    /// Not a decimal number such as "1500.00".
    #[error("enter a decimal number such as \"1500.00\"")]
    NotADecimal,
    /// More decimals than the currency's minor unit allows.
    #[error("ensure that there are no more than {0} decimal places")]
    TooManyDecimals(u8),
    /// Outside the range the shop can represent.
    #[error("amount is too large")]
    OutOfRange,
    /// Amounts of two currencies were combined.
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
}

/// An amount of money: an integer count of the currency's minor unit (cents for USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// An amount of `minor` units (cents for USD).
    pub const fn from_minor(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self::from_minor(0, currency)
    }

    /// Parses a decimal string such as `"1500.00"`, `"1500.5"` or `"1500"`.
    ///
    /// Refuses exponents, signs other than a leading minus, separators, and more decimals than
    /// the currency has: `"1.005"` is an error for USD rather than a silently rounded price.
    pub fn from_decimal_str(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = match digits.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (digits, ""),
        };
        let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !is_digits(whole) || !is_digits(fraction) {
            return Err(MoneyError::NotADecimal);
        }
        if digits.ends_with('.') {
            return Err(MoneyError::NotADecimal);
        }
        let exponent = currency.exponent;
        if fraction.len() > usize::from(exponent) {
            return Err(MoneyError::TooManyDecimals(exponent));
        }
        let scale = 10i64.pow(u32::from(exponent));
        let whole: i64 = whole.parse().map_err(|_| MoneyError::OutOfRange)?;
        let fraction_value: i64 = if fraction.is_empty() {
            0
        } else {
            let padding = 10i64.pow(u32::from(exponent) - fraction.len() as u32);
            fraction
                .parse::<i64>()
                .map_err(|_| MoneyError::NotADecimal)?
                * padding
        };
        let minor = whole
            .checked_mul(scale)
            .and_then(|m| m.checked_add(fraction_value))
            .ok_or(MoneyError::OutOfRange)?;
        Ok(Self::from_minor(
            if negative { -minor } else { minor },
            currency,
        ))
    }

    /// The amount in minor units.
    pub const fn minor(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// The sum, or an error when the currencies differ or the sum overflows.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::OutOfRange)?;
        Ok(Self::from_minor(minor, self.currency))
    }

    /// This amount times a quantity, or an error on overflow.
    pub fn checked_mul(self, quantity: i64) -> Result<Money, MoneyError> {
        let minor = self
            .minor
            .checked_mul(quantity)
            .ok_or(MoneyError::OutOfRange)?;
        Ok(Self::from_minor(minor, self.currency))
    }
}

/// The decimal string the API shows: `"1500.00"`, with exactly the currency's decimals.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = u32::from(self.currency.exponent);
        let sign = if self.minor < 0 { "-" } else { "" };
        let magnitude = self.minor.unsigned_abs();
        if exponent == 0 {
            return write!(f, "{sign}{magnitude}");
        }
        let scale = 10u64.pow(exponent);
        write!(
            f,
            "{sign}{}.{:0width$}",
            magnitude / scale,
            magnitude % scale,
            width = exponent as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(text: &str) -> Result<i64, MoneyError> {
        Money::from_decimal_str(text, Currency::USD).map(|m| m.minor())
    }

    #[test]
    fn parses_decimal_strings_into_minor_units() {
        assert_eq!(usd("1500.00"), Ok(150_000));
        assert_eq!(usd("1500"), Ok(150_000));
        assert_eq!(usd("0.5"), Ok(50));
        assert_eq!(usd("0.05"), Ok(5));
        assert_eq!(usd("-2.10"), Ok(-210));
    }

    #[test]
    fn refuses_what_is_not_a_plain_decimal() {
        for text in [
            "", ".", "1.", ".5", "1e3", "+1", "1,00", " 1", "1.2.3", "--1", "abc",
        ] {
            assert_eq!(usd(text), Err(MoneyError::NotADecimal), "{text:?}");
        }
        assert_eq!(usd("1.005"), Err(MoneyError::TooManyDecimals(2)));
        assert_eq!(usd("99999999999999999999"), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn displays_with_the_currency_decimals() {
        assert_eq!(
            Money::from_minor(150_000, Currency::USD).to_string(),
            "1500.00"
        );
        assert_eq!(Money::from_minor(5, Currency::USD).to_string(), "0.05");
        assert_eq!(Money::from_minor(-5, Currency::USD).to_string(), "-0.05");
        let yen = Currency::from_code("JPY").unwrap_or(Currency::USD);
        assert_eq!(Money::from_minor(1500, yen).to_string(), "1500");
        let dinar = Currency::from_code("KWD").unwrap_or(Currency::USD);
        assert_eq!(Money::from_minor(1500, dinar).to_string(), "1.500");
    }

    #[test]
    fn display_and_parse_round_trip() {
        for minor in [0, 1, 9, 10, 99, 100, 12_345, -7, i64::MAX, i64::MIN + 1] {
            let money = Money::from_minor(minor, Currency::EUR);
            let parsed = Money::from_decimal_str(&money.to_string(), Currency::EUR);
            assert_eq!(parsed, Ok(money));
        }
    }

    #[test]
    fn arithmetic_checks_currency_and_overflow() {
        let a = Money::from_minor(100, Currency::USD);
        let b = Money::from_minor(100, Currency::EUR);
        assert!(matches!(
            a.checked_add(b),
            Err(MoneyError::CurrencyMismatch(..))
        ));
        assert_eq!(a.checked_mul(3).map(|m| m.minor()), Ok(300));
        assert_eq!(a.checked_mul(i64::MAX), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn currency_codes() {
        assert!(Currency::from_code("usd").is_err());
        assert!(Currency::from_code("US").is_err());
        assert_eq!(Currency::from_code("GBP").map(|c| c.exponent()), Ok(2));
    }
}
