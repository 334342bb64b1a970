//! `/api/categories/…` and `/api/products/…`: the catalogue, with the old shop's paths and
//! shapes. Reads are public and cached; writes are staff-only.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::http::StatusCode;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Serialize;

use super::ApiTags;
use super::cached::{Cached, IfMatch, JsonBytes, to_bytes};
use super::pagination::{Page, PageLinks};
use super::problem::{ApiError, Problem};
use super::security::{BearerAuth, OptionalBearer};
use super::types::{
    CategoryName, Constrained, Description, PageNumber, PageSize, Price, ProductName,
    ProductOrdering, Sku, Slug, Stock, Text,
};
use crate::Error;
use crate::domain::{Category, CategoryId, Currency, Money, Product, ProductId};
use crate::services::catalog::{
    CategoryInput, CategoryPrecondition, ProductInput, ProductListParams, ProductPrecondition,
    WriteMode,
};
use crate::services::{AuthService, CachedResponse, CatalogService, Principal};

/// A category.
#[derive(Object, Serialize, Debug)]
#[oai(rename = "Category")]
pub struct CategoryBody {
    /// Its id.
    pub id: i64,
    /// Its name, unique regardless of case.
    pub name: String,
    /// Its URL name, unique.
    pub slug: String,
    /// Free text.
    pub description: String,
    /// The id of the category it is in; null at the top level.
    #[oai(nullable)]
    pub parent: Option<i64>,
    /// When it was created (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<&Category> for CategoryBody {
    fn from(category: &Category) -> Self {
        Self {
            id: category.id.0,
            name: category.name.clone(),
            slug: category.slug.clone(),
            description: category.description.clone(),
            parent: category.parent.map(|p| p.0),
            created_at: category.created_at,
            updated_at: category.updated_at,
        }
    }
}

/// A new category, or all of a category's fields (PUT).
#[derive(Object, Debug)]
pub struct CategoryCreate {
    /// 1–100 characters, not all white space; unique regardless of case.
    pub name: Text<CategoryName>,
    /// Lowercase letters, digits and single hyphens; derived from the name when absent.
    #[oai(nullable)]
    pub slug: Option<Text<Slug>>,
    /// Free text; empty when absent.
    #[oai(nullable)]
    pub description: Option<Text<Description>>,
    /// The id of the parent category; absent or null for a top-level category.
    #[oai(nullable)]
    pub parent: Option<i64>,
}

/// Some of a category's fields (PATCH).
#[derive(Object, Debug)]
pub struct CategoryPatch {
    /// 1–100 characters, not all white space; unique regardless of case.
    #[oai(nullable)]
    pub name: Option<Text<CategoryName>>,
    /// Lowercase letters, digits and single hyphens.
    #[oai(nullable)]
    pub slug: Option<Text<Slug>>,
    /// Free text.
    #[oai(nullable)]
    pub description: Option<Text<Description>>,
    /// The id of the parent category; null moves it to the top level.
    #[oai(nullable)]
    pub parent: MaybeUndefined<i64>,
}

impl From<CategoryCreate> for CategoryInput {
    fn from(body: CategoryCreate) -> Self {
        Self {
            name: Some(body.name.into_string()),
            slug: body.slug.map(Text::into_string),
            description: body.description.map(Text::into_string),
            parent: Some(body.parent),
        }
    }
}

impl From<CategoryPatch> for CategoryInput {
    fn from(body: CategoryPatch) -> Self {
        Self {
            name: body.name.map(Text::into_string),
            slug: body.slug.map(Text::into_string),
            description: body.description.map(Text::into_string),
            parent: match body.parent {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(id) => Some(Some(id)),
            },
        }
    }
}

/// A product.
#[derive(Object, Serialize, Debug)]
#[oai(rename = "Product")]
pub struct ProductBody {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its URL name, unique.
    pub slug: String,
    /// Its stock-keeping unit, unique.
    pub sku: String,
    /// Free text.
    pub description: String,
    /// Its price as a decimal string in the shop's currency, e.g. "1500.00": exactly the
    /// currency's decimals (none, two or three), never a sign.
    #[oai(validator(pattern = r"^[0-9]+(\.[0-9]{2,3})?$"))]
    pub price: String,
    /// The id of its category.
    pub category: i64,
    /// Units in stock.
    pub stock: i64,
    /// Whether customers can see and buy it.
    pub is_active: bool,
    /// When it was created (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
}

impl ProductBody {
    fn new(product: &Product, currency: Currency) -> Self {
        Self {
            id: product.id.0,
            name: product.name.clone(),
            slug: product.slug.clone(),
            sku: product.sku.clone(),
            description: product.description.clone(),
            price: Money::from_minor(product.price_minor, currency).to_string(),
            category: product.category.0,
            stock: product.stock,
            is_active: product.is_active,
            created_at: product.created_at,
            updated_at: product.updated_at,
        }
    }
}

/// A new product, or all of a product's fields (PUT). Only the old shop's fields are required.
#[derive(Object, Debug)]
pub struct ProductCreate {
    /// 1–200 characters, not all white space.
    pub name: Text<ProductName>,
    /// Free text; empty when absent.
    #[oai(nullable)]
    pub description: Option<Text<Description>>,
    /// A decimal string with at most the currency's decimals, e.g. "1500.00"; at least 0.
    pub price: Text<Price>,
    /// The id of its category.
    pub category: i64,
    /// Units in stock.
    pub stock: Constrained<i64, Stock>,
    /// Lowercase letters, digits and single hyphens; derived from the name when absent.
    #[oai(nullable)]
    pub slug: Option<Text<Slug>>,
    /// Letters, digits, '.', '_' and '-'; generated when absent.
    #[oai(nullable)]
    pub sku: Option<Text<Sku>>,
    /// Whether customers can see it; true when absent.
    #[oai(nullable)]
    pub is_active: Option<bool>,
}

/// Some of a product's fields (PATCH).
#[derive(Object, Debug)]
pub struct ProductPatch {
    /// 1–200 characters, not all white space.
    #[oai(nullable)]
    pub name: Option<Text<ProductName>>,
    /// Free text.
    #[oai(nullable)]
    pub description: Option<Text<Description>>,
    /// A decimal string, e.g. "1500.00".
    #[oai(nullable)]
    pub price: Option<Text<Price>>,
    /// The id of its category.
    #[oai(nullable)]
    pub category: Option<i64>,
    /// Units in stock.
    #[oai(nullable)]
    pub stock: Option<Constrained<i64, Stock>>,
    /// Lowercase letters, digits and single hyphens.
    #[oai(nullable)]
    pub slug: Option<Text<Slug>>,
    /// Letters, digits, '.', '_' and '-'.
    #[oai(nullable)]
    pub sku: Option<Text<Sku>>,
    /// Whether customers can see it.
    #[oai(nullable)]
    pub is_active: Option<bool>,
}

impl From<ProductCreate> for ProductInput {
    fn from(body: ProductCreate) -> Self {
        Self {
            name: Some(body.name.into_string()),
            description: body.description.map(Text::into_string),
            price: Some(body.price.into_string()),
            category: Some(body.category),
            stock: Some(body.stock.get()),
            slug: body.slug.map(Text::into_string),
            sku: body.sku.map(Text::into_string),
            is_active: body.is_active,
        }
    }
}

impl From<ProductPatch> for ProductInput {
    fn from(body: ProductPatch) -> Self {
        Self {
            name: body.name.map(Text::into_string),
            description: body.description.map(Text::into_string),
            price: body.price.map(Text::into_string),
            category: body.category,
            stock: body.stock.map(|stock| stock.get()),
            slug: body.slug.map(Text::into_string),
            sku: body.sku.map(Text::into_string),
            is_active: body.is_active,
        }
    }
}

#[derive(ApiResponse)]
enum CreatedCategory {
    /// The category was created.
    #[oai(status = 201)]
    Created(JsonBytes<CategoryBody>),
}

#[derive(ApiResponse)]
enum UpdatedCategory {
    /// The category as it now is.
    #[oai(status = 200)]
    Ok(
        JsonBytes<CategoryBody>,
        /// The new entity tag, for the `If-Match` of a following change.
        #[oai(header = "ETag")]
        String,
    ),
    /// `If-Match` named another version of the category than the current one: someone changed
    /// it since. Read it again, and redo the change on what it now is.
    #[oai(status = 412, content_type = "application/problem+json")]
    PreconditionFailed(Json<Problem>),
}

#[derive(ApiResponse)]
enum CreatedProduct {
    /// The product was created.
    #[oai(status = 201)]
    Created(JsonBytes<ProductBody>),
}

#[derive(ApiResponse)]
enum UpdatedProduct {
    /// The product as it now is.
    #[oai(status = 200)]
    Ok(
        JsonBytes<ProductBody>,
        /// The new entity tag, for the `If-Match` of a following change.
        #[oai(header = "ETag")]
        String,
    ),
    /// `If-Match` named another version of the product than the current one: someone changed
    /// it since. Read it again, and redo the change on what it now is.
    #[oai(status = 412, content_type = "application/problem+json")]
    PreconditionFailed(Json<Problem>),
}

#[derive(ApiResponse)]
enum Deleted {
    /// It is gone.
    #[oai(status = 204)]
    Deleted,
    /// `If-Match` named another version than the current one: someone changed it since. Read
    /// it again before deciding to delete it.
    #[oai(status = 412, content_type = "application/problem+json")]
    PreconditionFailed(Json<Problem>),
}

/// The product catalogue.
pub struct CatalogApi {
    auth: AuthService,
    catalog: CatalogService,
}

impl CatalogApi {
    pub(crate) fn new(auth: AuthService, catalog: CatalogService) -> Self {
        Self { auth, catalog }
    }

    fn product_body(&self, product: &Product) -> Result<JsonBytes<ProductBody>, ApiError> {
        Ok(JsonBytes::of(&ProductBody::new(
            product,
            self.catalog.currency(),
        ))?)
    }

    /// A product's body as a staff `GET` sends it: what its entity tag is made from.
    fn product_bytes(&self) -> impl Fn(&Product) -> crate::Result<bytes::Bytes> + Send + Sync {
        let currency = self.catalog.currency();
        move |product| to_bytes(&ProductBody::new(product, currency))
    }

    /// Replaces or patches a product, on the condition `If-Match` states if any.
    async fn write_product(
        &self,
        who: Option<Principal>,
        id: i64,
        input: ProductInput,
        mode: WriteMode,
        if_match: Option<IfMatch>,
    ) -> Result<UpdatedProduct, ApiError> {
        let body = self.product_bytes();
        let matches = version_named(if_match, &body);
        let condition = matches.as_ref().map(|m| m as &ProductPrecondition<'_>);
        match self
            .catalog
            .update_product(who, ProductId(id), input, mode, condition)
            .await
        {
            Ok(product) => {
                let (body, etag) = tagged(body(&product)?);
                Ok(UpdatedProduct::Ok(body, etag))
            }
            Err(Error::PreconditionFailed(_)) => Ok(UpdatedProduct::PreconditionFailed(
                version_changed("product"),
            )),
            Err(error) => Err(error.into()),
        }
    }

    /// Replaces or patches a category, on the condition `If-Match` states if any.
    async fn write_category(
        &self,
        who: Option<Principal>,
        id: i64,
        input: CategoryInput,
        mode: WriteMode,
        if_match: Option<IfMatch>,
    ) -> Result<UpdatedCategory, ApiError> {
        let matches = version_named(if_match, category_bytes);
        let condition = matches.as_ref().map(|m| m as &CategoryPrecondition<'_>);
        match self
            .catalog
            .update_category(who, CategoryId(id), input, mode, condition)
            .await
        {
            Ok(category) => {
                let (body, etag) = tagged(category_bytes(&category)?);
                Ok(UpdatedCategory::Ok(body, etag))
            }
            Err(Error::PreconditionFailed(_)) => Ok(UpdatedCategory::PreconditionFailed(
                version_changed("category"),
            )),
            Err(error) => Err(error.into()),
        }
    }

    /// Serves `load` through the response cache when the answer is the same for everyone.
    async fn cached<F, Fut>(
        &self,
        public: bool,
        key: impl FnOnce(&str) -> String,
        load: F,
    ) -> crate::Result<CachedResponse>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = crate::Result<bytes::Bytes>> + Send + 'static,
    {
        if !public {
            return Ok(CachedResponse::new(load().await?));
        }
        let responses = self.catalog.responses();
        let generation = responses.generation().await;
        responses.get_or_load(key(&generation), load).await
    }
}

/// The check that a resource is still the version an `If-Match` header names, for a change
/// made only on that condition; `None` when the header names no version (absent, or `*`:
/// that the resource exists, which every change checks anyway). A version is the tag a staff
/// `GET` gives: that of the body it would send now, which `body` makes.
fn version_named<T>(
    if_match: Option<IfMatch>,
    body: impl Fn(&T) -> crate::Result<bytes::Bytes>,
) -> Option<impl Fn(&T) -> bool> {
    match if_match? {
        IfMatch::Exists => None,
        tags @ IfMatch::Version(_) => {
            Some(move |current: &T| body(current).is_ok_and(|body| tags.names(body)))
        }
    }
}

/// A category's body as a staff `GET` sends it: what its entity tag is made from.
fn category_bytes(category: &Category) -> crate::Result<bytes::Bytes> {
    to_bytes(&CategoryBody::from(category))
}

/// The answer to a delete made on the condition an `If-Match` header states.
fn deleted(outcome: crate::Result<()>, resource: &str) -> Result<Deleted, ApiError> {
    match outcome {
        Ok(()) => Ok(Deleted::Deleted),
        Err(Error::PreconditionFailed(_)) => {
            Ok(Deleted::PreconditionFailed(version_changed(resource)))
        }
        Err(error) => Err(error.into()),
    }
}

/// A changed resource's body, and the entity tag a following change's `If-Match` names.
fn tagged<T>(body: bytes::Bytes) -> (JsonBytes<T>, String) {
    let etag = CachedResponse::new(body.clone()).etag.to_string();
    (JsonBytes::new(body), etag)
}

/// The 412 for a change whose `If-Match` named a version `resource` no longer is.
fn version_changed(resource: &str) -> Json<Problem> {
    Json(Problem::from_status(
        StatusCode::PRECONDITION_FAILED,
        format!("the {resource} has changed since the version If-Match names; read it again"),
    ))
}

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Catalog")]
impl CatalogApi {
    /// List categories, by name.
    #[oai(
        path = "/categories/",
        method = "get",
        operation_id = "list_categories"
    )]
    async fn list_categories(
        &self,
        request: &Request,
        /// 1-based page number.
        page: Query<Option<Constrained<u64, PageNumber>>>,
        /// Categories per page (default 20, at most 100).
        page_size: Query<Option<Constrained<u64, PageSize>>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<Cached<Page<CategoryBody>>, ApiError> {
        let (page, page_size) = checked_page(
            page.0.map(|page| page.get()),
            page_size.0.map(|size| size.get()),
        )?;
        let links = PageLinks::new(request);
        let catalog = self.catalog.clone();
        let key_links = links.cache_key();
        let response = self
            .cached(
                true,
                |generation| {
                    format!("catalog:{generation}:categories:{page}:{page_size}:{key_links}")
                },
                move || async move {
                    let categories = catalog.categories().await?;
                    let total = categories.len() as u64;
                    let offset =
                        usize::try_from((page - 1).saturating_mul(page_size)).unwrap_or(usize::MAX);
                    if page > 1 && offset >= categories.len() {
                        return Err(crate::Error::page_out_of_range(total, page_size));
                    }
                    let results = categories
                        .iter()
                        .skip(offset)
                        .take(usize::try_from(page_size).unwrap_or(20))
                        .map(CategoryBody::from)
                        .collect();
                    let (next, previous) = links.around(page, page_size, total);
                    to_bytes(&Page {
                        count: total,
                        next,
                        previous,
                        results,
                    })
                },
            )
            .await?;
        Ok(Cached::respond(response, if_none_match.0.as_deref(), true))
    }

    /// Create a category (staff).
    #[oai(
        path = "/categories/",
        method = "post",
        operation_id = "create_category"
    )]
    async fn create_category(
        &self,
        auth: BearerAuth,
        body: Json<CategoryCreate>,
    ) -> Result<CreatedCategory, ApiError> {
        let who = Some(auth.principal(&self.auth)?);
        let category = self.catalog.create_category(who, body.0.into()).await?;
        Ok(CreatedCategory::Created(JsonBytes::of(
            &CategoryBody::from(&category),
        )?))
    }

    /// One category. Staff read the current version, past the response cache: its `ETag` is
    /// what a following change's `If-Match` names.
    #[oai(
        path = "/categories/:id/",
        method = "get",
        operation_id = "get_category"
    )]
    async fn get_category(
        &self,
        auth: OptionalBearer,
        id: Path<i64>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<Cached<CategoryBody>, ApiError> {
        let who = auth.principal(&self.auth)?;
        let public = !who.is_some_and(|p| p.is_staff);
        let id = CategoryId(id.0);
        let catalog = self.catalog.clone();
        let response = self
            .cached(
                public,
                |generation| format!("catalog:{generation}:category:{id}"),
                move || async move {
                    to_bytes(&CategoryBody::from(&catalog.category(who, id).await?))
                },
            )
            .await?;
        Ok(Cached::respond(
            response,
            if_none_match.0.as_deref(),
            public,
        ))
    }

    /// Replace a category (staff).
    #[oai(
        path = "/categories/:id/",
        method = "put",
        operation_id = "replace_category"
    )]
    async fn replace_category(
        &self,
        request: &Request,
        auth: BearerAuth,
        id: Path<i64>,
        /// The entity tag of the category as last read (a staff `GET` gives it): the change is
        /// made only if the category is still that version, else 412. `*` asks only that it
        /// exists. Several tags may be listed, in one line or several.
        // Declared for the spec; read by `IfMatch::from_headers`, over every line.
        #[oai(name = "If-Match")]
        _if_match: Header<Option<String>>,
        body: Json<CategoryCreate>,
    ) -> Result<UpdatedCategory, ApiError> {
        let who = Some(auth.principal(&self.auth)?);
        let input = body.0.into();
        let if_match = IfMatch::from_headers(request.headers())?;
        self.write_category(who, id.0, input, WriteMode::Replace, if_match)
            .await
    }

    /// Change some of a category's fields (staff).
    #[oai(
        path = "/categories/:id/",
        method = "patch",
        operation_id = "update_category"
    )]
    async fn update_category(
        &self,
        request: &Request,
        auth: BearerAuth,
        id: Path<i64>,
        /// As for `PUT`: made only if the category is still the version this tag names.
        // Declared for the spec; read by `IfMatch::from_headers`, over every line.
        #[oai(name = "If-Match")]
        _if_match: Header<Option<String>>,
        body: Json<CategoryPatch>,
    ) -> Result<UpdatedCategory, ApiError> {
        let who = Some(auth.principal(&self.auth)?);
        let input = body.0.into();
        let if_match = IfMatch::from_headers(request.headers())?;
        self.write_category(who, id.0, input, WriteMode::Patch, if_match)
            .await
    }

    /// Delete an empty category (staff).
    #[oai(
        path = "/categories/:id/",
        method = "delete",
        operation_id = "delete_category"
    )]
    async fn delete_category(
        &self,
        request: &Request,
        auth: BearerAuth,
        id: Path<i64>,
        /// The entity tag of the category as last read (a staff `GET` gives it): the category
        /// is deleted only if it is still that version, else 412. `*` asks only that it exists.
        /// Several tags may be listed, in one line or several.
        // Declared for the spec; read by `IfMatch::from_headers`, over every line.
        #[oai(name = "If-Match")]
        _if_match: Header<Option<String>>,
    ) -> Result<Deleted, ApiError> {
        let who = Some(auth.principal(&self.auth)?);
        let if_match = IfMatch::from_headers(request.headers())?;
        let matches = version_named(if_match, category_bytes);
        let condition = matches.as_ref().map(|m| m as &CategoryPrecondition<'_>);
        let outcome = self
            .catalog
            .delete_category(who, CategoryId(id.0), condition)
            .await;
        deleted(outcome, "category")
    }

    /// List, filter, order and search products. Staff also see inactive products.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/products/", method = "get", operation_id = "list_products")]
    async fn list_products(
        &self,
        request: &Request,
        auth: OptionalBearer,
        /// Full-text search over name, description and category name; ranked by relevance
        /// unless `ordering` is given. The last word also matches as a prefix.
        search: Query<Option<String>>,
        /// `price`, `-price`, `name`, `-name`, `created_at`, `-created_at`, `stock` or `-stock`;
        /// empty for the default (newest first, or relevance with `search`).
        ordering: Query<Option<Constrained<String, ProductOrdering>>>,
        /// A category id; products of its subcategories are included.
        category: Query<Option<i64>>,
        /// Lowest price, inclusive, as a decimal string.
        min_price: Query<Option<Constrained<String, Price>>>,
        /// Highest price, inclusive, as a decimal string.
        max_price: Query<Option<Constrained<String, Price>>>,
        /// Only products in stock (true) or out of stock (false).
        in_stock: Query<Option<bool>>,
        /// 1-based page number.
        page: Query<Option<Constrained<u64, PageNumber>>>,
        /// Products per page (default 20, at most 100).
        page_size: Query<Option<Constrained<u64, PageSize>>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<Cached<Page<ProductBody>>, ApiError> {
        let who = auth.principal(&self.auth)?;
        let list = self
            .catalog
            .list_request(
                who,
                ProductListParams {
                    search: search.0,
                    ordering: ordering.0.map(Constrained::into_inner),
                    category: category.0,
                    min_price: min_price.0.map(Constrained::into_inner),
                    max_price: max_price.0.map(Constrained::into_inner),
                    in_stock: in_stock.0,
                    page: page.0.map(|page| page.get()),
                    page_size: page_size.0.map(|size| size.get()),
                },
            )
            .await?;
        let public = list.filter.active_only;
        let links = PageLinks::new(request);
        // The checked request decides the results, the links decide the URLs they embed.
        let key = format!("{list:?}:{}", links.cache_key());
        let catalog = self.catalog.clone();
        let response = self
            .cached(
                public,
                |generation| format!("catalog:{generation}:products:{key}"),
                move || async move {
                    let page = catalog.list_products(&list).await?;
                    let currency = catalog.currency();
                    let (next, previous) =
                        links.around(page.page, u64::from(page.page_size), page.total);
                    to_bytes(&Page {
                        count: page.total,
                        next,
                        previous,
                        results: page
                            .items
                            .iter()
                            .map(|p| ProductBody::new(p, currency))
                            .collect(),
                    })
                },
            )
            .await?;
        Ok(Cached::respond(
            response,
            if_none_match.0.as_deref(),
            public,
        ))
    }

    /// Create a product (staff).
    #[oai(path = "/products/", method = "post", operation_id = "create_product")]
    async fn create_product(
        &self,
        auth: BearerAuth,
        body: Json<ProductCreate>,
    ) -> Result<CreatedProduct, ApiError> {
        let who = Some(auth.principal(&self.auth)?);
        let product = self.catalog.create_product(who, body.0.into()).await?;
        Ok(CreatedProduct::Created(self.product_body(&product)?))
    }

    /// One product. Inactive products exist only for staff.
    #[oai(path = "/products/:id/", method = "get", operation_id = "get_product")]
    async fn get_product(
        &self,
        auth: OptionalBearer,
        id: Path<i64>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<Cached<ProductBody>, ApiError> {
        let who = auth.principal(&self.auth)?;
        let public = !who.is_some_and(|p| p.is_staff);
        let id = ProductId(id.0);
        let catalog = self.catalog.clone();
        let response = self
            .cached(
                public,
                |generation| format!("catalog:{generation}:product:{id}"),
                move || async move {
                    let product = catalog.product(who, id).await?;
                    to_bytes(&ProductBody::new(&product, catalog.currency()))
                },
            )
            .await?;
        Ok(Cached::respond(
            response,
            if_none_match.0.as_deref(),
            public,
        ))
    }

    /// Replace a product (staff).
    #[oai(
        path = "/products/:id/",
        method = "put",
        operation_id = "replace_product"
    )]
    async fn replace_product(
        &self,
        request: &Request,
        auth: BearerAuth,
        id: Path<i64>,
        /// The entity tag of the product as last read (a staff `GET` gives it): the change is
        /// made only if the product is still that version, else 412. `*` asks only that it
        /// exists. Several tags may be listed, in one line or several.
        // Declared for the spec; read by `IfMatch::from_headers`, over every line.
        #[oai(name = "If-Match")]
        _if_match: Header<Option<String>>,
        body: Json<ProductCreate>,
    ) -> Result<UpdatedProduct, ApiError> {
        let who = Some(auth.principal(&self.auth)?);
        let input = body.0.into();
        let if_match = IfMatch::from_headers(request.headers())?;
        self.write_product(who, id.0, input, WriteMode::Replace, if_match)
            .await
    }

    /// Change some of a product's fields (staff).
    #[oai(
        path = "/products/:id/",
        method = "patch",
        operation_id = "update_product"
    )]
    async fn update_product(
        &self,
        request: &Request,
        auth: BearerAuth,
        id: Path<i64>,
        /// As for `PUT`: made only if the product is still the version this tag names.
        // Declared for the spec; read by `IfMatch::from_headers`, over every line.
        #[oai(name = "If-Match")]
        _if_match: Header<Option<String>>,
        body: Json<ProductPatch>,
    ) -> Result<UpdatedProduct, ApiError> {
        let who = Some(auth.principal(&self.auth)?);
        let input = body.0.into();
        let if_match = IfMatch::from_headers(request.headers())?;
        self.write_product(who, id.0, input, WriteMode::Patch, if_match)
            .await
    }

    /// Delete a product (staff).
    #[oai(
        path = "/products/:id/",
        method = "delete",
        operation_id = "delete_product"
    )]
    async fn delete_product(
        &self,
        request: &Request,
        auth: BearerAuth,
        id: Path<i64>,
        /// The entity tag of the product as last read (a staff `GET` gives it): the product is
        /// deleted only if it is still that version, else 412. `*` asks only that it exists.
        /// Several tags may be listed, in one line or several.
        // Declared for the spec; read by `IfMatch::from_headers`, over every line.
        #[oai(name = "If-Match")]
        _if_match: Header<Option<String>>,
    ) -> Result<Deleted, ApiError> {
        let who = Some(auth.principal(&self.auth)?);
        let if_match = IfMatch::from_headers(request.headers())?;
        let body = self.product_bytes();
        let matches = version_named(if_match, &body);
        let condition = matches.as_ref().map(|m| m as &ProductPrecondition<'_>);
        let outcome = self
            .catalog
            .delete_product(who, ProductId(id.0), condition)
            .await;
        deleted(outcome, "product")
    }
}

/// Checks `page` and `page_size` of lists paginated in memory.
fn checked_page(page: Option<u64>, page_size: Option<u64>) -> crate::Result<(u64, u64)> {
    let mut errors = crate::FieldErrors::default();
    let page = page.unwrap_or(1);
    if page == 0 {
        errors.add("page", "pages are numbered from 1");
    }
    let page_size = page_size.unwrap_or(20);
    if !(1..=100).contains(&page_size) {
        errors.add("page_size", "must be between 1 and 100");
    }
    errors.into_result()?;
    Ok((page, page_size))
}
