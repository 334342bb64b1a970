//! Turning a [`SearchQuery`] into one tantivy search, and its results into ids.
//!
//! The shopper's text is never given to tantivy's query parser: its syntax (`"`, `-`, `:`,
//! `AND`, brackets) would make ordinary input fail or mean something else. The text is
//! analysed like the indexed text and every word becomes term queries built here, so any
//! input is valid and input that matches nothing simply finds nothing.
//!
//! Filters are term and term-set queries on indexed fields, and a range on the price column,
//! intersected with the text query: the engine leaps over what they exclude rather than
//! loading and checking documents. A yes/no filter that nearly every product passes (active,
//! in stock) excludes the few that fail instead, so it never leads the intersection. Every order, relevance included, is one top-k collector
//! whose key ends with the id, so ties break by id inside tantivy (ascending for relevance and
//! ascending orderings, descending for descending ones, as the catalogue store's lists do), and
//! the exact total comes from a `Count` in the same search.

use std::ops::{Bound, Range};

use commerce_core::domain::{CategoryId, ProductId};
use commerce_core::ports::{ProductFilter, ProductOrdering, SearchHits, SearchQuery};
use tantivy::collector::sort_key::{SortBySimilarityScore, SortByStaticFastValue, SortByString};
use tantivy::collector::{Count, SortKeyComputer, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhrasePrefixQuery, Query,
    RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Order, Searcher, Term};

use super::schema::{self, CREATED_AT, Fields, ID, NAME_SORT, PRICE, STOCK};

/// Weights of a word found in each text field: a name says most about a product.
const NAME_BOOST: f32 = 3.0;
const CATEGORY_NAME_BOOST: f32 = 2.0;
const DESCRIPTION_BOOST: f32 = 1.0;
/// How many indexed words the last, possibly unfinished, word may stand for in each field.
/// Bounds the cost of a one-letter prefix on a large index; the first words in dictionary
/// order win, which for search as you type is the closest completions.
const PREFIX_EXPANSIONS: u32 = 50;
/// Words past this many are ignored: a pasted paragraph should not cost hundreds of clauses.
const MAX_WORDS: usize = 32;

/// One page of the products matching `query`, and how many match.
pub(super) fn search(
    searcher: &Searcher,
    fields: &Fields,
    query: &SearchQuery,
) -> tantivy::Result<SearchHits> {
    let Some(matching) = matching(searcher, fields, query) else {
        return Ok(SearchHits::default());
    };
    let matching = matching.as_ref();
    let page = page_range(searcher.num_docs(), query.offset, query.limit);
    if page.is_empty() {
        let total = searcher.search(matching, &Count)?;
        return Ok(SearchHits {
            ids: Vec::new(),
            total: total as u64,
        });
    }
    match sort_key(query) {
        SortKey::Relevance => {
            sorted_page(searcher, matching, page, SortBySimilarityScore, Order::Asc)
        }
        SortKey::Name(order) => sorted_page(
            searcher,
            matching,
            page,
            (SortByString::for_field(NAME_SORT), order),
            order,
        ),
        SortKey::Column(column, order) => sorted_page(
            searcher,
            matching,
            page,
            by_fast::<i64>(column, order),
            order,
        ),
    }
}

/// What a page is ordered by before the id.
enum SortKey {
    Relevance,
    Name(Order),
    Column(&'static str, Order),
}

fn sort_key(query: &SearchQuery) -> SortKey {
    use ProductOrdering::*;
    use tantivy::Order::{Asc, Desc};
    match query.ordering {
        None if has_text(query) => SortKey::Relevance,
        // Without text every product is equally relevant: relevance order is id order.
        None => SortKey::Column(ID, Asc),
        Some(NameAscending) => SortKey::Name(Asc),
        Some(NameDescending) => SortKey::Name(Desc),
        Some(PriceAscending) => SortKey::Column(PRICE, Asc),
        Some(PriceDescending) => SortKey::Column(PRICE, Desc),
        Some(CreatedAscending) => SortKey::Column(CREATED_AT, Asc),
        Some(CreatedDescending) => SortKey::Column(CREATED_AT, Desc),
        Some(StockAscending) => SortKey::Column(STOCK, Asc),
        Some(StockDescending) => SortKey::Column(STOCK, Desc),
    }
}

fn has_text(query: &SearchQuery) -> bool {
    !query.text.trim().is_empty()
}

/// The documents a query selects; `None` when it can select none (an empty category list,
/// a minimum price above the maximum, text with no words in it).
fn matching(searcher: &Searcher, fields: &Fields, query: &SearchQuery) -> Option<Box<dyn Query>> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if has_text(query) {
        let words = schema::words(&query.text);
        let words = &words[..words.len().min(MAX_WORDS)];
        let Some((last, rest)) = words.split_last() else {
            // Only punctuation: nothing to look for, so nothing found.
            return None;
        };
        for word in rest {
            clauses.push((Occur::Must, word_query(fields, word, false)));
        }
        clauses.push((Occur::Must, word_query(fields, last, true)));
    }
    for (occur, filter) in filters(searcher, fields, &query.filter)? {
        // Filters select; they must not change relevance.
        clauses.push((occur, Box::new(ConstScoreQuery::new(filter, 0.0))));
    }
    if clauses.is_empty() {
        return Some(Box::new(AllQuery));
    }
    if !clauses.iter().any(|(occur, _)| *occur == Occur::Must) {
        // Exclusions alone select nothing: they need something to exclude from.
        clauses.push((Occur::Must, Box::new(AllQuery)));
    }
    Some(Box::new(BooleanQuery::new(clauses)))
}

/// A word found in any text field, weighted by field; the last word also as a prefix.
fn word_query(fields: &Fields, word: &str, as_prefix: bool) -> Box<dyn Query> {
    let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for (field, boost) in [
        (fields.name, NAME_BOOST),
        (fields.category_name, CATEGORY_NAME_BOOST),
        (fields.description, DESCRIPTION_BOOST),
    ] {
        let term = Term::from_field_text(field, word);
        let exact = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
        alternatives.push((Occur::Should, boosted(Box::new(exact), boost)));
        if as_prefix {
            // One term makes this a bounded walk of the term dictionary from `word` on,
            // matching with a constant score: no positions needed.
            let mut prefix = PhrasePrefixQuery::new(vec![term]);
            prefix.set_max_expansions(PREFIX_EXPANSIONS);
            alternatives.push((Occur::Should, boosted(Box::new(prefix), boost)));
        }
    }
    Box::new(BooleanQuery::new(alternatives))
}

fn boosted(query: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    if boost == 1.0 {
        query
    } else {
        Box::new(BoostQuery::new(query, boost))
    }
}

/// The indexed queries for each condition of the filter, each to be met (`Must`) or excluded
/// (`MustNot`); `None` when nothing can pass.
fn filters(
    searcher: &Searcher,
    fields: &Fields,
    filter: &ProductFilter,
) -> Option<Vec<(Occur, Box<dyn Query>)>> {
    let mut queries: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if filter.active_only {
        queries.push(bool_condition(searcher, fields.is_active, true));
    }
    if let Some(categories) = &filter.categories {
        let term = |category: &CategoryId| Term::from_field_i64(fields.category, category.0);
        // A term set builds an automaton and walks the term dictionary with it: for the
        // common single category (one without subcategories) that cost more than its postings.
        let query: Box<dyn Query> = match categories.as_slice() {
            [] => return None,
            [category] => Box::new(TermQuery::new(term(category), IndexRecordOption::Basic)),
            several => Box::new(TermSetQuery::new(several.iter().map(term))),
        };
        queries.push((Occur::Must, query));
    }
    if filter.min_price.unwrap_or(i64::MIN) > filter.max_price.unwrap_or(i64::MAX) {
        return None;
    }
    if filter.min_price.is_some() || filter.max_price.is_some() {
        // On the price column, not the inverted index: intersected with text, the column is
        // only read where the text matches, while an inverted range must first union the
        // postings of every distinct price in range (7x slower for a half-price-range filter
        // over 300k products with varied prices).
        let bound = |value: Option<i64>| match value {
            Some(value) => Bound::Included(Term::from_field_i64(fields.price, value)),
            None => Bound::Unbounded,
        };
        queries.push((
            Occur::Must,
            Box::new(RangeQuery::new(
                bound(filter.min_price),
                bound(filter.max_price),
            )),
        ));
    }
    if let Some(in_stock) = filter.in_stock {
        queries.push(bool_condition(searcher, fields.in_stock, in_stock));
    }
    Some(queries)
}

/// `field` is `wanted`, as whichever of "is `wanted`" and "is not `!wanted`" reads fewer
/// postings. Nearly every product is active and in stock: required, those terms' postings
/// would be walked through in full wherever they lead an intersection (a price range alone
/// took 20 ms at a million products), while excluding the few others costs a seek each.
fn bool_condition(searcher: &Searcher, field: Field, wanted: bool) -> (Occur, Box<dyn Query>) {
    let term = |value| Term::from_field_bool(field, value);
    let count = |value| searcher.doc_freq(&term(value)).unwrap_or(0);
    let (occur, value) = if count(wanted) <= count(!wanted) {
        (Occur::Must, wanted)
    } else {
        (Occur::MustNot, !wanted)
    };
    let query = TermQuery::new(term(value), IndexRecordOption::Basic);
    (occur, Box::new(query))
}

/// Which hits a page is, clamped to the number of documents so that a huge offset or limit
/// never sizes a collector beyond the index.
fn page_range(documents: u64, offset: u64, limit: u32) -> Range<usize> {
    let documents = usize::try_from(documents).unwrap_or(usize::MAX);
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(documents);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    start..start.saturating_add(limit).min(documents)
}

fn by_fast<T: tantivy::fastfield::FastValue>(
    field: &str,
    order: Order,
) -> (SortByStaticFastValue<T>, Order) {
    (SortByStaticFastValue::for_field(field), order)
}

/// The page of hits in `page` ordered by `key`, then by id in `ties` order (the direction of
/// the key, as the catalogue store's lists break ties, so both answer an ordering alike), with
/// the total.
fn sorted_page<K>(
    searcher: &Searcher,
    query: &dyn Query,
    page: Range<usize>,
    key: K,
    ties: Order,
) -> tantivy::Result<SearchHits>
where
    K: SortKeyComputer + Send + 'static,
{
    let key_then_id = (key, by_fast::<i64>(ID, ties));
    let collector = (Count, TopDocs::for_doc_range(page).order_by(key_then_id));
    let (total, hits) = searcher.search(query, &collector)?;
    let ids = hits
        .into_iter()
        // Every document is written with an id.
        .filter_map(|((_, id), _)| id.map(ProductId))
        .collect();
    Ok(SearchHits {
        ids,
        total: total as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::page_range;

    #[test]
    fn pages_are_clamped_to_the_index() {
        assert_eq!(page_range(10, 0, 5), 0..5);
        assert_eq!(page_range(10, 8, 5), 8..10);
        assert_eq!(page_range(10, 20, 5), 10..10);
        assert_eq!(page_range(10, u64::MAX, u32::MAX), 10..10);
        assert_eq!(page_range(10, 3, 0), 3..3);
    }
}
