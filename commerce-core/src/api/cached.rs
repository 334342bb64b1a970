//! Responses served from pre-serialised bytes, with entity tags and conditional GETs.
//!
//! Catalogue responses are cached as the bytes sent, so a hit costs no serialisation; the spec
//! still describes their schema through [`JsonBytes`].

use std::marker::PhantomData;

use bytes::Bytes;
use poem::http::HeaderMap;
use poem::http::header::IF_MATCH;
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::services::CachedResponse;

/// A JSON body already serialised, documented as `T`.
pub struct JsonBytes<T>(Bytes, PhantomData<fn() -> T>);

impl<T> JsonBytes<T> {
    /// Bytes holding a serialised `T`.
    pub fn new(bytes: Bytes) -> Self {
        Self(bytes, PhantomData)
    }
}

impl<T: Serialize> JsonBytes<T> {
    /// Serialises `value`.
    pub fn of(value: &T) -> Result<Self> {
        to_bytes(value).map(Self::new)
    }
}

/// Serialises a response body.
pub fn to_bytes<T: Serialize>(value: &T) -> Result<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| Error::backend("json", e))
}

impl<T: Type> Payload for JsonBytes<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for JsonBytes<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(self.0)
    }
}

/// `Cache-Control` of responses anyone may see: caches may keep them but must revalidate, so a
/// price change is never served stale; revalidation is a cheap 304.
pub const PUBLIC: &str = "public, no-cache";
/// `Cache-Control` of responses that depend on who asks (staff see inactive products).
pub const PRIVATE: &str = "private, no-cache";

/// A readable resource: its body with an entity tag, or 304 when the client's copy is current.
#[derive(ApiResponse)]
pub enum Cached<T: Type + Send> {
    /// The resource.
    #[oai(status = 200)]
    Ok(
        JsonBytes<T>,
        /// A strong validator for `If-None-Match`.
        #[oai(header = "ETag")]
        String,
        /// How caches may keep it.
        #[oai(header = "Cache-Control")]
        String,
        /// Staff credentials change the answer.
        #[oai(header = "Vary")]
        String,
    ),
    /// The copy the client holds (its `If-None-Match`) is current.
    #[oai(status = 304)]
    NotModified(
        /// The current entity tag.
        #[oai(header = "ETag")]
        String,
        /// How caches may keep it.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

impl<T: Type + Send> Cached<T> {
    /// Answers `response`, or 304 if `if_none_match` names its entity tag.
    pub fn respond(response: CachedResponse, if_none_match: Option<&str>, public: bool) -> Self {
        let cache_control = if public { PUBLIC } else { PRIVATE }.to_owned();
        let etag = response.etag.to_string();
        if if_none_match.is_some_and(|header| matches_etag(header, &etag)) {
            return Self::NotModified(etag, cache_control);
        }
        Self::Ok(
            JsonBytes::new(response.body),
            etag,
            cache_control,
            "Authorization".to_owned(),
        )
    }
}

/// Whether an `If-None-Match` header (a list of tags, possibly weak, or `*`) names `etag`.
fn matches_etag(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// What an `If-Match` request header asks of the resource a change is made to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IfMatch {
    /// `*`: only that the resource exists, which every change checks anyway.
    Exists,
    /// That it is still the version one of these entity tags names.
    Version(Vec<String>),
}

impl IfMatch {
    /// The condition the `If-Match` lines among `headers` state; `None` when there are none.
    ///
    /// Every line is read, since a client or proxy may split the list, and read here rather
    /// than by poem-openapi, which drops a line that is not visible ASCII: a header dropped
    /// would make a conditional change unconditional. A header that is neither `*` nor a list
    /// of entity tags is a validation error on `If-Match`.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Option<Self>> {
        let mut lines = headers.get_all(IF_MATCH).iter().peekable();
        if lines.peek().is_none() {
            return Ok(None);
        }
        let mut tags = Vec::new();
        for line in lines {
            // Bytes past ASCII may stand inside a tag (RFC 9110's obs-text); such a tag is
            // never one of ours, so it is kept only to name no current version.
            let line = String::from_utf8_lossy(line.as_bytes());
            tags.extend(entity_tags(&line).ok_or_else(|| {
                Error::invalid(
                    "If-Match",
                    "expected `*` or a list of entity tags such as \"a1b2\"",
                )
            })?);
        }
        match tags.as_slice() {
            [] => Err(Error::invalid("If-Match", "names no entity tag")),
            [only] if only == "*" => Ok(Some(Self::Exists)),
            several if several.iter().any(|tag| tag == "*") => Err(Error::invalid(
                "If-Match",
                "`*` cannot be listed with entity tags",
            )),
            _ => Ok(Some(Self::Version(tags))),
        }
    }

    /// Whether the version whose body is `body` is one the header names. Comparison is strong,
    /// as RFC 9110 wants for `If-Match`: a weak tag names nothing.
    pub(crate) fn names(&self, body: Bytes) -> bool {
        match self {
            Self::Exists => true,
            Self::Version(tags) => {
                let etag = CachedResponse::new(body).etag;
                tags.iter().any(|tag| **tag == *etag)
            }
        }
    }
}

/// The members of one line of an `If-Match` list, as sent: `*`, `"…"` or `W/"…"`, separated by
/// commas (empty members allowed, as RFC 9110's list rule has it); `None` when the line holds
/// anything else. A quoted tag may itself hold commas, so the line is scanned, not split.
fn entity_tags(line: &str) -> Option<Vec<String>> {
    let mut tags = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Some(tags);
        }
        let length = if rest.starts_with('*') {
            1
        } else {
            let weak = if rest.starts_with("W/") { 2 } else { 0 };
            let opaque = rest[weak..].strip_prefix('"')?;
            let end = opaque.find('"')?;
            // RFC 9110's etagc: visible ASCII but the quote, or obs-text (as decoded here).
            if !opaque[..end]
                .chars()
                .all(|c| c.is_ascii_graphic() || !c.is_ascii())
            {
                return None;
            }
            weak + end + 2
        };
        tags.push(rest[..length].to_owned());
        rest = rest[length..].trim_start_matches([' ', '\t']);
        if !(rest.is_empty() || rest.starts_with(',')) {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use poem::http::HeaderValue;

    use super::*;

    #[test]
    fn if_none_match_lists() {
        assert!(matches_etag("\"abc\"", "\"abc\""));
        assert!(matches_etag("\"x\", W/\"abc\"", "\"abc\""));
        assert!(matches_etag("*", "\"abc\""));
        assert!(!matches_etag("\"abd\"", "\"abc\""));
    }

    fn if_match(lines: &[&str]) -> Result<Option<IfMatch>> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(IF_MATCH, HeaderValue::from_bytes(line.as_bytes()).unwrap());
        }
        IfMatch::from_headers(&headers)
    }

    #[test]
    fn if_match_names_versions_strongly_over_every_line() {
        let body = Bytes::from_static(b"{}");
        let etag = CachedResponse::new(body.clone()).etag.to_string();
        assert_eq!(if_match(&[]).unwrap(), None);
        assert_eq!(if_match(&[" * "]).unwrap(), Some(IfMatch::Exists));
        let names = |lines: &[&str]| {
            if_match(lines)
                .unwrap()
                .is_some_and(|condition| condition.names(body.clone()))
        };
        assert!(names(&[&etag]));
        assert!(names(&[&format!("\"x\", {etag}")]));
        assert!(names(&[&format!(",\"x\" ,, {etag},")]));
        assert!(names(&["\"x\"", &etag]));
        assert!(!names(&[&format!("W/{etag}")]));
        assert!(!names(&["\"a,b\""]), "a comma inside a tag is part of it");
        assert!(
            !names(&["\"caf\u{e9}\""]),
            "a tag past ASCII names no version of ours"
        );
    }

    #[test]
    fn if_match_that_is_not_a_list_of_tags_is_refused() {
        for lines in [
            &[""][..],
            &[" , "],
            &["abc"],
            &["\"abc"],
            &["\"a\" \"b\""],
            &["\"a b\""],
            &["\"x\", *"],
            &["*", "\"x\""],
        ] {
            assert!(
                matches!(if_match(lines), Err(Error::Validation(_))),
                "{lines:?}"
            );
        }
    }
}
