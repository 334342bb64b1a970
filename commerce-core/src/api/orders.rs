//! `/api/cart/…` and `/api/orders/…`: the shopper's cart, checkout, and the order life cycle.
//! Every operation needs a bearer token; shoppers see only their own cart and orders.

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::ApiTags;
use super::pagination::{Page, PageLinks};
use super::problem::ApiError;
use super::security::BearerAuth;
use super::types::{Constrained, IdempotencyKey, Note, PageNumber, PageSize, Quantity, Text};
use crate::domain::{CartItemId, Currency, Money, Order, OrderId, OrderStatus, ProductId, UserId};
use crate::services::cart::CartView;
use crate::services::orders::{Checkout, OrderFilter};
use crate::services::{AuthService, CartService, OrderService};

/// A line of the cart, priced now.
#[derive(Object, serde::Serialize, Debug)]
pub struct CartItemBody {
    /// The line's id.
    pub id: i64,
    /// The product's id.
    pub product: i64,
    /// The product's current name (empty if it was deleted).
    pub product_name: String,
    /// The product's current price, e.g. "12.50".
    #[oai(validator(pattern = r"^[0-9]+(\.[0-9]{2,3})?$"))]
    pub unit_price: String,
    /// How many.
    pub quantity: i64,
    /// Unit price times quantity.
    #[oai(validator(pattern = r"^[0-9]+(\.[0-9]{2,3})?$"))]
    pub line_total: String,
    /// False when the product was deleted or is no longer for sale: remove the line to check
    /// out.
    pub available: bool,
}

/// The shopper's cart.
#[derive(Object, serde::Serialize, Debug)]
#[oai(rename = "Cart")]
pub struct CartBody {
    /// The cart's id.
    pub id: i64,
    /// Its lines, oldest first.
    pub items: Vec<CartItemBody>,
    /// Units in the cart.
    pub item_count: i64,
    /// Sum of the available lines.
    #[oai(validator(pattern = r"^[0-9]+(\.[0-9]{2,3})?$"))]
    pub subtotal: String,
    /// ISO 4217 code of the amounts.
    pub currency: String,
}

impl From<CartView> for CartBody {
    fn from(cart: CartView) -> Self {
        let money = |minor| Money::from_minor(minor, cart.currency).to_string();
        Self {
            id: cart.id.0,
            item_count: cart.item_count,
            subtotal: money(cart.subtotal_minor),
            currency: cart.currency.code().to_owned(),
            items: cart
                .lines
                .into_iter()
                .map(|line| CartItemBody {
                    id: line.id.0,
                    product: line.product.0,
                    product_name: line.product_name,
                    unit_price: money(line.unit_price_minor),
                    quantity: line.quantity,
                    line_total: money(line.line_total_minor),
                    available: line.available,
                })
                .collect(),
        }
    }
}

/// Units of a product to add.
#[derive(Object, Debug)]
pub struct AddToCart {
    /// The product's id.
    pub product: i64,
    /// How many, 1–1000; added to any already in the cart.
    pub quantity: Constrained<i64, Quantity>,
}

/// A line's new quantity.
#[derive(Object, Debug)]
pub struct SetQuantity {
    /// How many, 1–1000.
    pub quantity: Constrained<i64, Quantity>,
}

/// Where an order is in its life.
#[derive(Enum, serde::Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum OrderStatusBody {
    /// Placed, not yet paid.
    Pending,
    /// Paid, not yet shipped.
    Paid,
    /// On its way.
    Shipped,
    /// Arrived.
    Delivered,
    /// Called off; its stock was returned.
    Cancelled,
}

impl From<OrderStatus> for OrderStatusBody {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Pending => Self::Pending,
            OrderStatus::Paid => Self::Paid,
            OrderStatus::Shipped => Self::Shipped,
            OrderStatus::Delivered => Self::Delivered,
            OrderStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl From<OrderStatusBody> for OrderStatus {
    fn from(status: OrderStatusBody) -> Self {
        match status {
            OrderStatusBody::Pending => Self::Pending,
            OrderStatusBody::Paid => Self::Paid,
            OrderStatusBody::Shipped => Self::Shipped,
            OrderStatusBody::Delivered => Self::Delivered,
            OrderStatusBody::Cancelled => Self::Cancelled,
        }
    }
}

/// A line of an order, as it was sold.
#[derive(Object, serde::Serialize, Debug)]
pub struct OrderItemBody {
    /// The product's id.
    pub product: i64,
    /// Its name when ordered.
    pub product_name: String,
    /// Its price when ordered.
    #[oai(validator(pattern = r"^[0-9]+(\.[0-9]{2,3})?$"))]
    pub unit_price: String,
    /// How many.
    pub quantity: i64,
    /// Unit price times quantity.
    #[oai(validator(pattern = r"^[0-9]+(\.[0-9]{2,3})?$"))]
    pub line_total: String,
}

/// An order.
#[derive(Object, serde::Serialize, Debug)]
#[oai(rename = "Order")]
pub struct OrderBody {
    /// Its id.
    pub id: i64,
    /// The customer's user id.
    pub user: i64,
    // Where it is in its life (a plain comment, as in `StatusChange`).
    pub status: OrderStatusBody,
    /// What was bought.
    pub items: Vec<OrderItemBody>,
    /// Sum of the lines.
    #[oai(validator(pattern = r"^[0-9]+(\.[0-9]{2,3})?$"))]
    pub subtotal: String,
    /// What the customer pays.
    #[oai(validator(pattern = r"^[0-9]+(\.[0-9]{2,3})?$"))]
    pub total: String,
    /// ISO 4217 code of the amounts.
    pub currency: String,
    /// Where to ship, as sent at checkout.
    #[oai(nullable)]
    pub shipping_address: Option<serde_json::Value>,
    /// The customer's note.
    pub note: String,
    /// When it was placed (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// When its status last changed (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
}

impl OrderBody {
    fn new(order: Order, currency: Currency) -> Self {
        let currency = Currency::from_code(&order.currency).unwrap_or(currency);
        let money = |minor| Money::from_minor(minor, currency).to_string();
        Self {
            id: order.id.0,
            user: order.user_id.0,
            status: order.status.into(),
            items: order
                .items
                .iter()
                .map(|item| OrderItemBody {
                    product: item.product_id.0,
                    product_name: item.product_name.clone(),
                    unit_price: money(item.unit_price_minor),
                    quantity: item.quantity,
                    line_total: money(item.line_total_minor()),
                })
                .collect(),
            subtotal: money(order.subtotal_minor),
            total: money(order.total_minor),
            currency: order.currency,
            shipping_address: order.shipping_address,
            note: order.note,
            created_at: order.created_at,
            updated_at: order.updated_at,
        }
    }
}

/// Optional details of a checkout.
#[derive(Object, Debug, Default)]
pub struct PlaceOrderRequest {
    /// Where to ship: an object of the client's design, kept as sent.
    #[oai(nullable)]
    pub shipping_address: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    /// A note for the shop, at most 2000 characters.
    #[oai(nullable)]
    pub note: Option<Text<Note>>,
}

/// A status to move an order to.
#[derive(Object, Debug)]
pub struct StatusChange {
    // The new status. A plain comment: a described enum field becomes `allOf` in the spec,
    // which generated clients (openapi-python-client) refuse.
    pub status: OrderStatusBody,
}

#[derive(ApiResponse)]
enum CartResponse {
    /// The cart.
    #[oai(status = 200)]
    Ok(Json<CartBody>),
}

#[derive(ApiResponse)]
enum CartChanged {
    /// The product was added; the cart as it now is.
    #[oai(status = 201)]
    Created(Json<CartBody>),
}

#[derive(ApiResponse)]
enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

#[derive(ApiResponse)]
enum PlacedResponse {
    /// The order was placed (or, for a retry with the same Idempotency-Key, the original).
    #[oai(status = 201)]
    Created(Json<OrderBody>),
}

#[derive(ApiResponse)]
enum OrderResponse {
    /// The order.
    #[oai(status = 200)]
    Ok(Json<OrderBody>),
}

#[derive(ApiResponse)]
enum OrdersResponse {
    /// A page of orders, newest first.
    #[oai(status = 200)]
    Ok(Json<Page<OrderBody>>),
}

/// The cart and orders.
pub struct OrdersApi {
    auth: AuthService,
    carts: CartService,
    orders: OrderService,
}

impl OrdersApi {
    pub(crate) fn new(auth: AuthService, carts: CartService, orders: OrderService) -> Self {
        Self {
            auth,
            carts,
            orders,
        }
    }

    fn order(&self, order: Order) -> OrderBody {
        OrderBody::new(order, self.orders.currency())
    }
}

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Orders")]
impl OrdersApi {
    /// The caller's cart, at current prices.
    #[oai(path = "/cart/", method = "get", operation_id = "get_cart")]
    async fn cart(&self, token: BearerAuth) -> Result<CartResponse, ApiError> {
        let who = token.principal(&self.auth)?;
        Ok(CartResponse::Ok(Json(self.carts.view(who).await?.into())))
    }

    /// Empty the cart.
    #[oai(path = "/cart/", method = "delete", operation_id = "clear_cart")]
    async fn clear_cart(&self, token: BearerAuth) -> Result<NoContent, ApiError> {
        let who = token.principal(&self.auth)?;
        self.carts.clear(who).await?;
        Ok(NoContent::Done)
    }

    /// Add units of a product; a product already in the cart gets more units.
    #[oai(path = "/cart/items/", method = "post", operation_id = "add_to_cart")]
    async fn add(&self, token: BearerAuth, body: Json<AddToCart>) -> Result<CartChanged, ApiError> {
        let who = token.principal(&self.auth)?;
        let cart = self
            .carts
            .add(who, ProductId(body.product), body.quantity.get())
            .await?;
        Ok(CartChanged::Created(Json(cart.into())))
    }

    /// Set a line's quantity.
    #[oai(
        path = "/cart/items/:id/",
        method = "patch",
        operation_id = "set_cart_quantity"
    )]
    async fn set_quantity(
        &self,
        token: BearerAuth,
        id: Path<i64>,
        body: Json<SetQuantity>,
    ) -> Result<CartResponse, ApiError> {
        let who = token.principal(&self.auth)?;
        let cart = self
            .carts
            .set_quantity(who, CartItemId(id.0), body.quantity.get())
            .await?;
        Ok(CartResponse::Ok(Json(cart.into())))
    }

    /// Remove a line.
    #[oai(
        path = "/cart/items/:id/",
        method = "delete",
        operation_id = "remove_cart_item"
    )]
    async fn remove(&self, token: BearerAuth, id: Path<i64>) -> Result<NoContent, ApiError> {
        let who = token.principal(&self.auth)?;
        self.carts.remove(who, CartItemId(id.0)).await?;
        Ok(NoContent::Done)
    }

    /// Place an order from the cart, all or nothing. Send an `Idempotency-Key` to make
    /// retries safe: the same key answers the original order.
    #[oai(path = "/orders/", method = "post", operation_id = "place_order")]
    async fn place(
        &self,
        token: BearerAuth,
        /// Any unique string (a UUID): retries with the same key never place a second order.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<Constrained<String, IdempotencyKey>>>,
        body: Json<Option<PlaceOrderRequest>>,
    ) -> Result<PlacedResponse, ApiError> {
        let who = token.principal(&self.auth)?;
        let body = body.0.unwrap_or_default();
        let placed = self
            .orders
            .place(
                who,
                Checkout {
                    idempotency_key: idempotency_key.0.map(Constrained::into_inner),
                    shipping_address: body
                        .shipping_address
                        .map(|fields| serde_json::Value::Object(fields.into_iter().collect())),
                    note: body.note.map(Text::into_string),
                },
            )
            .await?;
        Ok(PlacedResponse::Created(Json(self.order(placed.order))))
    }

    /// The caller's orders, newest first; staff see everyone's and may filter.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/orders/", method = "get", operation_id = "list_orders")]
    async fn list(
        &self,
        request: &Request,
        token: BearerAuth,
        /// Staff only: orders in this status.
        status: Query<Option<OrderStatusBody>>,
        /// Staff only: this user's orders.
        user: Query<Option<i64>>,
        /// 1-based page number.
        page: Query<Option<Constrained<u64, PageNumber>>>,
        /// Orders per page (default 20, at most 100).
        page_size: Query<Option<Constrained<u64, PageSize>>>,
    ) -> Result<OrdersResponse, ApiError> {
        let who = token.principal(&self.auth)?;
        let mut errors = crate::FieldErrors::default();
        let page = page.0.map_or(1, |page| page.get());
        if page == 0 {
            errors.add("page", "pages are numbered from 1");
        }
        let page_size = page_size.0.map_or(20, |size| size.get());
        if !(1..=100).contains(&page_size) {
            errors.add("page_size", "must be between 1 and 100");
        }
        errors.into_result()?;
        let (orders, total) = self
            .orders
            .list(
                who,
                OrderFilter {
                    status: status.0.map(Into::into),
                    user: user.0.map(UserId),
                    page,
                    page_size: u32::try_from(page_size).unwrap_or(20),
                },
            )
            .await?;
        let (next, previous) = PageLinks::new(request).around(page, page_size, total);
        Ok(OrdersResponse::Ok(Json(Page {
            count: total,
            next,
            previous,
            results: orders.into_iter().map(|o| self.order(o)).collect(),
        })))
    }

    /// One order: the caller's own, or any for staff.
    #[oai(path = "/orders/:id/", method = "get", operation_id = "get_order")]
    async fn get(&self, token: BearerAuth, id: Path<i64>) -> Result<OrderResponse, ApiError> {
        let who = token.principal(&self.auth)?;
        let order = self.orders.get(who, OrderId(id.0)).await?;
        Ok(OrderResponse::Ok(Json(self.order(order))))
    }

    /// Cancel an order and return its stock: its customer while pending, staff while pending
    /// or paid.
    #[oai(
        path = "/orders/:id/cancel/",
        method = "post",
        operation_id = "cancel_order"
    )]
    async fn cancel(&self, token: BearerAuth, id: Path<i64>) -> Result<OrderResponse, ApiError> {
        let who = token.principal(&self.auth)?;
        let order = self.orders.cancel(who, OrderId(id.0)).await?;
        Ok(OrderResponse::Ok(Json(self.order(order))))
    }

    /// Move an order along its life cycle (staff): pending → paid → shipped → delivered, or
    /// pending | paid → cancelled. Anything else is 409.
    #[oai(
        path = "/orders/:id/",
        method = "patch",
        operation_id = "set_order_status"
    )]
    async fn set_status(
        &self,
        token: BearerAuth,
        id: Path<i64>,
        body: Json<StatusChange>,
    ) -> Result<OrderResponse, ApiError> {
        let who = token.principal(&self.auth)?;
        let order = self
            .orders
            .set_status(who, OrderId(id.0), body.status.into())
            .await?;
        Ok(OrderResponse::Ok(Json(self.order(order))))
    }
}
