//! Categories and products, and the rules for their fields.

use super::{CategoryId, Currency, Money, ProductId, Timestamp};

const NAME_MAX_CHARS: usize = 200;
const CATEGORY_NAME_MAX_CHARS: usize = 100;
const DESCRIPTION_MAX_CHARS: usize = 20_000;
const SLUG_MAX_CHARS: usize = 120;
const SKU_MAX_CHARS: usize = 64;
/// The most units of one product the shop tracks; far above any real stock.
pub const STOCK_MAX: i64 = 1_000_000_000;
/// The highest price accepted, in minor units: ten billion in a two-decimal currency.
pub const PRICE_MAX_MINOR: i64 = 1_000_000_000_000;
/// The most digits a price has before its decimal point in any currency: thirteen for the
/// highest price in one without a minor unit (JPY).
pub const PRICE_WHOLE_DIGITS_MAX: usize = 13;

/// A category of the catalogue, possibly inside another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Its id.
    pub id: CategoryId,
    /// Its name, unique regardless of case.
    pub name: String,
    /// Its URL name, unique.
    pub slug: String,
    /// Free text.
    pub description: String,
    /// The category it belongs to, if any.
    pub parent: Option<CategoryId>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A category's writable fields, already valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRecord {
    /// Its name.
    pub name: String,
    /// Its slug.
    pub slug: String,
    /// Its description.
    pub description: String,
    /// Its parent.
    pub parent: Option<CategoryId>,
}

/// A product for sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Its id.
    pub id: ProductId,
    /// Its name.
    pub name: String,
    /// Its URL name, unique.
    pub slug: String,
    /// Its stock-keeping unit, unique.
    pub sku: String,
    /// Free text.
    pub description: String,
    /// Its price in minor units of the shop's currency.
    pub price_minor: i64,
    /// Its category.
    pub category: CategoryId,
    /// Units in stock; never negative.
    pub stock: i64,
    /// Whether customers can see and buy it.
    pub is_active: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A product's writable fields, already valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRecord {
    /// Its name.
    pub name: String,
    /// Its slug.
    pub slug: String,
    /// Its SKU.
    pub sku: String,
    /// Its description.
    pub description: String,
    /// Its price in minor units.
    pub price_minor: i64,
    /// Its category.
    pub category: CategoryId,
    /// Units in stock.
    pub stock: i64,
    /// Whether customers can see and buy it.
    pub is_active: bool,
}

/// Checks a product or category name: not blank, not too long; returns it trimmed.
///
/// The length counts the text as sent, surrounding white space included: the spec's
/// `maxLength` can only speak of that, and the API refuses whatever the spec forbids.
pub fn parse_name(text: &str, max_chars: usize) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("this field may not be blank".into());
    }
    if text.chars().count() > max_chars {
        return Err(format!(
            "ensure this field has no more than {max_chars} characters"
        ));
    }
    Ok(trimmed.to_owned())
}

/// Checks a product name.
pub fn parse_product_name(text: &str) -> Result<String, String> {
    parse_name(text, NAME_MAX_CHARS)
}

/// Checks a category name.
pub fn parse_category_name(text: &str) -> Result<String, String> {
    parse_name(text, CATEGORY_NAME_MAX_CHARS)
}

/// A price in minor units of `currency` from its decimal string: non-negative, the currency's
/// decimals at most, [`PRICE_MAX_MINOR`] at most.
///
/// Nothing the spec's pattern forbids passes, whichever currency: no sign (`-0` included), no
/// white space, no more digits before the point than any currency's highest price has.
pub fn parse_price(text: &str, currency: Currency) -> Result<i64, String> {
    if text.starts_with('-') {
        return Err("ensure this value is greater than or equal to 0".into());
    }
    let whole = text.split_once('.').map_or(text, |(whole, _)| whole);
    // Anything but digits is left for the parser to call no decimal.
    if whole.len() > PRICE_WHOLE_DIGITS_MAX && whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "ensure that there are no more than {PRICE_WHOLE_DIGITS_MAX} digits before the \
             decimal point"
        ));
    }
    let money = Money::from_decimal_str(text, currency).map_err(|e| e.to_string())?;
    if money.minor() > PRICE_MAX_MINOR {
        return Err(format!(
            "ensure this value is less than or equal to {}",
            Money::from_minor(PRICE_MAX_MINOR, currency)
        ));
    }
    Ok(money.minor())
}

/// Checks a description: any text up to a generous length.
pub fn parse_description(text: &str) -> Result<String, String> {
    if text.chars().count() > DESCRIPTION_MAX_CHARS {
        return Err(format!(
            "ensure this field has no more than {DESCRIPTION_MAX_CHARS} characters"
        ));
    }
    Ok(text.to_owned())
}

/// Checks a slug: lowercase letters, digits and single hyphens, as `slugify` makes them.
pub fn parse_slug(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.chars().count() <= SLUG_MAX_CHARS
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-')
        && !text.contains("--");
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "enter a valid slug: 1–{SLUG_MAX_CHARS} lowercase letters, digits and single hyphens"
        ))
    }
}

/// The slug derived from a name: `"Café Crème 2"` becomes `"cafe-creme-2"`.
///
/// A name with nothing to transliterate (only symbols) gets `"item"`.
pub fn slugify(name: &str) -> String {
    let slug = slug::slugify(name);
    let slug: String = slug.chars().take(SLUG_MAX_CHARS - 8).collect();
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "item".to_owned()
    } else {
        slug.to_owned()
    }
}

/// Checks a SKU: 1–64 letters, digits, `.`, `_` and `-`.
pub fn parse_sku(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= SKU_MAX_CHARS
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "enter a valid SKU: 1–{SKU_MAX_CHARS} letters, digits, '.', '_' and '-'"
        ))
    }
}

/// A fresh SKU for a product created without one.
pub fn generate_sku() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    format!("SKU-{}", &id[..12])
}

/// Checks a stock level: a whole number from 0 up to [`STOCK_MAX`].
pub fn parse_stock(stock: i64) -> Result<i64, String> {
    if stock < 0 {
        Err("ensure this value is greater than or equal to 0".into())
    } else if stock > STOCK_MAX {
        Err(format!(
            "ensure this value is less than or equal to {STOCK_MAX}"
        ))
    } else {
        Ok(stock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_product_name("  Tea  "), Ok("Tea".into()));
        assert!(parse_product_name("   ").is_err());
        assert!(parse_product_name(&"x".repeat(201)).is_err());
        assert!(parse_product_name(&format!("{} ", "x".repeat(200))).is_err());
        assert!(parse_product_name(&"x".repeat(200)).is_ok());
    }

    #[test]
    fn prices_are_what_the_spec_pattern_allows_and_the_currency_takes() {
        let usd = Currency::USD;
        let jpy = Currency::from_code("JPY").unwrap();
        let kwd = Currency::from_code("KWD").unwrap();
        assert_eq!(parse_price("1500.5", usd), Ok(150_050));
        assert_eq!(parse_price("10000000000.00", usd), Ok(PRICE_MAX_MINOR));
        assert_eq!(parse_price("1000000000000", jpy), Ok(PRICE_MAX_MINOR));
        assert_eq!(parse_price("0000000000001", jpy), Ok(1));
        assert_eq!(parse_price("1.234", kwd), Ok(1234));
        let refused = |text: &str, currency| parse_price(text, currency).unwrap_err();
        assert!(refused("-0", usd).contains("greater than or equal to 0"));
        assert!(refused("00000000000001", jpy).contains("13 digits"));
        assert!(refused("10000000000.01", usd).contains("less than or equal to"));
        assert!(refused("1.234", usd).contains("decimal places"));
        assert!(refused("1.5", jpy).contains("decimal places"));
        // Not digits at all, however long: no decimal, not too many digits.
        for text in [
            "+12345678901234",
            "1,000,000,000,000",
            " 1.00",
            "1.",
            ".5",
            "",
            "1e3",
        ] {
            assert!(refused(text, usd).contains("decimal number"), "{text:?}");
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Café Crème 2"), "cafe-creme-2");
        assert_eq!(slugify("!!!"), "item");
        assert!(parse_slug("cafe-creme-2").is_ok());
        for bad in ["", "Cafe", "a--b", "-a", "a-", "a b", "ä"] {
            assert!(parse_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn skus() {
        assert!(parse_sku("ABC-123_x.y").is_ok());
        assert!(parse_sku("").is_err());
        assert!(parse_sku("has space").is_err());
        assert!(parse_sku(&generate_sku()).is_ok());
        assert_ne!(generate_sku(), generate_sku());
    }

    #[test]
    fn stock() {
        assert_eq!(parse_stock(0), Ok(0));
        assert!(parse_stock(-1).is_err());
        assert!(parse_stock(STOCK_MAX + 1).is_err());
    }
}
