//! Orders: atomic checkout, idempotent placement, and status changes.

use async_trait::async_trait;

use super::queue::NewTask;
use crate::domain::{
    CartItemId, Order, OrderId, OrderItem, OrderStatus, ProductId, Timestamp, UserId,
};
use crate::error::Result;

/// A cart line an order takes units from, and how many: the line as the service read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartLineTaken {
    /// The line.
    pub item: CartItemId,
    /// How many units of it the order takes.
    pub quantity: i64,
}

/// An `Idempotency-Key` and what identifies the request it was first sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The client's key.
    pub key: String,
    /// A digest of the request, to tell a retry from a different request under the same key.
    pub fingerprint: String,
}

/// An order to place: lines priced and totalled by the service from the cart it read.
pub struct NewOrder {
    /// Who places it.
    pub user_id: UserId,
    /// The lines, each with the name and unit price read from the catalogue.
    pub items: Vec<OrderItem>,
    /// Sum of the lines, in minor units.
    pub subtotal_minor: i64,
    /// What the customer pays, in minor units.
    pub total_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// As the client sent it.
    pub shipping_address: Option<serde_json::Value>,
    /// The customer's note.
    pub note: String,
    /// The cart lines the order takes, each by the quantity the service read. In the same
    /// transaction each of these lines of the buyer's cart loses that quantity, and one left
    /// with none is removed: a line that grew while the order was placed (the same product
    /// added from another tab) keeps what was added, rather than losing it unordered.
    pub cart_items: Vec<CartLineTaken>,
    /// The client's idempotency key, if any.
    pub idempotency: Option<IdempotencyKey>,
    /// The notification to queue in the same transaction (the outbox: never lost for a
    /// committed order, never sent for a rolled-back one). Its payload is a JSON object, and
    /// the store sets its [`ORDER_ID_MEMBER`] to the new order's id, which exists only once
    /// the order is stored: a store can then write the order and its task in one statement.
    pub notification: NewTask,
}

/// The member of an order notification's payload that the store sets to the order's id.
pub const ORDER_ID_MEMBER: &str = "order";

/// `task` with its payload's [`ORDER_ID_MEMBER`] set to `order`, for a store that learns the
/// new order's id before it writes the task. A payload that is not a JSON object is left as
/// it is: there is nowhere to put the id.
pub fn notification_for(mut task: NewTask, order: OrderId) -> NewTask {
    if let Some(payload) = task.payload.as_object_mut() {
        payload.insert(ORDER_ID_MEMBER.into(), order.0.into());
    }
    task
}

/// Why a line could not be bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutProblemKind {
    /// Fewer units in stock than asked for.
    Shortage,
    /// The product was deleted or deactivated.
    Unavailable,
    /// The price changed since the cart was read; the shopper should look again.
    PriceChanged,
}

/// One line that stopped a checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutProblem {
    /// The product.
    pub product: ProductId,
    /// How many were asked for.
    pub requested: i64,
    /// How many are in stock now (0 when unavailable).
    pub available: i64,
    /// What is wrong.
    pub kind: CheckoutProblemKind,
}

impl CheckoutProblem {
    /// Why `requested` units of `product`, at the `unit_price_minor` the cart was read at,
    /// could not be taken, given the product as the store finds it now (`None`: it no longer
    /// exists): gone or inactive, it is unavailable; at another price, its price changed;
    /// otherwise there is too little in stock.
    pub fn judge(
        product: ProductId,
        requested: i64,
        unit_price_minor: i64,
        now: Option<ProductNow>,
    ) -> Self {
        let (available, kind) = match now {
            Some(now) if now.is_active && now.price_minor != unit_price_minor => {
                (now.stock, CheckoutProblemKind::PriceChanged)
            }
            Some(now) if now.is_active => (now.stock, CheckoutProblemKind::Shortage),
            _ => (0, CheckoutProblemKind::Unavailable),
        };
        Self {
            product,
            requested,
            available,
            kind,
        }
    }
}

/// A product as a refused checkout finds it, for [`CheckoutProblem::judge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductNow {
    /// Units in stock.
    pub stock: i64,
    /// Whether shoppers may buy it.
    pub is_active: bool,
    /// Its price, in minor units.
    pub price_minor: i64,
}

/// What became of a placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceOrderOutcome {
    /// The order was placed: stock taken, cart lines removed, notification queued.
    Placed(Order),
    /// An order already exists under the idempotency key; nothing was changed.
    Duplicate {
        /// The existing order.
        order: OrderId,
        /// The fingerprint it was placed with.
        fingerprint: String,
    },
    /// Some lines cannot be bought; nothing was changed.
    Rejected(Vec<CheckoutProblem>),
}

/// Which orders to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderListQuery {
    /// Only this user's orders.
    pub user: Option<UserId>,
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// How many to skip (newest first).
    pub offset: u64,
    /// How many at most.
    pub limit: u32,
}

/// Stores orders and performs checkout atomically.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Places an order in one transaction, all or nothing: takes stock with conditional
    /// decrements that never go below zero (only if each product is still active at the
    /// expected price), records the order and its lines, removes the consumed cart lines,
    /// records the idempotency key and queues the notification. Of concurrent placements with
    /// one key, exactly one is `Placed`; the others are `Duplicate`.
    async fn place_order(&self, order: NewOrder) -> Result<PlaceOrderOutcome>;

    /// The order with this id.
    async fn find_order(&self, id: OrderId) -> Result<Option<Order>>;

    /// The order placed under `key` by `user`, and its fingerprint.
    async fn find_order_by_key(&self, user: UserId, key: &str)
    -> Result<Option<(OrderId, String)>>;

    /// A page of orders, newest first, and how many match.
    async fn list_orders(&self, query: &OrderListQuery) -> Result<(Vec<Order>, u64)>;

    /// Moves an order from `from` to `to`, returning stock to the catalogue if `restock`, in
    /// one transaction. `None` (and no change) when the order is not in `from` any more.
    async fn change_status(
        &self,
        id: OrderId,
        from: OrderStatus,
        to: OrderStatus,
        restock: bool,
    ) -> Result<Option<Order>>;

    /// Forgets idempotency keys recorded before `before`; returns how many.
    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(payload: serde_json::Value) -> NewTask {
        NewTask {
            job: "confirm".into(),
            payload,
            run_at: chrono::Utc::now(),
            max_attempts: 1,
        }
    }

    #[test]
    fn a_refused_line_is_judged_by_the_product_as_it_is_now() {
        let judge = |now| CheckoutProblem::judge(ProductId(3), 4, 250, now).kind;
        let now = |stock, is_active, price_minor| {
            Some(ProductNow {
                stock,
                is_active,
                price_minor,
            })
        };
        assert_eq!(judge(None), CheckoutProblemKind::Unavailable);
        assert_eq!(judge(now(9, false, 250)), CheckoutProblemKind::Unavailable);
        assert_eq!(judge(now(9, true, 300)), CheckoutProblemKind::PriceChanged);
        assert_eq!(judge(now(2, true, 250)), CheckoutProblemKind::Shortage);
        let short = CheckoutProblem::judge(ProductId(3), 4, 250, now(2, true, 250));
        assert_eq!((short.requested, short.available), (4, 2));
        let gone = CheckoutProblem::judge(ProductId(3), 4, 250, now(9, false, 250));
        assert_eq!(
            gone.available, 0,
            "nothing of an inactive product is available"
        );
    }

    #[test]
    fn the_order_id_goes_into_an_object_payload_and_nowhere_else() {
        let filled = notification_for(task(serde_json::json!({"order": 0, "kept": 1})), OrderId(7));
        assert_eq!(filled.payload, serde_json::json!({"order": 7, "kept": 1}));
        let added = notification_for(task(serde_json::json!({})), OrderId(7));
        assert_eq!(added.payload, serde_json::json!({"order": 7}));
        let scalar = notification_for(task(serde_json::json!([1])), OrderId(7));
        assert_eq!(scalar.payload, serde_json::json!([1]));
    }
}
