//! The catalogue's rules: who may change it, what a valid category or product is, how lists
//! and searches are answered, and what a write invalidates.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::response_cache::ResponseCache;
use super::search::SearchIndexer;
use super::tokens::Principal;
use crate::domain::catalog::{
    generate_sku, parse_category_name, parse_description, parse_price, parse_product_name,
    parse_sku, parse_slug, parse_stock, slugify,
};
use crate::domain::{
    Category, CategoryId, CategoryRecord, Currency, Money, Product, ProductId, ProductRecord,
};
use crate::error::{Error, FieldErrors, NO_CREDENTIALS, Result};
use crate::ports::{
    CatalogStore, ProductFilter, ProductListQuery, ProductOrdering, ProductState, SearchQuery,
    StockWrite,
};

/// The default and largest page sizes of product lists.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 100;
/// The longest search text taken into account.
const SEARCH_MAX_CHARS: usize = 200;

/// The fields a client sent for a category; absent ones keep their value (PATCH) or take
/// their default (create, PUT).
#[derive(Debug, Clone, Default)]
pub struct CategoryInput {
    /// Unique name; required on create and PUT.
    pub name: Option<String>,
    /// Unique slug; derived from the name when absent.
    pub slug: Option<String>,
    /// Free text; empty when absent.
    pub description: Option<String>,
    /// The parent category; `Some(None)` makes it top-level.
    pub parent: Option<Option<i64>>,
}

/// The fields a client sent for a product, as for [`CategoryInput`].
#[derive(Debug, Clone, Default)]
pub struct ProductInput {
    /// Required on create and PUT.
    pub name: Option<String>,
    /// Empty when absent.
    pub description: Option<String>,
    /// A decimal string such as "1500.00"; required on create and PUT.
    pub price: Option<String>,
    /// The category id; required on create and PUT.
    pub category: Option<i64>,
    /// Units in stock; required on create and PUT.
    pub stock: Option<i64>,
    /// Derived from the name when absent.
    pub slug: Option<String>,
    /// Generated when absent.
    pub sku: Option<String>,
    /// True when absent.
    pub is_active: Option<bool>,
}

/// A condition a product must meet for a change to it to go ahead: see
/// [`CatalogService::update_product`].
pub type ProductPrecondition<'a> = dyn Fn(&Product) -> bool + Send + Sync + 'a;

/// A condition a category must meet for a change to it to go ahead: see
/// [`CatalogService::update_category`].
pub type CategoryPrecondition<'a> = dyn Fn(&Category) -> bool + Send + Sync + 'a;

/// How a write treats absent fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Create: absent fields take defaults; required ones must be present.
    Create,
    /// PUT: as create, over an existing resource.
    Replace,
    /// PATCH: absent fields keep their current value.
    Patch,
}

/// The query string of a product list, unchecked.
#[derive(Debug, Clone, Default)]
pub struct ProductListParams {
    /// Full-text search.
    pub search: Option<String>,
    /// One of [`ProductOrdering::ALL`]'s names.
    pub ordering: Option<String>,
    /// A category id; its subcategories are included.
    pub category: Option<i64>,
    /// Decimal string, inclusive.
    pub min_price: Option<String>,
    /// Decimal string, inclusive.
    pub max_price: Option<String>,
    /// Only products with (or without) stock.
    pub in_stock: Option<bool>,
    /// 1-based page number.
    pub page: Option<u64>,
    /// Products per page, at most [`MAX_PAGE_SIZE`].
    pub page_size: Option<u64>,
}

/// A checked product list request; its `Hash` identifies the response for caching.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductListRequest {
    /// Normalised search text, if any.
    pub search: Option<String>,
    /// The requested ordering; `None` is relevance for searches and the default otherwise.
    pub ordering: Option<ProductOrdering>,
    /// The filter, categories expanded to their subtree.
    pub filter: ProductFilter,
    /// 1-based page number.
    pub page: u64,
    /// Products per page.
    pub page_size: u32,
}

/// One page of a product list.
#[derive(Debug, Clone)]
pub struct ProductListPage {
    /// The products, in order.
    pub items: Vec<Product>,
    /// How many match in all.
    pub total: u64,
    /// This page's number.
    pub page: u64,
    /// The page size.
    pub page_size: u32,
}

impl ProductListPage {
    /// Whether a page follows this one.
    pub fn has_next(&self) -> bool {
        self.page.saturating_mul(u64::from(self.page_size)) < self.total
    }
}

/// How long a write waits for a catch-up of the search index already running before it
/// answers without its own: ordinary catch-ups take milliseconds.
const WRITE_WAITS_FOR_INDEX: Duration = Duration::from_secs(2);

/// Every category, with the cache generation it was read under and when.
type CategorySnapshot = Option<(String, Instant, Arc<Vec<Category>>)>;

/// The catalogue service.
#[derive(Clone)]
pub struct CatalogService {
    store: Arc<dyn CatalogStore>,
    indexer: SearchIndexer,
    responses: ResponseCache,
    currency: Currency,
    /// The category list, per cache generation: category filters need the tree, and asking
    /// the database for it on every list would cost a round trip.
    categories: Arc<Mutex<CategorySnapshot>>,
}

impl CatalogService {
    /// The service over a store, its search indexer and the response cache.
    pub fn new(
        store: Arc<dyn CatalogStore>,
        indexer: SearchIndexer,
        responses: ResponseCache,
        currency: Currency,
    ) -> Self {
        Self {
            store,
            indexer,
            responses,
            currency,
            categories: Arc::default(),
        }
    }

    /// The store, for bulk work such as imports that bypasses per-item rules and caches.
    pub fn store(&self) -> &Arc<dyn CatalogStore> {
        &self.store
    }

    /// The shop's currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The response cache; every catalogue write invalidates it.
    pub fn responses(&self) -> &ResponseCache {
        &self.responses
    }

    /// The search indexer.
    pub fn indexer(&self) -> &SearchIndexer {
        &self.indexer
    }

    /// A product's price as money.
    pub fn price(&self, product: &Product) -> Money {
        Money::from_minor(product.price_minor, self.currency)
    }

    // ---- categories ----

    /// Every category, by name, from a snapshot kept per cache generation, and no longer
    /// than a cached response.
    ///
    /// The age limit matters where the generation does not move: a category write through
    /// another instance with caches of their own (a category change enters no change log, so
    /// this instance's indexer does not hear of it), or a write whose invalidation the cache
    /// failed to store. Either is then seen within the response cache's lifetime, as cached
    /// responses are, instead of never.
    pub async fn categories(&self) -> Result<Arc<Vec<Category>>> {
        let generation = self.responses.generation().await;
        if let Some((cached_generation, read_at, categories)) = &*self.lock_categories()
            && *cached_generation == generation
            && read_at.elapsed() < self.responses.ttl()
        {
            return Ok(categories.clone());
        }
        let read_at = Instant::now();
        let categories = Arc::new(self.store.list_categories().await?);
        *self.lock_categories() = Some((generation, read_at, categories.clone()));
        Ok(categories)
    }

    fn lock_categories(&self) -> std::sync::MutexGuard<'_, CategorySnapshot> {
        self.categories.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One category. Staff read it from where writes go, as for [`product`](Self::product).
    pub async fn category(&self, who: Option<Principal>, id: CategoryId) -> Result<Category> {
        let found = if is_staff(who) {
            self.store.category_to_update(id).await?
        } else {
            self.store.find_category(id).await?
        };
        found.ok_or(Error::NotFound("category"))
    }

    /// Creates a category (staff only).
    pub async fn create_category(
        &self,
        who: Option<Principal>,
        input: CategoryInput,
    ) -> Result<Category> {
        require_staff(who)?;
        let record = self.category_record(None, input, WriteMode::Create).await?;
        let created = self.store.create_category(record).await?;
        self.after_write().await?;
        Ok(created)
    }

    /// Replaces or patches a category (staff only).
    ///
    /// With `if_matches` (the API's `If-Match`), only if the category as it is when written
    /// passes it: [`Error::PreconditionFailed`] otherwise, as for
    /// [`update_product`](Self::update_product). Input that breaks a rule is told so first,
    /// except a move into the category's own subcategories: with a stale version that is
    /// [`Error::PreconditionFailed`], since the category may have moved since, and a fresh
    /// read shows the cycle.
    pub async fn update_category(
        &self,
        who: Option<Principal>,
        id: CategoryId,
        input: CategoryInput,
        mode: WriteMode,
        if_matches: Option<&CategoryPrecondition<'_>>,
    ) -> Result<Category> {
        require_staff(who)?;
        let current = self
            .store
            .category_to_update(id)
            .await?
            .ok_or(Error::NotFound("category"))?;
        let record = self.category_record(Some(current), input, mode).await?;
        let parent = record.parent;
        // Checked again by the store against the tree it holds still while writing: another
        // move committed since the read above may have made this one a cycle.
        // The version is checked there too, so that no other change lands between the check
        // and the write; before the cycle, since a change to this category since the version
        // named (another move) may be what makes this one a cycle, which reading again shows.
        let check = move |tree: &[Category]| {
            if let Some(current) = tree.iter().find(|category| category.id == id) {
                require_version(if_matches, current, "category")?;
            }
            let mut errors = FieldErrors::default();
            check_no_cycle(&mut errors, tree, id, parent);
            errors.into_result()
        };
        let updated = self.store.update_category(id, record, &check).await?;
        self.after_write().await?;
        Ok(updated)
    }

    /// Deletes an empty category (staff only).
    ///
    /// With `if_matches`, only if the category as it is when deleted passes it:
    /// [`Error::PreconditionFailed`] otherwise, told before the products or subcategories still
    /// in it, since a fresh read may show them gone.
    pub async fn delete_category(
        &self,
        who: Option<Principal>,
        id: CategoryId,
        if_matches: Option<&CategoryPrecondition<'_>>,
    ) -> Result<()> {
        require_staff(who)?;
        let check = move |current: &Category| require_version(if_matches, current, "category");
        self.store.delete_category(id, &check).await?;
        self.after_write().await
    }

    async fn category_record(
        &self,
        current: Option<Category>,
        input: CategoryInput,
        mode: WriteMode,
    ) -> Result<CategoryRecord> {
        let keep = |value: Option<&str>| match mode {
            WriteMode::Patch => value.map(str::to_owned),
            _ => None,
        };
        let mut errors = FieldErrors::default();
        let name = match input
            .name
            .or_else(|| keep(current.as_ref().map(|c| c.name.as_str())))
        {
            Some(name) => errors.check("name", parse_category_name(&name)),
            None => {
                errors.add("name", "this field is required");
                None
            }
        };
        let slug = match input.slug {
            Some(slug) => errors.check("slug", parse_slug(&slug)),
            None => match (mode, &current, &name) {
                (WriteMode::Patch, Some(current), _) => Some(current.slug.clone()),
                (_, _, Some(name)) => Some(slugify(name)),
                _ => None,
            },
        };
        let description = input
            .description
            .or_else(|| keep(current.as_ref().map(|c| c.description.as_str())))
            .unwrap_or_default();
        let description = errors.check("description", parse_description(&description));
        let parent = match input.parent {
            Some(parent) => parent.map(CategoryId),
            None if mode == WriteMode::Patch => current.as_ref().and_then(|c| c.parent),
            None => None,
        };
        if let Some(current) = current.as_ref().filter(|c| parent == Some(c.id)) {
            // Inside itself whatever the tree: told before any `If-Match` version, which the
            // tree's check below puts first.
            check_no_cycle(
                &mut errors,
                std::slice::from_ref(current),
                current.id,
                parent,
            );
        } else if let (Some(current), Some(_), false) = (&current, parent, errors.is_empty()) {
            // Only to report every problem at once: without others, the check `update_category`
            // has the store make, with the tree held still, is the one that tells.
            check_no_cycle(
                &mut errors,
                &self.store.categories_to_update().await?,
                current.id,
                parent,
            );
        }
        let (Some(name), Some(slug), Some(description)) = (name, slug, description) else {
            return Err(Error::Validation(errors));
        };
        errors.into_result()?;
        Ok(CategoryRecord {
            name,
            slug,
            description,
            parent,
        })
    }

    // ---- products ----

    /// One product; inactive ones exist only for staff.
    ///
    /// Staff read it from where writes go, not from a replica: the entity tag of what they read
    /// is what their next change's `If-Match` names, and a replica's may be a version behind.
    pub async fn product(&self, who: Option<Principal>, id: ProductId) -> Result<Product> {
        let found = if is_staff(who) {
            self.store.product_to_update(id).await?
        } else {
            self.store.find_product(id).await?
        };
        found
            .filter(|product| product.is_active || is_staff(who))
            .ok_or(Error::NotFound("product"))
    }

    /// Creates a product (staff only).
    pub async fn create_product(
        &self,
        who: Option<Principal>,
        input: ProductInput,
    ) -> Result<Product> {
        require_staff(who)?;
        let derive_slug = input.slug.is_none();
        let record = self.product_record(None, input, WriteMode::Create)?;
        let created = match self.store.create_product(record.clone()).await {
            // A derived slug may collide with another product of the same name: make it unique.
            Err(Error::AlreadyExists { field: "slug", .. }) if derive_slug => {
                let suffix = &generate_sku()[4..10];
                let slug = format!("{}-{}", record.slug, suffix.to_lowercase());
                self.store
                    .create_product(ProductRecord { slug, ..record })
                    .await?
            }
            other => other?,
        };
        self.after_write().await?;
        Ok(created)
    }

    /// Replaces or patches a product (staff only).
    ///
    /// With `if_matches` (the API's `If-Match`), only if the product as it is now passes it,
    /// and nothing changes the product between that check and the write:
    /// [`Error::PreconditionFailed`] otherwise. Two staff members editing one product from the
    /// same page then cannot silently undo each other's changes.
    pub async fn update_product(
        &self,
        who: Option<Principal>,
        id: ProductId,
        input: ProductInput,
        mode: WriteMode,
        if_matches: Option<&ProductPrecondition<'_>>,
    ) -> Result<Product> {
        require_staff(who)?;
        let current = self
            .store
            .product_to_update(id)
            .await?
            .ok_or(Error::NotFound("product"))?;
        let state = ProductState::of(&current);
        let version_matches = if_matches.map(|matches| matches(&current));
        // A patch that leaves stock out must not write back the figure read above: orders may
        // have taken from it since.
        let stock = if mode == WriteMode::Replace || input.stock.is_some() {
            StockWrite::Set
        } else {
            StockWrite::Keep
        };
        // Input that breaks a rule is told so whatever version it names: a fresh read would
        // not make it valid.
        let record = self.product_record(Some(current), input, mode)?;
        let expected = match version_matches {
            Some(false) => return Err(Error::PreconditionFailed("product")),
            Some(true) => Some(state),
            None => None,
        };
        let updated = self
            .store
            .update_product(id, record, stock, expected)
            .await?;
        self.after_write().await?;
        Ok(updated)
    }

    /// Deletes a product (staff only).
    ///
    /// With `if_matches`, only if the product as it is now passes it, and nothing changes the
    /// product between that check and the delete: [`Error::PreconditionFailed`] otherwise. A
    /// product changed since it was last read is then not deleted unseen.
    pub async fn delete_product(
        &self,
        who: Option<Principal>,
        id: ProductId,
        if_matches: Option<&ProductPrecondition<'_>>,
    ) -> Result<()> {
        require_staff(who)?;
        let expected = match if_matches {
            None => None,
            Some(matches) => {
                let current = self
                    .store
                    .product_to_update(id)
                    .await?
                    .ok_or(Error::NotFound("product"))?;
                require_version(Some(matches), &current, "product")?;
                Some(ProductState::of(&current))
            }
        };
        self.store.delete_product(id, expected).await?;
        self.after_write().await
    }

    fn product_record(
        &self,
        current: Option<Product>,
        input: ProductInput,
        mode: WriteMode,
    ) -> Result<ProductRecord> {
        let patching = mode == WriteMode::Patch;
        let current = current.filter(|_| patching);
        let mut errors = FieldErrors::default();
        let mut required = |field: &str, present: bool| {
            if !present {
                errors.add(field, "this field is required");
            }
        };
        required("name", input.name.is_some() || current.is_some());
        required("price", input.price.is_some() || current.is_some());
        required("category", input.category.is_some() || current.is_some());
        required("stock", input.stock.is_some() || current.is_some());

        let name = match (input.name, &current) {
            (Some(name), _) => errors.check("name", parse_product_name(&name)),
            (None, Some(current)) => Some(current.name.clone()),
            (None, None) => None,
        };
        let price_minor = match (input.price, &current) {
            (Some(price), _) => errors.check("price", self.parse_price(&price)),
            (None, Some(current)) => Some(current.price_minor),
            (None, None) => None,
        };
        let category = input
            .category
            .map(CategoryId)
            .or(current.as_ref().map(|c| c.category));
        let stock = match (input.stock, &current) {
            (Some(stock), _) => errors.check("stock", parse_stock(stock)),
            (None, Some(current)) => Some(current.stock),
            (None, None) => None,
        };
        let description = input
            .description
            .or(current.as_ref().map(|c| c.description.clone()))
            .unwrap_or_default();
        let description = errors.check("description", parse_description(&description));
        let slug = match (input.slug, &current, &name) {
            (Some(slug), _, _) => errors.check("slug", parse_slug(&slug)),
            (None, Some(current), _) => Some(current.slug.clone()),
            (None, None, Some(name)) => Some(slugify(name)),
            (None, None, None) => None,
        };
        let sku = match (input.sku, &current) {
            (Some(sku), _) => errors.check("sku", parse_sku(&sku)),
            (None, Some(current)) => Some(current.sku.clone()),
            (None, None) => Some(generate_sku()),
        };
        let is_active = input
            .is_active
            .or(current.as_ref().map(|c| c.is_active))
            .unwrap_or(true);
        match (name, price_minor, category, stock, description, slug, sku) {
            (
                Some(name),
                Some(price_minor),
                Some(category),
                Some(stock),
                Some(description),
                Some(slug),
                Some(sku),
            ) if errors.is_empty() => Ok(ProductRecord {
                name,
                slug,
                sku,
                description,
                price_minor,
                category,
                stock,
                is_active,
            }),
            _ => Err(Error::Validation(errors)),
        }
    }

    /// A price in the shop's currency from its decimal string ([`parse_price`]).
    pub fn parse_price(&self, text: &str) -> Result<i64, String> {
        parse_price(text, self.currency)
    }

    /// Brings this instance's search index up to the write, then invalidates cached
    /// responses, so that the writer's next read, list or search shows it. In that order:
    /// a list cached between the two, under the new generation, would otherwise come from the
    /// index without the write and stay until the next change.
    ///
    /// The write has committed by now: an indexing failure must not turn its response into an
    /// error (a client retrying a "failed" create would make a second product). The background
    /// indexer applies the change on its next pass.
    async fn after_write(&self) -> Result<()> {
        self.responses.owe_invalidation();
        match self.indexer.catch_up_for_write(WRITE_WAITS_FOR_INDEX).await {
            Ok(Some(_)) => {}
            Ok(None) => tracing::info!(
                "search index busy or being rebuilt; a committed write will show once it is done"
            ),
            Err(error) => {
                tracing::warn!(%error, "search index behind a committed write; retrying in the background");
            }
        }
        self.responses.invalidate_all().await;
        Ok(())
    }

    // ---- lists and search ----

    /// Checks list parameters; `who` decides whether inactive products are included.
    pub async fn list_request(
        &self,
        who: Option<Principal>,
        params: ProductListParams,
    ) -> Result<ProductListRequest> {
        let mut errors = FieldErrors::default();
        let search = params
            .search
            // NUL separates words like white space; PostgreSQL cannot take it in a parameter.
            .map(|text| text.replace('\0', " "))
            .map(|text| text.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|text| !text.is_empty())
            .map(|text| text.chars().take(SEARCH_MAX_CHARS).collect::<String>());
        // Empty asks for the default, as the old shop's form-built links did; the spec lists it.
        let ordering = match params.ordering.as_deref() {
            None | Some("") => None,
            Some(name) => {
                let ordering = ProductOrdering::from_api_name(name);
                if ordering.is_none() {
                    let names: Vec<_> = ProductOrdering::ALL.iter().map(|(_, n)| *n).collect();
                    errors.add(
                        "ordering",
                        format!("unknown ordering {name:?}; use one of {}", names.join(", ")),
                    );
                }
                ordering
            }
        };
        let mut price = |field: &str, text: Option<String>| {
            text.and_then(|text| errors.check(field, self.parse_price(&text)))
        };
        let min_price = price("min_price", params.min_price);
        let max_price = price("max_price", params.max_price);
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            errors.add("min_price", "must not be greater than max_price");
        }
        let page = params.page.unwrap_or(1);
        if page == 0 {
            errors.add("page", "pages are numbered from 1");
        }
        let page_size = params.page_size.unwrap_or(u64::from(DEFAULT_PAGE_SIZE));
        if page_size == 0 || page_size > u64::from(MAX_PAGE_SIZE) {
            errors.add(
                "page_size",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            );
        }
        let categories = match params.category {
            None => None,
            Some(id) => {
                let categories = self.categories().await?;
                let subtree = subtree(&categories, CategoryId(id));
                if subtree.is_empty() {
                    errors.add(
                        "category",
                        format!("invalid pk \"{id}\": object does not exist"),
                    );
                }
                Some(subtree)
            }
        };
        errors.into_result()?;
        Ok(ProductListRequest {
            search,
            ordering,
            filter: ProductFilter {
                categories,
                min_price,
                max_price,
                in_stock: params.in_stock,
                active_only: !is_staff(who),
            },
            page,
            page_size: u32::try_from(page_size).unwrap_or(DEFAULT_PAGE_SIZE),
        })
    }

    /// One page of products, in at most two database round trips.
    ///
    /// Searches and filtered lists are answered by the search index (ids and the exact total),
    /// then the products are loaded from the store in one query, so prices and stock are the
    /// store's. Counting the matches of a filter in SQL costs a scan of every match (seconds
    /// at a million products), which an inverted index with fast fields avoids. Unfiltered
    /// lists stay in SQL: an index per ordering makes their pages cheap, and their count is
    /// the same for every page and cached with it. The stock orderings are the exception:
    /// stores keep no index on stock, which every order changes, so the search index, which
    /// keeps stock as a fast field, orders those lists too.
    pub async fn list_products(&self, request: &ProductListRequest) -> Result<ProductListPage> {
        let offset = (request.page - 1).saturating_mul(u64::from(request.page_size));
        let filter = &request.filter;
        let filtered = filter.categories.is_some()
            || filter.min_price.is_some()
            || filter.max_price.is_some()
            || filter.in_stock.is_some();
        let by_stock = request.ordering.is_some_and(ProductOrdering::is_by_stock);
        let (items, total) = match (&request.search, filtered || by_stock) {
            (Some(_), _) | (None, true) => {
                let hits = self
                    .indexer
                    .search(&SearchQuery {
                        text: request.search.clone().unwrap_or_default(),
                        filter: request.filter.clone(),
                        // Without text there is no relevance: the list's own default applies.
                        ordering: match &request.search {
                            Some(_) => request.ordering,
                            None => Some(request.ordering.unwrap_or_default()),
                        },
                        offset,
                        limit: request.page_size,
                    })
                    .await?;
                let mut found: HashMap<ProductId, Product> = self
                    .store
                    .products_by_ids(&hits.ids)
                    .await?
                    .into_iter()
                    .map(|p| (p.id, p))
                    .collect();
                // The index may lag another instance's write by a moment: what it matched is
                // shown as the store has it now, and never an inactive product to shoppers.
                let items = hits
                    .ids
                    .iter()
                    .filter_map(|id| found.remove(id))
                    .filter(|p| p.is_active || !request.filter.active_only)
                    .collect();
                (items, hits.total)
            }
            (None, false) => {
                let page = self
                    .store
                    .list_products(&ProductListQuery {
                        filter: request.filter.clone(),
                        ordering: request.ordering.unwrap_or_default(),
                        offset,
                        limit: request.page_size,
                    })
                    .await?;
                (page.items, page.total)
            }
        };
        if request.page > 1 && offset >= total {
            return Err(Error::page_out_of_range(
                total,
                u64::from(request.page_size),
            ));
        }
        Ok(ProductListPage {
            items,
            total,
            page: request.page,
            page_size: request.page_size,
        })
    }
}

fn is_staff(who: Option<Principal>) -> bool {
    who.is_some_and(|p| p.is_staff)
}

/// [`Error::PreconditionFailed`] on `what` unless `current` passes `if_matches`, the version
/// an `If-Match` names (anything passes without one).
fn require_version<T>(
    if_matches: Option<&(dyn Fn(&T) -> bool + Send + Sync + '_)>,
    current: &T,
    what: &'static str,
) -> Result<()> {
    match if_matches {
        Some(matches) if !matches(current) => Err(Error::PreconditionFailed(what)),
        _ => Ok(()),
    }
}

fn require_staff(who: Option<Principal>) -> Result<()> {
    match who {
        None => Err(Error::Unauthenticated(NO_CREDENTIALS)),
        Some(p) if p.is_staff => Ok(()),
        Some(_) => Err(Error::Forbidden),
    }
}

/// The category and every category below it; empty when it does not exist.
fn subtree(categories: &[Category], root: CategoryId) -> Vec<CategoryId> {
    if !categories.iter().any(|c| c.id == root) {
        return Vec::new();
    }
    let mut children: HashMap<CategoryId, Vec<CategoryId>> = HashMap::new();
    for category in categories {
        if let Some(parent) = category.parent {
            children.entry(parent).or_default().push(category.id);
        }
    }
    let mut found = vec![root];
    let mut seen = HashSet::from([root]);
    let mut next = 0;
    while let Some(&id) = found.get(next) {
        next += 1;
        for &child in children.get(&id).into_iter().flatten() {
            if seen.insert(child) {
                found.push(child);
            }
        }
    }
    found.sort();
    found
}

/// Whether making `parent` the parent of `category` would put it inside itself.
fn creates_cycle(categories: &[Category], category: CategoryId, parent: CategoryId) -> bool {
    subtree(categories, category).contains(&parent)
}

/// Records on `parent` when making it `category`'s parent would put the category inside
/// itself.
fn check_no_cycle(
    errors: &mut FieldErrors,
    tree: &[Category],
    category: CategoryId,
    parent: Option<CategoryId>,
) {
    if parent.is_some_and(|parent| creates_cycle(tree, category, parent)) {
        errors.add(
            "parent",
            "a category cannot be inside itself or its subcategories",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn category(id: i64, parent: Option<i64>) -> Category {
        Category {
            id: CategoryId(id),
            name: format!("c{id}"),
            slug: format!("c{id}"),
            description: String::new(),
            parent: parent.map(CategoryId),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn subtrees_and_cycles() {
        let tree = [
            category(1, None),
            category(2, Some(1)),
            category(3, Some(2)),
            category(4, None),
        ];
        assert_eq!(
            subtree(&tree, CategoryId(1)),
            [CategoryId(1), CategoryId(2), CategoryId(3)]
        );
        assert_eq!(subtree(&tree, CategoryId(4)), [CategoryId(4)]);
        assert!(subtree(&tree, CategoryId(9)).is_empty());
        assert!(creates_cycle(&tree, CategoryId(1), CategoryId(3)));
        assert!(creates_cycle(&tree, CategoryId(1), CategoryId(1)));
        assert!(!creates_cycle(&tree, CategoryId(3), CategoryId(4)));
    }
}
