//! The Django REST Framework pagination envelope and its absolute page links.

use poem::Request;
use poem_openapi::Object;
use poem_openapi::types::{ParseFromJSON, ToJSON, Type};
use serde::Serialize;

/// One page of a list: `{"count", "next", "previous", "results"}`.
#[derive(Object, Serialize, Debug)]
#[oai(rename = "Page")]
pub struct Page<T: ParseFromJSON + ToJSON + Type + Send + Sync + Serialize> {
    /// How many items match in all.
    #[oai(validator(minimum(value = "0")))]
    pub count: u64,
    /// The absolute URL of the next page; null on the last.
    #[oai(nullable)]
    pub next: Option<String>,
    /// The absolute URL of the previous page; null on the first.
    #[oai(nullable)]
    pub previous: Option<String>,
    /// The items of this page.
    pub results: Vec<T>,
}

/// Where the client reached us: scheme and host, honouring a proxy's `X-Forwarded-*` headers
/// (Elastic Beanstalk's load balancer sets them).
pub fn origin(request: &Request) -> String {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let scheme = header("x-forwarded-proto").unwrap_or("http");
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// Builds the absolute page links of one list request; owned, so a cached load can use it.
#[derive(Debug, Clone)]
pub struct PageLinks {
    base: String,
    pairs: Vec<(String, String)>,
}

impl PageLinks {
    /// Links to other pages of the list `request` asked for: the same path (with the trailing
    /// slash the old shop's links had) and query, `page` replaced.
    pub fn new(request: &Request) -> Self {
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(request.uri().query().unwrap_or("")).unwrap_or_default();
        pairs.retain(|(name, _)| name != "page");
        let path = request.uri().path().trim_end_matches('/');
        Self {
            base: format!("{}{path}/", origin(request)),
            pairs,
        }
    }

    /// The URL of `page`.
    pub fn page(&self, page: u64) -> String {
        let mut pairs = self.pairs.clone();
        if page > 1 {
            pairs.push(("page".into(), page.to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        let separator = if query.is_empty() { "" } else { "?" };
        format!("{}{separator}{query}", self.base)
    }

    /// The `next` and `previous` links of `page` out of `total` items at `page_size` a page.
    pub fn around(
        &self,
        page: u64,
        page_size: u64,
        total: u64,
    ) -> (Option<String>, Option<String>) {
        let next = (page.saturating_mul(page_size) < total).then(|| self.page(page + 1));
        let previous = (page > 1).then(|| self.page(page - 1));
        (next, previous)
    }

    /// Identifies the list for a cache key: the responses embed these links.
    pub fn cache_key(&self) -> String {
        format!(
            "{}?{}",
            self.base,
            serde_urlencoded::to_string(&self.pairs).unwrap_or_default()
        )
    }
}
