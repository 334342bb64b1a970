//! Product search inside the PostgreSQL database: the second search backend, chosen by
//! `SEARCH_BACKEND=postgres`, for deployments that would rather not keep an index directory
//! on every instance.
//!
//! There is no separate index. Each product row carries a weighted `tsvector` (name A,
//! category name B, description C) that triggers keep current in the same transaction as the
//! write, a category rename included (`migrations/postgres/0003_catalog.sql`), with a GIN
//! index over it. So this index is always exactly as current as the catalogue: it reports the
//! change log's head as its position, and the core indexer's batches and rebuilds have
//! nothing to do here (see `apply` and `clear` below). It needs the catalogue itself in the
//! same database, which is why the plugin connects to `DATABASE_URL`.
//!
//! This module reads; it must never write the catalogue tables.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use commerce_core::config::Config;
use commerce_core::domain::ProductId;
use commerce_core::plugin::{PluginFactory, Role};
use commerce_core::ports::{IndexBatch, ReadinessCheck, SearchHits, SearchIndex, SearchQuery};
use commerce_core::{Error, Plugin, Result, ShopBuilder};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Pool, Postgres, QueryBuilder};

use super::catalog::{latest_change, order_by, push_filter, push_page};
use super::{PostgresDatabase, PostgresSettings, db_error};

const NAME: &str = "postgres-search";
/// Whitespace-separated words past this many are ignored, as by the tantivy index: a pasted
/// paragraph should not cost a query of hundreds of terms.
const MAX_WORDS: usize = 32;
/// Longer "words" are dropped: no product name has them, and PostgreSQL ignores (with a
/// notice) words over 2047 bytes anyway.
const MAX_WORD_CHARS: usize = 100;
/// Connections of the search pool: a search holds two at once (count and page in parallel).
const POOL_CONNECTIONS: u32 = 4;

/// Product search over the catalogue tables of a PostgreSQL database.
///
/// Cheap to clone; clones share one connection pool.
#[derive(Clone, Debug)]
pub struct PostgresSearch {
    pool: Pool<Postgres>,
}

impl PostgresSearch {
    /// Searches the database that `pool` connects to, which must hold the catalogue and be
    /// migrated: for embedders sharing the pool of a [`PostgresDatabase`].
    pub fn new(pool: Pool<Postgres>) -> Self {
        Self { pool }
    }

    /// Connects a pool of its own to the database at `url`; errors as
    /// [`PostgresDatabase::connect`].
    pub async fn connect(url: &str, settings: PostgresSettings) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| Error::invalid("DATABASE_URL", e.to_string()))?;
        Self::connect_with(options, settings).await
    }

    /// Connects with options built in code, as [`PostgresDatabase::connect_with`].
    pub async fn connect_with(
        options: PgConnectOptions,
        settings: PostgresSettings,
    ) -> Result<Self> {
        // The same pool set-up (application name, statement timeout) as the store's.
        let database = PostgresDatabase::connect_with(options, settings).await?;
        Ok(Self::new(database.pool().clone()))
    }

    async fn count(&self, query: &SearchQuery, text: &TextQuery) -> Result<u64> {
        let mut sql = QueryBuilder::<Postgres>::new("SELECT count(*) FROM products p");
        push_filter(&mut sql, &query.filter);
        push_match(&mut sql, text);
        let total: i64 = sql
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(u64::try_from(total).unwrap_or(0))
    }

    async fn page(&self, query: &SearchQuery, text: &TextQuery) -> Result<Vec<ProductId>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let mut sql = QueryBuilder::<Postgres>::new("SELECT p.id FROM products p");
        push_filter(&mut sql, &query.filter);
        push_match(&mut sql, text);
        match (query.ordering, text) {
            (Some(ordering), _) => {
                sql.push(order_by(ordering));
            }
            (None, TextQuery::Words { .. }) => {
                // ts_rank applies the default weights {D 0.1, C 0.2, B 0.4, A 1.0}: a name
                // match outranks a category match outranks a description match.
                sql.push(" ORDER BY ts_rank(p.search_vector, ");
                push_tsquery(&mut sql, text);
                sql.push(") DESC, p.id ASC");
            }
            // Without words every product is equally relevant: relevance order is id order.
            (None, _) => {
                sql.push(" ORDER BY p.id ASC");
            }
        }
        push_page(&mut sql, query.offset, query.limit);
        let ids: Vec<i64> = sql
            .build_query_scalar()
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(ids.into_iter().map(ProductId).collect())
    }
}

#[async_trait]
impl SearchIndex for PostgresSearch {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Matches with `websearch_to_tsquery` (quoted phrases, `-word` to exclude, `or`), the
    /// last word also as a prefix (see `TextQuery` in the source). The page and the exact total are two
    /// queries run at once on two connections, so a search waits for the slower, not both.
    async fn search(&self, query: &SearchQuery) -> Result<SearchHits> {
        let text = TextQuery::parse(&query.text);
        if text == TextQuery::Nothing {
            return Ok(SearchHits::default());
        }
        let (total, ids) = tokio::try_join!(self.count(query, &text), self.page(query, &text))?;
        Ok(SearchHits { ids, total })
    }

    /// The change log's head: the vectors are written in the transaction of each product
    /// write, so every committed change is already searchable. The core indexer then finds
    /// nothing to catch up on and never rebuilds (its rebuild would only read every product
    /// to apply nothing).
    async fn applied_through(&self) -> Result<Option<u64>> {
        latest_change(&self.pool).await.map(Some)
    }

    /// Does nothing: the batch's documents are the rows the triggers have indexed already.
    /// Writing them would be a second, racing copy of the catalogue's own writes.
    async fn apply(&self, _batch: IndexBatch) -> Result<()> {
        Ok(())
    }

    /// Does nothing: the index is the products table; emptying it would mean deleting the
    /// catalogue. There is no position to forget either, as it is read from the change log.
    async fn clear(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl ReadinessCheck for PostgresSearch {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn check(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(db_error)
    }
}

/// What a shopper's text asks for, decided here so that the SQL only ever sees it as bound
/// values of two functions that accept anything.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TextQuery {
    /// Blank: every product the filter lets through.
    Everything,
    /// Only punctuation: nothing to look for, so nothing found (as in the tantivy index).
    Nothing,
    /// Words to match.
    Words {
        /// Given to `websearch_to_tsquery`, which parses any text without failing: quoted
        /// phrases, `-word` exclusions and `or` mean what they do in a web search engine.
        websearch: String,
        /// The last word, letters and digits only, to match as a prefix too (search as you
        /// type): the same word inside the websearch query is replaced with `word:*` by
        /// `ts_rewrite`, so it keeps its place in a phrase or an `or`.
        prefix: Option<String>,
    },
}

/// A character the text search parser takes as part of a word, and which has no meaning in
/// `to_tsquery` syntax: only these go into the prefix term.
fn is_word_char(c: char) -> bool {
    c.is_alphabetic() || c.is_ascii_digit()
}

impl TextQuery {
    fn parse(text: &str) -> Self {
        let mut words: Vec<&str> = text
            .split_whitespace()
            .filter(|word| word.chars().count() <= MAX_WORD_CHARS)
            .take(MAX_WORDS)
            .collect();
        let Some(&last) = words.last() else {
            return if text.trim().is_empty() {
                Self::Everything
            } else {
                // Only overlong words.
                Self::Nothing
            };
        };
        if !words.iter().any(|word| word.chars().any(is_word_char)) {
            return Self::Nothing;
        }
        let earlier = &words[..words.len() - 1];
        let positive_before = earlier
            .iter()
            .any(|word| !word.starts_with('-') && word.chars().any(is_word_char));
        let quotes = words.iter().map(|w| w.matches('"').count()).sum::<usize>();
        // "headphones -wired": an exclusion, finished; a prefix would include, not exclude.
        let excluded = last.starts_with('-') && positive_before;
        // "\"noise cancelling\"": a closed phrase, finished by the closing quote.
        let closed_phrase = last.ends_with('"') && quotes % 2 == 0;
        if excluded || closed_phrase {
            return Self::Words {
                websearch: words.join(" "),
                prefix: None,
            };
        }
        // "-knife" alone would find everything but knives, which is not what anyone typing it
        // wants: it is taken as "knife". A leading dash excludes only after a word that
        // includes something.
        let trimmed = last.trim_start_matches('-');
        let prefix = last_run(trimmed).map(str::to_owned);
        if let Some(slot) = words.last_mut() {
            *slot = trimmed;
        }
        Self::Words {
            websearch: words.join(" "),
            prefix,
        }
    }
}

/// The last run of word characters in `word`: `knife` in `(knife)`, `2` in `knife~2`.
fn last_run(word: &str) -> Option<&str> {
    let end = word
        .char_indices()
        .rev()
        .find(|&(_, c)| is_word_char(c))
        .map(|(i, c)| i + c.len_utf8())?;
    let start = word[..end]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_word_char(c))
        .last()
        .map_or(0, |(i, _)| i);
    Some(&word[start..end])
}

/// ` AND p.search_vector @@ <query>` when there are words to match.
fn push_match(sql: &mut QueryBuilder<Postgres>, text: &TextQuery) {
    if let TextQuery::Words { .. } = text {
        sql.push(" AND p.search_vector @@ ");
        push_tsquery(sql, text);
    }
}

/// The tsquery of the words, from bound values only. The prefix is letters and digits, so
/// `to_tsquery` reads it as one term whatever was typed around it.
fn push_tsquery(sql: &mut QueryBuilder<Postgres>, text: &TextQuery) {
    let TextQuery::Words { websearch, prefix } = text else {
        return;
    };
    match prefix {
        Some(prefix) => {
            sql.push("ts_rewrite(websearch_to_tsquery('simple', ")
                .push_bind(websearch.clone())
                .push("), to_tsquery('simple', ")
                .push_bind(prefix.clone())
                .push("), to_tsquery('simple', ")
                .push_bind(format!("{prefix}:*"))
                .push("))");
        }
        None => {
            sql.push("websearch_to_tsquery('simple', ")
                .push_bind(websearch.clone())
                .push(")");
        }
    }
}

/// Provides a [`PostgresSearch`] over the shop's PostgreSQL database, and a readiness check.
#[derive(Debug, Clone)]
pub struct PostgresSearchPlugin {
    url: String,
    settings: PostgresSettings,
}

impl PostgresSearchPlugin {
    /// Searches the database at `url`, the shop's `DATABASE_URL`, with a pool of four
    /// connections.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            settings: PostgresSettings {
                max_connections: POOL_CONNECTIONS,
                ..PostgresSettings::default()
            },
        }
    }

    /// Sets how the search pool uses its connections.
    pub fn settings(mut self, settings: PostgresSettings) -> Self {
        self.settings = settings;
        self
    }
}

#[async_trait]
impl Plugin for PostgresSearchPlugin {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Connects its pool. The tables come from the database plugin's migrations, which run
    /// first: the search role is built after the database role.
    async fn build(&self, shop: &mut ShopBuilder) -> Result<()> {
        let search = Arc::new(PostgresSearch::connect(&self.url, self.settings).await?);
        shop.provide_search_index(search.clone());
        shop.add_readiness_check(search);
        Ok(())
    }
}

/// The search role's URL is `postgres://SEARCH_INDEX_PATH`, which names no database: the
/// index is the catalogue, so the plugin searches the one at `DATABASE_URL`, and refuses to
/// start when that is not PostgreSQL.
fn create(_url: &str, config: &Config) -> Result<Box<dyn Plugin>> {
    let scheme = config
        .database_url
        .split_once("://")
        .map_or("", |(scheme, _)| scheme);
    if !matches!(scheme, "postgres" | "postgresql") {
        return Err(Error::invalid(
            "SEARCH_BACKEND",
            "the postgres search backend searches the catalogue in the database, so \
             DATABASE_URL must be a postgres:// URL",
        ));
    }
    Ok(Box::new(
        PostgresSearchPlugin::new(&config.database_url).settings(PostgresSettings {
            max_connections: POOL_CONNECTIONS,
            statement_timeout: config.database_statement_timeout,
            ..PostgresSettings::default()
        }),
    ))
}

commerce_core::inventory::submit! {
    PluginFactory { name: NAME, role: Role::Search, schemes: &["postgres"], create }
}

#[cfg(test)]
mod tests {
    use super::TextQuery;

    fn words(websearch: &str, prefix: Option<&str>) -> TextQuery {
        TextQuery::Words {
            websearch: websearch.into(),
            prefix: prefix.map(Into::into),
        }
    }

    #[test]
    fn the_last_word_is_a_prefix_unless_finished() {
        assert_eq!(TextQuery::parse(""), TextQuery::Everything);
        assert_eq!(TextQuery::parse(" \t\n"), TextQuery::Everything);
        assert_eq!(TextQuery::parse("--  \\ ☃"), TextQuery::Nothing);
        assert_eq!(TextQuery::parse("headph"), words("headph", Some("headph")));
        assert_eq!(
            TextQuery::parse("  wireless   headph "),
            words("wireless headph", Some("headph"))
        );
        assert_eq!(TextQuery::parse("-knife"), words("knife", Some("knife")));
        assert_eq!(TextQuery::parse("(knife)"), words("(knife)", Some("knife")));
        assert_eq!(TextQuery::parse("(knife"), words("(knife", Some("knife")));
        assert_eq!(TextQuery::parse("chef -knife"), words("chef -knife", None));
        assert_eq!(
            TextQuery::parse("\"noise cancelling\""),
            words("\"noise cancelling\"", None)
        );
        assert_eq!(
            TextQuery::parse("\"noise canc"),
            words("\"noise canc", Some("canc"))
        );
        assert_eq!(TextQuery::parse("knife~2"), words("knife~2", Some("2")));
        assert_eq!(TextQuery::parse("x²"), words("x²", Some("x")));
        assert_eq!(
            TextQuery::parse("Headph,"),
            words("Headph,", Some("Headph"))
        );
        assert_eq!(TextQuery::parse("中文"), words("中文", Some("中文")));
        assert_eq!(TextQuery::parse("' OR 1=1 --"), words("' OR 1=1 --", None));
    }

    #[test]
    fn long_input_is_cut() {
        let long = "a ".repeat(100);
        let TextQuery::Words { websearch, .. } = TextQuery::parse(&long) else {
            panic!("words expected");
        };
        assert_eq!(websearch.split(' ').count(), super::MAX_WORDS);
        let overlong = "x".repeat(super::MAX_WORD_CHARS + 1);
        assert_eq!(TextQuery::parse(&overlong), TextQuery::Nothing);
        assert_eq!(
            TextQuery::parse(&format!("kettle {overlong}")),
            words("kettle", Some("kettle"))
        );
    }
}
