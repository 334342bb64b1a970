//! The index's schema and text analysis: what a product becomes in the index.
//!
//! Any change here (a field, an option, the analyzer) changes what existing index files mean:
//! bump [`SCHEMA_VERSION`] with it, so that indexes written before are wiped and rebuilt
//! rather than read wrongly.

use commerce_core::ports::IndexDocument;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, Schema, TantivyDocument, TextFieldIndexing,
    TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{Index, IndexSettings, IndexSortByField, Order, Term};

/// Stored with every commit's position; an index recording another version is rebuilt.
pub(super) const SCHEMA_VERSION: &str = "v1";

/// The product id: indexed to delete and replace a product, fast to break ties in order.
pub(super) const ID: &str = "id";
/// The name as typed, one value, for ordering by name in the store's (byte) order.
pub(super) const NAME_SORT: &str = "name_sort";
/// The price in minor units: fast, for ordering and range filters.
pub(super) const PRICE: &str = "price";
/// Units in stock: fast for ordering (filtering uses [`Fields::in_stock`]).
pub(super) const STOCK: &str = "stock";
/// Creation time in microseconds since the epoch: fast for ordering.
pub(super) const CREATED_AT: &str = "created_at";

const TOKENIZER: &str = "product_text";
/// Longer tokens are dropped when indexing: they are noise (hashes, URLs) and bloat the
/// dictionary.
const MAX_TOKEN_BYTES: usize = 64;

/// The fields of the schema, resolved once.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fields {
    pub(super) id: Field,
    pub(super) name: Field,
    pub(super) name_sort: Field,
    pub(super) category_name: Field,
    pub(super) description: Field,
    pub(super) category: Field,
    pub(super) price: Field,
    pub(super) stock: Field,
    /// Derived from the stock so "in stock" is one term lookup, not a range over stock values.
    pub(super) in_stock: Field,
    pub(super) is_active: Field,
    pub(super) created_at: Field,
}

/// The schema this version writes, and its fields.
pub(super) fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    // Frequencies for BM25, no positions: nothing here is a phrase query, and positions would
    // roughly double the postings on disk.
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: builder.add_i64_field(ID, INDEXED | FAST),
        name: builder.add_text_field("name", text.clone()),
        name_sort: builder.add_text_field(NAME_SORT, TextOptions::default().set_fast("raw")),
        category_name: builder.add_text_field("category_name", text.clone()),
        description: builder.add_text_field("description", text),
        category: builder.add_i64_field("category", INDEXED),
        price: builder.add_i64_field(PRICE, FAST),
        stock: builder.add_i64_field(STOCK, FAST),
        in_stock: builder.add_bool_field("in_stock", INDEXED),
        is_active: builder.add_bool_field("is_active", INDEXED),
        created_at: builder.add_i64_field(CREATED_AT, FAST),
    };
    (builder.build(), fields)
}

/// How the index keeps its documents: newest first in every segment. Newest first is the
/// catalogue's default order, and in document order a page of it fills from a segment's first
/// matches, after which later ones fall below the page at once; in creation order each match
/// was newer than the page so far and entered it (22 ms against 12 ms for the top of 780,000
/// matches). Products created at one instant still enter in turn: ties break by descending
/// id, and a segment keeps them as they came. Checked on opening, like the schema: an index
/// kept in another order is rebuilt.
pub(super) fn settings() -> IndexSettings {
    IndexSettings {
        sort_by_field: Some(IndexSortByField {
            field: CREATED_AT.to_owned(),
            order: Order::Desc,
        }),
        ..IndexSettings::default()
    }
}

/// Registers the analyzer the text fields name; every opened `Index` needs it.
pub(super) fn register_tokenizer(index: &Index) {
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build();
    index.tokenizers().register(TOKENIZER, analyzer);
}

/// The words of what a shopper typed, analysed as the indexed text was (split on anything
/// that is not a letter or digit, lower-cased, accents folded), so `"Café-Crème!"` gives
/// `cafe`, `creme`. Unlike indexing, long words are kept: dropping them would widen the
/// search, while kept they simply match nothing.
pub(super) fn words(text: &str) -> Vec<String> {
    let mut analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build();
    let mut stream = analyzer.token_stream(text);
    let mut words = Vec::new();
    while let Some(token) = stream.next() {
        words.push(token.text.clone());
    }
    words
}

impl Fields {
    /// The term that identifies a product's document.
    pub(super) fn id_term(&self, id: i64) -> Term {
        Term::from_field_i64(self.id, id)
    }

    /// The document a product becomes.
    pub(super) fn document(&self, product: &IndexDocument) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_i64(self.id, product.id.0);
        doc.add_text(self.name, &product.name);
        doc.add_text(self.name_sort, &product.name);
        doc.add_text(self.category_name, &product.category_name);
        doc.add_text(self.description, &product.description);
        doc.add_i64(self.category, product.category.0);
        doc.add_i64(self.price, product.price_minor);
        doc.add_i64(self.stock, product.stock);
        doc.add_bool(self.in_stock, product.stock > 0);
        doc.add_bool(self.is_active, product.is_active);
        doc.add_i64(self.created_at, product.created_at.timestamp_micros());
        doc
    }
}
