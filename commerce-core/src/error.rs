//! The errors of the core layers, by meaning.
//!
//! Ports and services speak only this type; each backend converts its private errors into it
//! (a unique-constraint violation becomes [`Error::AlreadyExists`], a lost connection
//! [`Error::Unavailable`]). The HTTP layer maps each variant to one status code and never sends
//! a backend's own message to a client.

use std::collections::BTreeMap;
use std::fmt;

/// Any error a backend may carry as its cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of ports and services.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, by meaning rather than by source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input breaks a rule; each field names what is wrong with it.
    #[error("invalid input: {0}")]
    Validation(FieldErrors),
    /// The thing asked for does not exist (or the caller may not know that it does).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A page past the last of a list (page 1 of an empty list exists). The old shop's
    /// pagination answered these with 404, and so does the API.
    #[error("invalid page: the last page is {last_page}")]
    PageOutOfRange {
        /// The last page there is, at least 1.
        last_page: u64,
    },
    /// A value that must be unique is taken, e.g. a username.
    #[error("{field} already exists")]
    AlreadyExists {
        /// The field holding the taken value, as the API names it.
        field: &'static str,
        /// A message for the client.
        message: String,
    },
    /// The request conflicts with the current state of the resource.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The resource cannot be removed while others still depend on it.
    #[error("in use: {field}: {message}")]
    InUse {
        /// What still holds it, as the API names it (`products`, `subcategories`).
        field: &'static str,
        /// A message for the client, saying what to do first.
        message: String,
    },
    /// A change was made on condition that the thing named was as the client last saw it
    /// (`If-Match`), and it is not: someone else changed it since.
    #[error("{0} changed since it was read")]
    PreconditionFailed(&'static str),
    /// Some lines of a checkout cannot be bought: too few in stock, unavailable, or repriced.
    #[error("checkout refused: {} line(s) cannot be bought", .0.len())]
    StockShortage(Vec<crate::ports::CheckoutProblem>),
    /// The request is valid but cannot be processed as asked, e.g. an idempotency key reused
    /// for a different request.
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// No valid credentials were presented.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// The caller is known but may not do this.
    #[error("forbidden")]
    Forbidden,
    /// Too many attempts in a short time; the same request may succeed after `retry_after`.
    #[error("too many requests: retry in {}s", .retry_after.as_secs())]
    TooManyRequests {
        /// How long until the limit lets the request through again.
        retry_after: std::time::Duration,
    },
    /// A backend cannot be reached now; the same request may succeed later.
    #[error("{backend} is unavailable")]
    Unavailable {
        /// The backend that failed, e.g. "sqlite".
        backend: &'static str,
        /// Its own error, for the logs.
        #[source]
        source: BoxError,
    },
    /// A backend failed in a way a retry will not fix.
    #[error("{backend} failed")]
    Backend {
        /// The backend that failed, e.g. "sqlite".
        backend: &'static str,
        /// Its own error, for the logs.
        #[source]
        source: BoxError,
    },
}

/// Why a request that needs an account was refused when it named none: the old shop's words.
pub(crate) const NO_CREDENTIALS: &str = "authentication credentials were not provided";

impl Error {
    /// The answer to a page past the last of `total` items shown `page_size` a page.
    pub fn page_out_of_range(total: u64, page_size: u64) -> Self {
        Self::PageOutOfRange {
            last_page: total.div_ceil(page_size.max(1)).max(1),
        }
    }

    /// A validation error on one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        Self::Validation(errors)
    }

    /// A backend failure that a retry will not fix.
    pub fn backend(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            backend,
            source: source.into(),
        }
    }

    /// A backend that cannot be reached now.
    pub fn unavailable(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            backend,
            source: source.into(),
        }
    }

    /// False when doing the same again, unchanged, cannot succeed: input that breaks a rule or
    /// cannot be processed, and a backend failure that a retry will not fix (a mail server's
    /// permanent refusal, a constraint the database enforces). True for the rest, which
    /// depend on state that may change: an unavailable backend first of all.
    pub fn may_pass_on_retry(&self) -> bool {
        !matches!(
            self,
            Self::Validation(_) | Self::Unprocessable(_) | Self::Backend { .. }
        )
    }
}

impl Error {
    /// A copy of this error for a second receiver: the same variant and message, with any
    /// backend source reduced to its text.
    pub fn duplicate(&self) -> Self {
        match self {
            Self::Validation(fields) => Self::Validation(fields.clone()),
            Self::NotFound(what) => Self::NotFound(what),
            Self::PageOutOfRange { last_page } => Self::PageOutOfRange {
                last_page: *last_page,
            },
            Self::AlreadyExists { field, message } => Self::AlreadyExists {
                field,
                message: message.clone(),
            },
            Self::Conflict(detail) => Self::Conflict(detail.clone()),
            Self::InUse { field, message } => Self::InUse {
                field,
                message: message.clone(),
            },
            Self::PreconditionFailed(what) => Self::PreconditionFailed(what),
            Self::StockShortage(problems) => Self::StockShortage(problems.clone()),
            Self::Unprocessable(detail) => Self::Unprocessable(detail.clone()),
            Self::Unauthenticated(reason) => Self::Unauthenticated(reason),
            Self::Forbidden => Self::Forbidden,
            Self::TooManyRequests { retry_after } => Self::TooManyRequests {
                retry_after: *retry_after,
            },
            Self::Unavailable { backend, source } => Self::unavailable(backend, source.to_string()),
            Self::Backend { backend, source } => Self::backend(backend, source.to_string()),
        }
    }
}

/// Messages per field, in the shape clients of the old shop know: `{"field": ["message"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// Records one more message for `field`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    /// Keeps the value of a parse, or records its message under `field`.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    /// True when no field has a message.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when empty, else the validation error holding these messages.
    pub fn into_result(self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self))
        }
    }

    /// The messages, by field name.
    pub fn as_map(&self) -> &BTreeMap<String, Vec<String>> {
        &self.0
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            for message in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field}: {message}")?;
            }
        }
        Ok(())
    }
}
