//! Request field types that accept exactly what the spec says.

use std::borrow::Cow;
use std::marker::PhantomData;

use poem::http::HeaderValue;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToHeader, ToJSON, Type,
};
use serde_json::Value;

/// A JSON string and nothing else.
///
/// poem-openapi's `String` also accepts a JSON number or boolean and turns it into text, so a
/// body the spec forbids (`{"username": 5}`) would be served. This type refuses it with 400,
/// and refuses U+0000 too: PostgreSQL cannot store it, and no field of the shop needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StrictString(pub String);

impl StrictString {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl Type for StrictString {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for StrictString {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) if text.contains('\0') => Err(ParseError::custom(
                "text may not contain the NUL character (U+0000)",
            )),
            Some(Value::String(text)) => Ok(Self(text)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for StrictString {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// The constraints of one request field, as the spec states them.
///
/// The domain checks them (with a message per field in `errors`); a rule only makes the spec
/// say what those checks accept, so clients and schema-driven testers know without trying.
/// Keep each rule in step with the check it describes.
pub trait Rule: Send + Sync + 'static {
    /// The field's schema constraints, merged into the schema of the underlying type.
    fn constraints() -> MetaSchema;
}

/// A `T` whose constraints (`R`) are stated in the spec and checked by the domain.
///
/// Parsing accepts any `T`, so a value the rule excludes still reaches the service and is
/// refused there with a field error, not with a parser message.
pub struct Constrained<T, R> {
    value: T,
    rule: PhantomData<fn() -> R>,
}

impl<T, R> Constrained<T, R> {
    /// `value`, for a response whose schema states the rule's constraints.
    pub fn new(value: T) -> Self {
        Self {
            value,
            rule: PhantomData,
        }
    }

    /// The value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T: Clone, R> Clone for Constrained<T, R> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            rule: PhantomData,
        }
    }
}

impl<T: std::fmt::Debug, R> std::fmt::Debug for Constrained<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Type, R: Rule> Type for Constrained<T, R> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        let constraints = R::constraints();
        // `MetaSchema::merge` leaves these two out.
        let format = constraints.format;
        let enum_items = constraints.enum_items.clone();
        match T::schema_ref().merge(constraints) {
            MetaSchemaRef::Inline(mut schema) => {
                if format.is_some() {
                    schema.format = format;
                }
                if !enum_items.is_empty() {
                    schema.enum_items = enum_items;
                }
                MetaSchemaRef::Inline(schema)
            }
            reference => reference,
        }
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.value.as_raw_value()
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        self.value.raw_element_iter()
    }
}

impl<T: ParseFromJSON, R: Rule> ParseFromJSON for Constrained<T, R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        T::parse_from_json(value)
            .map(|value| Self {
                value,
                rule: PhantomData,
            })
            .map_err(ParseError::propagate)
    }
}

impl<T: ParseFromParameter, R: Rule> ParseFromParameter for Constrained<T, R> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        T::parse_from_parameter(value)
            .map(|value| Self {
                value,
                rule: PhantomData,
            })
            .map_err(ParseError::propagate)
    }
}

impl<T: ToJSON, R: Rule> ToJSON for Constrained<T, R> {
    fn to_json(&self) -> Option<Value> {
        self.value.to_json()
    }
}

impl<T: ToHeader, R: Rule> ToHeader for Constrained<T, R> {
    fn to_header(&self) -> Option<HeaderValue> {
        self.value.to_header()
    }
}

/// Text without U+0000, which [`StrictString`] refuses.
const NO_NUL: &str = r"^[^\u0000]*$";
/// Text with at least one character that is neither white space nor U+0000: names are trimmed
/// and may not be blank. White space is spelled out as Unicode's White_Space, which Rust's
/// `trim` removes: `\s` differs between regular expression dialects (U+0085, U+FEFF).
const NOT_BLANK: &str = concat!(
    r"^[^\u0000]*",
    r"[^\u0000\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"[^\u0000]*$"
);

fn text(min_length: Option<usize>, max_length: Option<usize>, pattern: &str) -> MetaSchema {
    MetaSchema {
        min_length,
        max_length,
        pattern: Some(pattern.to_owned()),
        ..MetaSchema::ANY
    }
}

fn range(minimum: Option<i64>, maximum: Option<i64>) -> MetaSchema {
    MetaSchema {
        minimum: minimum.map(|m| m as f64),
        maximum: maximum.map(|m| m as f64),
        ..MetaSchema::ANY
    }
}

/// Declares rules as unit types: `name => constraints,`.
macro_rules! rules {
    ($($(#[$doc:meta])* $name:ident => $constraints:expr,)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;

            impl Rule for $name {
                fn constraints() -> MetaSchema {
                    $constraints
                }
            }
        )*
    };
}

rules! {
    /// Free text: anything but U+0000.
    FreeText => text(None, None, NO_NUL),
    /// A category name (`domain::catalog::parse_category_name`).
    CategoryName => text(Some(1), Some(100), NOT_BLANK),
    /// A product name (`domain::catalog::parse_product_name`).
    ProductName => text(Some(1), Some(200), NOT_BLANK),
    /// A description (`domain::catalog::parse_description`).
    Description => text(None, Some(20_000), NO_NUL),
    /// A slug (`domain::catalog::parse_slug`).
    Slug => text(Some(1), Some(120), "^[a-z0-9]+(-[a-z0-9]+)*$"),
    /// A SKU (`domain::catalog::parse_sku`).
    Sku => text(Some(1), Some(64), "^[A-Za-z0-9._-]+$"),
    /// A price or price bound: a decimal string in the shop's currency
    /// (`CatalogService::parse_price`). The pattern is every currency's: up to thirteen digits
    /// before the point (the highest price in yen) and three after it (dinars); the shop's own
    /// currency allows fewer decimals and a lower maximum, told as field errors.
    Price => text(Some(1), Some(17), r"^[0-9]{1,13}(\.[0-9]{1,3})?$"),
    /// A username to register (`domain::user::Username::parse`).
    Username => text(Some(1), Some(150), r"^[\w.@+-]+$"),
    /// An e-mail address to register (`domain::user::Email::parse`).
    Email => MetaSchema {
        format: Some("email"),
        max_length: Some(254),
        ..MetaSchema::ANY
    },
    /// A new password (`domain::user::Password::parse`; it may be neither the username nor a
    /// commonly used password).
    NewPassword => text(Some(8), Some(128), NO_NUL),
    /// A checkout note (`services::orders`).
    Note => text(None, Some(2_000), NO_NUL),
    /// An idempotency key: 1–255 visible ASCII characters (`services::orders`).
    IdempotencyKey => text(Some(1), Some(255), "^[!-~]+$"),
    /// A product list ordering (`ports::ProductOrdering::ALL`), or empty for the default.
    ProductOrdering => MetaSchema {
        enum_items: std::iter::once("")
            .chain(crate::ports::ProductOrdering::ALL.iter().map(|(_, name)| *name))
            .map(|name| Value::String(name.to_owned()))
            .collect(),
        ..MetaSchema::ANY
    },
    /// Units in stock (`domain::catalog::parse_stock`).
    Stock => range(Some(0), Some(crate::domain::catalog::STOCK_MAX)),
    /// Units of a product in a cart (`services::cart`).
    Quantity => range(Some(1), Some(crate::domain::orders::QUANTITY_MAX)),
    /// A 1-based page number. The bound keeps clients within 64 bits, signed or not.
    PageNumber => range(Some(1), Some(i64::MAX)),
    /// Items per page.
    PageSize => range(Some(1), Some(i64::from(crate::services::catalog::MAX_PAGE_SIZE))),
    /// A number of seconds: unsigned, which a format alone does not say to every client
    /// generator.
    Seconds => range(Some(0), None),
}

/// Request text that satisfies [`StrictString`] and whose constraints `R` the spec states.
pub type Text<R> = Constrained<StrictString, R>;

impl<R> Constrained<StrictString, R> {
    /// The text.
    pub fn as_str(&self) -> &str {
        self.value.as_str()
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.value.into_inner()
    }
}

impl<T: Copy, R> Constrained<T, R> {
    /// The value.
    pub fn get(&self) -> T {
        self.value
    }
}
