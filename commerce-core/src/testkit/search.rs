//! The contract of [`SearchIndex`].
//!
//! Every test feeds the index [`IndexBatch`]es directly, as the core indexer would, and checks
//! what searches answer. Filters and orderings are checked against a reference model written
//! here in plain Rust (`passes`, `reference_order`), over a catalogue built so that prices,
//! names, stock and creation times tie: a backend that breaks ties by anything but ascending
//! id, or orders deleted-and-re-added documents by insertion, fails.

use std::cmp::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::{CategoryId, ProductId, Timestamp};
use crate::ports::{
    IndexBatch, IndexDocument, ProductFilter, ProductOrdering, SearchHits, SearchIndex, SearchQuery,
};

const AUDIO: CategoryId = CategoryId(1);
const KITCHEN: CategoryId = CategoryId(2);
const GARDEN: CategoryId = CategoryId(3);

fn category_name(category: CategoryId) -> &'static str {
    match category.0 {
        1 => "Audio",
        2 => "Kitchen",
        _ => "Garden",
    }
}

fn at(seconds: i64) -> Timestamp {
    DateTime::<Utc>::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
}

/// A document with neutral values; tests change what they look at.
fn doc(id: i64, name: &str, description: &str, category: CategoryId) -> IndexDocument {
    IndexDocument {
        id: ProductId(id),
        name: name.into(),
        description: description.into(),
        category,
        category_name: category_name(category).into(),
        price_minor: 1000,
        stock: 1,
        is_active: true,
        created_at: at(id),
    }
}

/// A query for `text` over every product (inactive ones included), by relevance, one big page.
fn query(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        filter: ProductFilter::default(),
        ordering: None,
        offset: 0,
        limit: 100,
    }
}

fn filtered(text: &str, filter: ProductFilter) -> SearchQuery {
    SearchQuery {
        filter,
        ..query(text)
    }
}

fn ordered(text: &str, ordering: ProductOrdering) -> SearchQuery {
    SearchQuery {
        ordering: Some(ordering),
        ..query(text)
    }
}

async fn upsert<S: SearchIndex>(index: &S, docs: Vec<IndexDocument>, through: u64) {
    index
        .apply(IndexBatch {
            upserts: docs,
            deletes: Vec::new(),
            through,
        })
        .await
        .unwrap();
}

async fn hits<S: SearchIndex>(index: &S, query: &SearchQuery) -> SearchHits {
    index
        .search(query)
        .await
        .unwrap_or_else(|e| panic!("search {query:?} failed: {e}"))
}

/// The ids of the page `query` answers.
async fn ids<S: SearchIndex>(index: &S, query: &SearchQuery) -> Vec<i64> {
    hits(index, query).await.ids.iter().map(|id| id.0).collect()
}

/// The ids `text` finds, sorted, for tests about what matches rather than in what order.
async fn matching<S: SearchIndex>(index: &S, text: &str) -> Vec<i64> {
    let mut found = ids(index, &query(text)).await;
    found.sort_unstable();
    found
}

/// Twenty-four products whose prices, names, stock and creation times tie in several ways,
/// some inactive, in three categories; every description says "gadget".
fn tied_catalogue() -> Vec<IndexDocument> {
    const NAMES: [&str; 5] = ["Anvil", "Bellows", "Anvil", "Crank", "Bellows"];
    const PRICES: [i64; 4] = [500, 1500, 1000, 1500];
    (1..=24)
        .map(|id: i64| {
            let category = [AUDIO, KITCHEN, GARDEN][(id % 3) as usize];
            IndexDocument {
                id: ProductId(id),
                name: NAMES[(id % 5) as usize].into(),
                description: format!("A sturdy gadget, item {id}."),
                category,
                category_name: category_name(category).into(),
                price_minor: PRICES[(id % 4) as usize],
                stock: (id / 2) % 3,
                is_active: id % 5 != 0,
                created_at: at(id % 6),
            }
        })
        .collect()
}

/// Loads `docs` in three batches in a scrambled order, so storage order is not id order.
async fn load_scrambled<S: SearchIndex>(index: &S, docs: &[IndexDocument]) {
    let mut scrambled: Vec<IndexDocument> = docs.to_vec();
    let n = scrambled.len();
    // A fixed permutation: 7 is coprime with the catalogue sizes used here.
    scrambled.sort_by_key(|d| (d.id.0 as usize * 7) % n.max(1));
    scrambled.reverse();
    let third = n.div_ceil(3).max(1);
    for (through, chunk) in (1u64..).zip(scrambled.chunks(third)) {
        upsert(index, chunk.to_vec(), through).await;
    }
}

/// What a backend must answer for `filter`: the reference model of [`ProductFilter`].
fn passes(doc: &IndexDocument, filter: &ProductFilter) -> bool {
    filter
        .categories
        .as_ref()
        .is_none_or(|categories| categories.contains(&doc.category))
        && filter.min_price.is_none_or(|min| doc.price_minor >= min)
        && filter.max_price.is_none_or(|max| doc.price_minor <= max)
        && filter
            .in_stock
            .is_none_or(|wanted| (doc.stock > 0) == wanted)
        && (!filter.active_only || doc.is_active)
}

/// The reference model of [`ProductOrdering`]: the key, then the id in the key's direction.
fn compare(a: &IndexDocument, b: &IndexDocument, ordering: ProductOrdering) -> Ordering {
    use ProductOrdering::*;
    // Ties break by id in the ordering's own direction, as the catalogue store's lists do.
    let ascending = match ordering {
        PriceAscending => a.price_minor.cmp(&b.price_minor),
        NameAscending => a.name.cmp(&b.name),
        CreatedAscending => a.created_at.cmp(&b.created_at),
        StockAscending => a.stock.cmp(&b.stock),
        PriceDescending => return compare(b, a, PriceAscending),
        NameDescending => return compare(b, a, NameAscending),
        CreatedDescending => return compare(b, a, CreatedAscending),
        StockDescending => return compare(b, a, StockAscending),
    };
    ascending.then(a.id.cmp(&b.id))
}

fn reference(
    docs: &[IndexDocument],
    filter: &ProductFilter,
    ordering: Option<ProductOrdering>,
) -> Vec<i64> {
    let mut kept: Vec<&IndexDocument> = docs.iter().filter(|d| passes(d, filter)).collect();
    match ordering {
        Some(ordering) => kept.sort_by(|a, b| compare(a, b, ordering)),
        // Every document is equally relevant to an empty text: ties, so by id.
        None => kept.sort_by_key(|d| d.id),
    }
    kept.iter().map(|d| d.id.0).collect()
}

/// A fresh index has no position and finds nothing.
pub async fn fresh_index_is_empty_and_has_no_position<S: SearchIndex>(index: Arc<S>) {
    assert!(!index.name().is_empty());
    assert_eq!(index.applied_through().await.unwrap(), None);
    assert_eq!(
        hits(&*index, &query("anything")).await,
        SearchHits::default()
    );
    assert_eq!(hits(&*index, &query("")).await, SearchHits::default());
}

/// `apply` records the batch's position, empty batches included, and the position follows.
pub async fn apply_records_its_position<S: SearchIndex>(index: Arc<S>) {
    upsert(&*index, vec![doc(1, "Kettle", "", KITCHEN)], 5).await;
    assert_eq!(index.applied_through().await.unwrap(), Some(5));
    index
        .apply(IndexBatch {
            through: 9,
            ..IndexBatch::default()
        })
        .await
        .unwrap();
    assert_eq!(index.applied_through().await.unwrap(), Some(9));
    assert_eq!(matching(&*index, "kettle").await, vec![1]);
}

/// Words match the name, the description and the category name, whatever their case and the
/// punctuation around them.
pub async fn matches_name_description_and_category<S: SearchIndex>(index: Arc<S>) {
    upsert(
        &*index,
        vec![
            doc(
                1,
                "Wireless Headphones",
                "Over-ear, noise cancelling.",
                AUDIO,
            ),
            doc(2, "Chef Knife", "Forged steel; cuts like a dream.", KITCHEN),
            doc(3, "Garden Hose", "Twenty metres, kink free.", GARDEN),
        ],
        1,
    )
    .await;
    assert_eq!(matching(&*index, "headphones").await, vec![1]);
    assert_eq!(matching(&*index, "forged").await, vec![2]);
    assert_eq!(matching(&*index, "kitchen").await, vec![2]);
    assert_eq!(matching(&*index, "garden").await, vec![3]);
    assert_eq!(matching(&*index, "HEADPHONES").await, vec![1]);
    assert_eq!(matching(&*index, "\"Headphones!\"").await, vec![1]);
    assert_eq!(matching(&*index, "  steel  ").await, vec![2]);
    assert_eq!(matching(&*index, "toaster").await, Vec::<i64>::new());
    assert_eq!(hits(&*index, &query("toaster")).await.total, 0);
}

/// Query syntax of any engine is plain text here: quotes, operators, field names and unbalanced
/// brackets never make a search fail.
pub async fn odd_input_never_fails<S: SearchIndex>(index: Arc<S>) {
    upsert(
        &*index,
        vec![doc(1, "Chef Knife", "Forged steel.", KITCHEN)],
        1,
    )
    .await;
    for text in [
        "\"",
        "\"chef",
        "-knife",
        "name:knife",
        "chef AND",
        "OR",
        "NOT knife",
        "(knife",
        "knife)",
        "[1 TO 5]",
        "k*",
        "knife~2",
        "+chef^3",
        "\\",
        "' OR 1=1 --",
        "ünïcödé ☃ 中文",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g h i j k l m n",
    ] {
        let found = hits(&*index, &query(text)).await;
        assert!(found.total <= 1, "{text:?} found {found:?}");
    }
    assert_eq!(matching(&*index, "-knife").await, vec![1]);
    assert_eq!(matching(&*index, "(knife)").await, vec![1]);
}

/// With no ordering, a product whose name matches ranks above one whose description alone
/// does, whatever their ids.
pub async fn name_matches_rank_above_description_matches<S: SearchIndex>(index: Arc<S>) {
    upsert(
        &*index,
        vec![
            doc(
                1,
                "Reading Light",
                "A lamp for long evenings in a chair.",
                GARDEN,
            ),
            doc(2, "Desk Lamp", "Warm light for a tidy desk.", GARDEN),
            doc(3, "Floor Rug", "Soft wool.", GARDEN),
        ],
        1,
    )
    .await;
    assert_eq!(ids(&*index, &query("lamp")).await, vec![2, 1]);
    // A category name outranks a description too.
    upsert(
        &*index,
        vec![
            doc(4, "Mixer", "For the kitchen counter and more.", GARDEN),
            doc(5, "Blender", "Smoothies.", KITCHEN),
        ],
        2,
    )
    .await;
    assert_eq!(ids(&*index, &query("kitchen")).await, vec![5, 4]);
}

/// Equally relevant products come by ascending id on every page, however they were stored.
pub async fn relevance_ties_break_by_ascending_id<S: SearchIndex>(index: Arc<S>) {
    let docs: Vec<IndexDocument> = (1..=17)
        .map(|id| doc(id, "Widget", "Same as the others.", GARDEN))
        .collect();
    load_scrambled(&*index, &docs).await;
    // Re-adding a product moves it in storage; it must not move in the results.
    upsert(&*index, vec![docs[0].clone(), docs[5].clone()], 10).await;
    let all: Vec<i64> = (1..=17).collect();
    assert_eq!(ids(&*index, &query("widget")).await, all);
    for text in ["widget", "widg", "garden"] {
        for limit in [1u32, 2, 3, 5, 16] {
            let mut paged = Vec::new();
            let mut offset = 0;
            while offset < 17 {
                let page = hits(
                    &*index,
                    &SearchQuery {
                        offset,
                        limit,
                        ..query(text)
                    },
                )
                .await;
                assert_eq!(page.total, 17, "{text:?} offset {offset} limit {limit}");
                paged.extend(page.ids.iter().map(|id| id.0));
                offset += u64::from(limit);
            }
            assert_eq!(paged, all, "{text:?} pages of {limit}");
        }
    }
}

/// The last word also matches as a prefix, for search as you type; earlier words do not.
pub async fn last_word_matches_as_prefix<S: SearchIndex>(index: Arc<S>) {
    upsert(
        &*index,
        vec![
            doc(1, "Wireless Headphones", "Noise cancelling.", AUDIO),
            doc(2, "Headband", "Keeps hair tidy.", GARDEN),
            doc(3, "Wired Earbuds", "Light.", AUDIO),
        ],
        1,
    )
    .await;
    assert_eq!(matching(&*index, "headph").await, vec![1]);
    assert_eq!(matching(&*index, "head").await, vec![1, 2]);
    assert_eq!(matching(&*index, "HEADPH").await, vec![1]);
    assert_eq!(matching(&*index, "wireless headph").await, vec![1]);
    assert_eq!(matching(&*index, "wire").await, vec![1, 3]);
    assert_eq!(matching(&*index, "audi").await, vec![1, 3]);
    assert_eq!(
        matching(&*index, "headph wireless").await,
        Vec::<i64>::new()
    );
    assert_eq!(matching(&*index, "headphonesx").await, Vec::<i64>::new());
}

/// Every word must match, each in any of the fields; order does not matter.
pub async fn multi_word_queries_need_every_word<S: SearchIndex>(index: Arc<S>) {
    upsert(
        &*index,
        vec![
            doc(1, "Wireless Headphones", "Noise cancelling.", AUDIO),
            doc(2, "Wired Headphones", "For the studio.", AUDIO),
            doc(3, "Headphones Stand", "Holds wireless sets too.", KITCHEN),
            doc(4, "Wireless Charger", "Qi pad.", KITCHEN),
        ],
        1,
    )
    .await;
    assert_eq!(matching(&*index, "wireless headphones").await, vec![1, 3]);
    assert_eq!(matching(&*index, "headphones wireless").await, vec![1, 3]);
    assert_eq!(matching(&*index, "audio headphones").await, vec![1, 2]);
    assert_eq!(matching(&*index, "wired studio").await, vec![2]);
    assert_eq!(matching(&*index, "wired charger").await, Vec::<i64>::new());
    // The product matching both words in its name comes first.
    assert_eq!(
        ids(&*index, &query("wireless headphones")).await,
        vec![1, 3]
    );
}

/// Empty or blank text matches every product the filter lets through, by ascending id when
/// no ordering is asked for, so a backend can serve filtered lists as well as searches.
pub async fn empty_text_matches_every_filtered_product<S: SearchIndex>(index: Arc<S>) {
    let docs = tied_catalogue();
    load_scrambled(&*index, &docs).await;
    let everything = ProductFilter::default();
    let active = ProductFilter {
        active_only: true,
        ..ProductFilter::default()
    };
    for text in ["", " ", "  \t\n "] {
        for filter in [&everything, &active] {
            let found = hits(&*index, &filtered(text, filter.clone())).await;
            let expected = reference(&docs, filter, None);
            assert_eq!(found.total, expected.len() as u64, "{text:?} {filter:?}");
            assert_eq!(
                found.ids.iter().map(|id| id.0).collect::<Vec<_>>(),
                expected,
                "{text:?} {filter:?}"
            );
        }
    }
}

fn filters() -> Vec<ProductFilter> {
    let none = ProductFilter::default();
    vec![
        none.clone(),
        ProductFilter {
            categories: Some(vec![AUDIO]),
            ..none.clone()
        },
        ProductFilter {
            categories: Some(vec![GARDEN, AUDIO]),
            ..none.clone()
        },
        ProductFilter {
            categories: Some(vec![CategoryId(99)]),
            ..none.clone()
        },
        ProductFilter {
            categories: Some(Vec::new()),
            ..none.clone()
        },
        ProductFilter {
            min_price: Some(1000),
            ..none.clone()
        },
        ProductFilter {
            max_price: Some(1000),
            ..none.clone()
        },
        ProductFilter {
            min_price: Some(1000),
            max_price: Some(1000),
            ..none.clone()
        },
        ProductFilter {
            min_price: Some(501),
            max_price: Some(1499),
            ..none.clone()
        },
        ProductFilter {
            min_price: Some(1500),
            max_price: Some(500),
            ..none.clone()
        },
        ProductFilter {
            min_price: Some(0),
            max_price: Some(i64::MAX),
            ..none.clone()
        },
        ProductFilter {
            in_stock: Some(true),
            ..none.clone()
        },
        ProductFilter {
            in_stock: Some(false),
            ..none.clone()
        },
        ProductFilter {
            active_only: true,
            ..none.clone()
        },
        ProductFilter {
            categories: Some(vec![KITCHEN, GARDEN]),
            min_price: Some(1000),
            in_stock: Some(true),
            active_only: true,
            ..none.clone()
        },
        ProductFilter {
            categories: Some(vec![AUDIO]),
            max_price: Some(1000),
            in_stock: Some(false),
            ..none.clone()
        },
        ProductFilter {
            categories: Some(vec![AUDIO, KITCHEN, GARDEN]),
            min_price: Some(500),
            max_price: Some(1500),
            in_stock: Some(true),
            active_only: true,
        },
    ]
}

/// Every filter, alone and combined, keeps exactly the products it describes (prices
/// inclusive; an empty category list keeps none), with text and without.
pub async fn filters_alone_and_combined<S: SearchIndex>(index: Arc<S>) {
    let docs = tied_catalogue();
    load_scrambled(&*index, &docs).await;
    for filter in filters() {
        let expected = reference(&docs, &filter, None);
        for text in ["", "gadget", "gadg", "sturdy gadget"] {
            let found = hits(&*index, &filtered(text, filter.clone())).await;
            let mut found_ids: Vec<i64> = found.ids.iter().map(|id| id.0).collect();
            assert_eq!(found.total, expected.len() as u64, "{text:?} {filter:?}");
            found_ids.sort_unstable();
            assert_eq!(found_ids, expected, "{text:?} {filter:?}");
        }
        // Filters narrow a text match too.
        let one = hits(&*index, &filtered("item 7", filter.clone())).await;
        let seven_passes = docs.iter().any(|d| d.id.0 == 7 && passes(d, &filter));
        assert_eq!(one.total, u64::from(seven_passes), "item 7, {filter:?}");
    }
}

/// The stock and active filters keep the same products whichever way the catalogue leans: a
/// backend may pick how to evaluate them by how many products have each value.
pub async fn filters_hold_when_most_products_are_inactive_and_sold_out<S: SearchIndex>(
    index: Arc<S>,
) {
    let docs: Vec<IndexDocument> = tied_catalogue()
        .into_iter()
        .map(|doc| IndexDocument {
            stock: i64::from(doc.id.0 % 6 == 0),
            is_active: doc.id.0 % 4 == 0,
            ..doc
        })
        .collect();
    load_scrambled(&*index, &docs).await;
    for filter in filters() {
        let expected = reference(&docs, &filter, None);
        for text in ["", "gadget"] {
            let found = hits(&*index, &filtered(text, filter.clone())).await;
            let mut found_ids: Vec<i64> = found.ids.iter().map(|id| id.0).collect();
            assert_eq!(found.total, expected.len() as u64, "{text:?} {filter:?}");
            found_ids.sort_unstable();
            assert_eq!(found_ids, expected, "{text:?} {filter:?}");
        }
    }
}

/// Every ordering sorts by its key, ties by id in the same direction, with text, filters and on
/// every page.
pub async fn every_ordering_breaks_ties_by_id<S: SearchIndex>(index: Arc<S>) {
    let docs = tied_catalogue();
    load_scrambled(&*index, &docs).await;
    let active = ProductFilter {
        active_only: true,
        ..ProductFilter::default()
    };
    for (ordering, name) in ProductOrdering::ALL {
        for filter in [ProductFilter::default(), active.clone()] {
            let expected = reference(&docs, &filter, Some(ordering));
            for text in ["", "gadget", "gadg"] {
                let q = SearchQuery {
                    ordering: Some(ordering),
                    ..filtered(text, filter.clone())
                };
                assert_eq!(
                    ids(&*index, &q).await,
                    expected,
                    "{name} {text:?} {filter:?}"
                );
                let mut paged = Vec::new();
                for offset in (0..expected.len() as u64).step_by(5) {
                    let page = hits(
                        &*index,
                        &SearchQuery {
                            offset,
                            limit: 5,
                            ..q.clone()
                        },
                    )
                    .await;
                    assert_eq!(page.total, expected.len() as u64, "{name} {text:?}");
                    paged.extend(page.ids.iter().map(|id| id.0));
                }
                assert_eq!(paged, expected, "{name} {text:?} {filter:?} in pages of 5");
            }
        }
    }
    // An ordering replaces relevance: the name match does not come first here.
    upsert(
        &*index,
        vec![IndexDocument {
            price_minor: 99_999,
            ..doc(100, "Gadget", "The gadget of gadgets.", GARDEN)
        }],
        10,
    )
    .await;
    let by_price = ids(&*index, &ordered("gadget", ProductOrdering::PriceAscending)).await;
    assert_eq!(by_price.last(), Some(&100));
    assert_eq!(ids(&*index, &query("gadget")).await.first(), Some(&100));
}

/// Offset and limit cut pages from one order; the total is exact on every page, and past the
/// end the page is empty with the same total.
pub async fn paginates_with_exact_totals<S: SearchIndex>(index: Arc<S>) {
    let docs = tied_catalogue();
    load_scrambled(&*index, &docs).await;
    let all = reference(&docs, &ProductFilter::default(), None);
    for text in ["", "gadget"] {
        for (offset, limit) in [(0u64, 7u32), (7, 7), (21, 7), (23, 7), (0, 24), (0, 100)] {
            let page = hits(
                &*index,
                &SearchQuery {
                    offset,
                    limit,
                    ..query(text)
                },
            )
            .await;
            assert_eq!(page.total, 24, "{text:?} {offset} {limit}");
            let start = (offset as usize).min(all.len());
            let end = (start + limit as usize).min(all.len());
            assert_eq!(
                page.ids.iter().map(|id| id.0).collect::<Vec<_>>(),
                all[start..end],
                "{text:?} {offset} {limit}"
            );
        }
        for (offset, limit) in [
            (24u64, 10u32),
            (25, 1),
            (1_000_000, 20),
            (u64::MAX, 20),
            (3, 0),
        ] {
            let page = hits(
                &*index,
                &SearchQuery {
                    offset,
                    limit,
                    ..query(text)
                },
            )
            .await;
            assert_eq!(page.ids, Vec::new(), "{text:?} {offset} {limit}");
            assert_eq!(page.total, 24, "{text:?} {offset} {limit}");
        }
        let huge = hits(
            &*index,
            &SearchQuery {
                limit: u32::MAX,
                ..query(text)
            },
        )
        .await;
        assert_eq!(huge.ids.len(), 24);
    }
}

/// An upsert replaces the product's document entirely; a delete removes it; deleting an
/// unknown product is no error.
pub async fn upserts_replace_and_deletes_remove<S: SearchIndex>(index: Arc<S>) {
    upsert(
        &*index,
        vec![
            doc(1, "Wireless Headphones", "Noise cancelling.", AUDIO),
            doc(2, "Chef Knife", "Forged steel.", KITCHEN),
            doc(3, "Garden Hose", "Kink free.", GARDEN),
        ],
        1,
    )
    .await;
    let renamed = IndexDocument {
        price_minor: 4200,
        stock: 0,
        ..doc(1, "Portable Radio", "Long wave.", GARDEN)
    };
    upsert(&*index, vec![renamed.clone()], 2).await;
    assert_eq!(matching(&*index, "headphones").await, Vec::<i64>::new());
    assert_eq!(matching(&*index, "noise").await, Vec::<i64>::new());
    assert_eq!(matching(&*index, "audio").await, Vec::<i64>::new());
    assert_eq!(matching(&*index, "radio").await, vec![1]);
    assert_eq!(matching(&*index, "garden").await, vec![1, 3]);
    assert_eq!(hits(&*index, &query("")).await.total, 3);
    let cheap = ProductFilter {
        max_price: Some(5000),
        in_stock: Some(false),
        ..ProductFilter::default()
    };
    assert_eq!(ids(&*index, &filtered("", cheap)).await, vec![1]);

    // The same product twice in one batch: the later document wins.
    upsert(
        &*index,
        vec![
            doc(2, "Bread Knife", "Serrated.", KITCHEN),
            doc(2, "Paring Knife", "Small.", KITCHEN),
        ],
        3,
    )
    .await;
    assert_eq!(matching(&*index, "knife").await, vec![2]);
    assert_eq!(matching(&*index, "paring").await, vec![2]);
    assert_eq!(matching(&*index, "serrated").await, Vec::<i64>::new());

    index
        .apply(IndexBatch {
            upserts: vec![doc(4, "Hose Reel", "Wall mounted.", GARDEN)],
            deletes: vec![ProductId(3), ProductId(77)],
            through: 4,
        })
        .await
        .unwrap();
    assert_eq!(matching(&*index, "hose").await, vec![4]);
    assert_eq!(matching(&*index, "kink").await, Vec::<i64>::new());
    assert_eq!(matching(&*index, "").await, vec![1, 2, 4]);
    assert_eq!(index.applied_through().await.unwrap(), Some(4));
}

/// `clear` removes every document and forgets the position; the index is usable after.
pub async fn clear_empties_and_forgets_position<S: SearchIndex>(index: Arc<S>) {
    load_scrambled(&*index, &tied_catalogue()).await;
    assert!(index.applied_through().await.unwrap().is_some());
    index.clear().await.unwrap();
    assert_eq!(index.applied_through().await.unwrap(), None);
    assert_eq!(hits(&*index, &query("")).await, SearchHits::default());
    assert_eq!(hits(&*index, &query("gadget")).await, SearchHits::default());
    index.clear().await.unwrap();
    upsert(&*index, vec![doc(3, "Kettle", "", KITCHEN)], 2).await;
    assert_eq!(index.applied_through().await.unwrap(), Some(2));
    assert_eq!(matching(&*index, "").await, vec![3]);
}
