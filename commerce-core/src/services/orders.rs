//! Checkout and the order life cycle: the rules for placing, reading, cancelling and moving
//! orders, and the confirmation e-mail.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::cart::CartService;
use super::digest::sha256_hex;
use super::jobs::{BackgroundJob, JobQueue};
use super::response_cache::ResponseCache;
use super::tokens::Principal;
use crate::domain::{Currency, Money, Order, OrderId, OrderItem, OrderStatus, UserId};
use crate::error::{Error, Result};
use crate::ports::{
    CartLineTaken, CheckoutProblem, CheckoutProblemKind, IdempotencyKey, Mailer, NewOrder, NewTask,
    OrderListQuery, OrderStore, OutgoingMail, PlaceOrderOutcome, UserStore,
};

/// The longest `Idempotency-Key` accepted.
const KEY_MAX_CHARS: usize = 255;
/// The longest order note accepted.
const NOTE_MAX_CHARS: usize = 2_000;

/// What a client sends to place an order, besides its cart.
#[derive(Debug, Clone, Default)]
pub struct Checkout {
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// Where to ship, as the client structures it.
    pub shipping_address: Option<serde_json::Value>,
    /// A note for the shop.
    pub note: Option<String>,
}

/// An order just placed, or the one an idempotent retry refers to.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The order.
    pub order: Order,
    /// False when this was a retry answered with the original order.
    pub created: bool,
}

/// Which orders to list, as the API asks.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Staff only: this status.
    pub status: Option<OrderStatus>,
    /// Staff only: this user's orders.
    pub user: Option<UserId>,
    /// 1-based page.
    pub page: u64,
    /// Orders per page.
    pub page_size: u32,
}

/// Orders and checkout.
#[derive(Clone)]
pub struct OrderService {
    orders: Arc<dyn OrderStore>,
    carts: CartService,
    jobs: JobQueue,
    /// Catalogue responses show stock, which checkouts and cancellations change.
    responses: ResponseCache,
    currency: Currency,
}

impl OrderService {
    /// The service over the order store and the cart service.
    pub fn new(
        orders: Arc<dyn OrderStore>,
        carts: CartService,
        jobs: JobQueue,
        responses: ResponseCache,
        currency: Currency,
    ) -> Self {
        Self {
            orders,
            carts,
            jobs,
            responses,
            currency,
        }
    }

    /// Places an order from the caller's cart, all or nothing.
    ///
    /// Refused when the cart is empty (400), when a line cannot be bought (409 listing the
    /// products and what is available), or when an idempotency key is reused for a different
    /// request (422). A retry with the same key answers the original order.
    pub async fn place(&self, who: Principal, checkout: Checkout) -> Result<Placed> {
        let note = checkout.note.unwrap_or_default();
        if note.chars().count() > NOTE_MAX_CHARS {
            return Err(Error::invalid(
                "note",
                format!("ensure this field has no more than {NOTE_MAX_CHARS} characters"),
            ));
        }
        if let Some(address) = &checkout.shipping_address
            && contains_nul(address)
        {
            return Err(Error::invalid(
                "shipping_address",
                "text may not contain the NUL character (U+0000)",
            ));
        }
        let key = match checkout.idempotency_key {
            Some(key) => Some(check_key(key)?),
            None => None,
        };
        let fingerprint = fingerprint(&checkout.shipping_address, &note);
        if let Some(key) = &key
            && let Some((order, original)) = self.orders.find_order_by_key(who.user_id, key).await?
        {
            return self.replay(who, order, &original, &fingerprint).await;
        }

        let lines = self.carts.lines(who).await?;
        if lines.is_empty() {
            // A concurrent duplicate may have consumed the cart since the key was looked up.
            if let Some(key) = &key
                && let Some((order, original)) =
                    self.orders.find_order_by_key(who.user_id, key).await?
            {
                return self.replay(who, order, &original, &fingerprint).await;
            }
            return Err(Error::invalid("cart", "your cart is empty"));
        }
        let mut problems = Vec::new();
        let mut items = Vec::with_capacity(lines.len());
        for line in &lines {
            match line.product.as_ref().filter(|p| p.is_active) {
                None => problems.push(CheckoutProblem {
                    product: line.product_id,
                    requested: line.quantity,
                    available: 0,
                    kind: CheckoutProblemKind::Unavailable,
                }),
                Some(product) if product.stock < line.quantity => problems.push(CheckoutProblem {
                    product: line.product_id,
                    requested: line.quantity,
                    available: product.stock,
                    kind: CheckoutProblemKind::Shortage,
                }),
                Some(product) => items.push(OrderItem {
                    product_id: product.id,
                    product_name: product.name.clone(),
                    unit_price_minor: product.price_minor,
                    quantity: line.quantity,
                }),
            }
        }
        if !problems.is_empty() {
            return Err(Error::StockShortage(problems));
        }
        let subtotal = items
            .iter()
            .try_fold(Money::zero(self.currency), |sum, item| {
                Money::from_minor(item.unit_price_minor, self.currency)
                    .checked_mul(item.quantity)
                    .and_then(|line| sum.checked_add(line))
            });
        let subtotal = subtotal.map_err(|e| Error::invalid("cart", e.to_string()))?;
        let placed = PlacedOrder::new(who.user_id, &items, subtotal.minor(), self.currency.code());
        let outcome = self
            .orders
            .place_order(NewOrder {
                user_id: who.user_id,
                items,
                subtotal_minor: subtotal.minor(),
                total_minor: subtotal.minor(),
                currency: self.currency.code().to_owned(),
                shipping_address: checkout.shipping_address,
                note,
                cart_items: lines
                    .iter()
                    .map(|line| CartLineTaken {
                        item: line.id,
                        quantity: line.quantity,
                    })
                    .collect(),
                idempotency: key.clone().map(|key| IdempotencyKey {
                    key,
                    fingerprint: fingerprint.clone(),
                }),
                // The store sets `order` (ports::ORDER_ID_MEMBER) to the new order's id.
                notification: SendOrderConfirmation {
                    order: OrderId(0),
                    placed: Some(placed),
                }
                .as_task(),
            })
            .await?;
        match outcome {
            PlaceOrderOutcome::Placed(order) => {
                self.responses.invalidate_all().await;
                // The task was queued in the order's transaction; this only hurries the worker.
                self.jobs.wake();
                Ok(Placed {
                    order,
                    created: true,
                })
            }
            PlaceOrderOutcome::Duplicate {
                order,
                fingerprint: original,
            } => self.replay(who, order, &original, &fingerprint).await,
            PlaceOrderOutcome::Rejected(problems) => {
                // A concurrent placement under the same key may have committed between this
                // one's look-up and its turn at the stock, taking the units it wanted: that
                // order is this retry's answer, not a shortage.
                if let Some(key) = &key
                    && let Some((order, original)) =
                        self.orders.find_order_by_key(who.user_id, key).await?
                {
                    return self.replay(who, order, &original, &fingerprint).await;
                }
                Err(Error::StockShortage(problems))
            }
        }
    }

    /// Answers a retry with the order first placed under its key, unless the retry is a
    /// different request: another body, or a cart that is not empty and not what was ordered.
    async fn replay(
        &self,
        who: Principal,
        id: OrderId,
        original: &str,
        fingerprint: &str,
    ) -> Result<Placed> {
        let order = self
            .orders
            .find_order(id)
            .await?
            .ok_or(Error::NotFound("order"))?;
        let mismatch = || {
            Error::Unprocessable(
                "this Idempotency-Key was already used for a different request; use a new key"
                    .into(),
            )
        };
        if original != fingerprint {
            return Err(mismatch());
        }
        let lines = self.carts.lines(who).await?;
        let mut in_cart: Vec<_> = lines.iter().map(|l| (l.product_id, l.quantity)).collect();
        let mut ordered: Vec<_> = order
            .items
            .iter()
            .map(|i| (i.product_id, i.quantity))
            .collect();
        in_cart.sort();
        ordered.sort();
        if !in_cart.is_empty() && in_cart != ordered {
            return Err(mismatch());
        }
        Ok(Placed {
            order,
            created: false,
        })
    }

    /// One order: the owner's or, for staff, anyone's. Others get `NotFound`, not `Forbidden`,
    /// so order ids reveal nothing.
    pub async fn get(&self, who: Principal, id: OrderId) -> Result<Order> {
        self.orders
            .find_order(id)
            .await?
            .filter(|order| who.is_staff || order.user_id == who.user_id)
            .ok_or(Error::NotFound("order"))
    }

    /// A page of orders, newest first: the caller's own, or for staff any (filterable).
    pub async fn list(&self, who: Principal, filter: OrderFilter) -> Result<(Vec<Order>, u64)> {
        if !who.is_staff && (filter.status.is_some() || filter.user.is_some()) {
            return Err(Error::Forbidden);
        }
        let (orders, total) = self
            .orders
            .list_orders(&OrderListQuery {
                user: if who.is_staff {
                    filter.user
                } else {
                    Some(who.user_id)
                },
                status: filter.status,
                offset: filter
                    .page
                    .saturating_sub(1)
                    .saturating_mul(u64::from(filter.page_size)),
                limit: filter.page_size,
            })
            .await?;
        if filter.page > 1 && orders.is_empty() {
            return Err(Error::page_out_of_range(total, u64::from(filter.page_size)));
        }
        Ok((orders, total))
    }

    /// Cancels an order and returns its stock: the owner while it is pending, staff while it
    /// is pending or paid.
    pub async fn cancel(&self, who: Principal, id: OrderId) -> Result<Order> {
        let order = self.get(who, id).await?;
        let allowed = match order.status {
            OrderStatus::Pending => true,
            OrderStatus::Paid => who.is_staff,
            _ => false,
        };
        if !allowed {
            return Err(Error::Conflict(format!(
                "an order that is {} cannot be cancelled{}",
                order.status,
                if order.status == OrderStatus::Paid {
                    " by its customer"
                } else {
                    ""
                }
            )));
        }
        self.transition(order, OrderStatus::Cancelled).await
    }

    /// Moves an order along its life cycle (staff): `pending → paid → shipped → delivered`,
    /// `pending | paid → cancelled`. Anything else is a conflict naming both statuses.
    pub async fn set_status(
        &self,
        who: Principal,
        id: OrderId,
        next: OrderStatus,
    ) -> Result<Order> {
        if !who.is_staff {
            return Err(Error::Forbidden);
        }
        let order = self.get(who, id).await?;
        self.transition(order, next).await
    }

    async fn transition(&self, order: Order, next: OrderStatus) -> Result<Order> {
        if !order.status.can_become(next) {
            return Err(Error::Conflict(format!(
                "an order cannot go from {} to {next}",
                order.status
            )));
        }
        let restock = next == OrderStatus::Cancelled;
        match self
            .orders
            .change_status(order.id, order.status, next, restock)
            .await?
        {
            Some(changed) => {
                if restock {
                    self.responses.invalidate_all().await;
                }
                Ok(changed)
            }
            // Someone else moved it first; report what it is now.
            None => {
                let now = self
                    .orders
                    .find_order(order.id)
                    .await?
                    .ok_or(Error::NotFound("order"))?;
                Err(Error::Conflict(format!(
                    "an order cannot go from {} to {next}",
                    now.status
                )))
            }
        }
    }

    /// The shop's currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Forgets idempotency keys older than two days; clients are promised at least one.
    pub async fn purge_idempotency_keys(&self) -> Result<u64> {
        let cutoff = chrono::Utc::now() - chrono::Duration::days(2);
        self.orders.purge_idempotency_keys(cutoff).await
    }
}

fn check_key(key: String) -> Result<String> {
    let valid = !key.is_empty()
        && key.chars().count() <= KEY_MAX_CHARS
        && key.chars().all(|c| c.is_ascii_graphic());
    if valid {
        Ok(key)
    } else {
        Err(Error::invalid(
            "Idempotency-Key",
            format!("use 1–{KEY_MAX_CHARS} visible ASCII characters, e.g. a UUID"),
        ))
    }
}

/// Whether any string in a JSON value (keys included) holds U+0000, which PostgreSQL's JSONB
/// cannot store.
fn contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul),
        serde_json::Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || contains_nul(value)),
        _ => false,
    }
}

/// A digest of what, besides the cart, makes an order request what it is.
fn fingerprint(shipping_address: &Option<serde_json::Value>, note: &str) -> String {
    let canonical = serde_json::json!({"shipping_address": shipping_address, "note": note});
    sha256_hex(canonical.to_string().as_bytes(), 32)
}

/// Confirms a placed order by e-mail. Queued in the order's own transaction, with what the
/// mail says, so that sending it reads only the customer's address.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendOrderConfirmation {
    /// The order. Queued with the order, the task gets it from the store, which sets this
    /// member (`ports::ORDER_ID_MEMBER`) once the order has its id.
    pub order: OrderId,
    /// The order as placed. Absent from tasks queued by versions that sent only the id: those
    /// read the order when they run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed: Option<PlacedOrder>,
}

/// What a confirmation mail says about the order it confirms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlacedOrder {
    /// Whom to write to.
    pub customer: UserId,
    /// What was ordered.
    pub lines: Vec<PlacedLine>,
    /// The total, in minor units.
    pub total_minor: i64,
    /// Its currency code.
    pub currency: String,
}

/// One line of a [`PlacedOrder`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlacedLine {
    /// The product's name when ordered.
    pub product_name: String,
    /// How many.
    pub quantity: i64,
    /// The price of one, in minor units.
    pub unit_price_minor: i64,
}

impl PlacedOrder {
    fn new(customer: UserId, items: &[OrderItem], total_minor: i64, currency: &str) -> Self {
        Self {
            customer,
            lines: items
                .iter()
                .map(|item| PlacedLine {
                    product_name: item.product_name.clone(),
                    quantity: item.quantity,
                    unit_price_minor: item.unit_price_minor,
                })
                .collect(),
            total_minor,
            currency: currency.to_owned(),
        }
    }
}

/// What the confirmation needs: the order, its customer, a mailer.
#[derive(Clone)]
pub struct ConfirmationContext {
    /// Orders.
    pub orders: Arc<dyn OrderStore>,
    /// Users, for the address.
    pub users: Arc<dyn UserStore>,
    /// Outgoing mail.
    pub mailer: Arc<dyn Mailer>,
    /// For amounts.
    pub currency: Currency,
}

impl SendOrderConfirmation {
    fn as_task(&self) -> NewTask {
        NewTask {
            job: Self::NAME.to_owned(),
            // Strings and integers always serialise; were that ever to fail, the id alone
            // still confirms the order.
            payload: serde_json::to_value(self)
                .unwrap_or_else(|_| serde_json::json!({ "order": self.order })),
            run_at: chrono::Utc::now(),
            max_attempts: Self::MAX_ATTEMPTS,
        }
    }
}

impl BackgroundJob for SendOrderConfirmation {
    const NAME: &'static str = "send_order_confirmation";
    const MAX_ATTEMPTS: u32 = super::notifications::MAIL_ATTEMPTS;
    type Context = ConfirmationContext;

    async fn run(self, context: Self::Context) -> Result<()> {
        let placed = match self.placed {
            Some(placed) => placed,
            None => match context.orders.find_order(self.order).await? {
                Some(order) => PlacedOrder::new(
                    order.user_id,
                    &order.items,
                    order.total_minor,
                    &order.currency,
                ),
                None => return Ok(()),
            },
        };
        let Some(user) = context.users.find_user(placed.customer).await? else {
            return Ok(());
        };
        let lines: String = placed
            .lines
            .iter()
            .map(|line| {
                format!(
                    "  {} x {} at {}\n",
                    line.quantity,
                    line.product_name,
                    Money::from_minor(line.unit_price_minor, context.currency)
                )
            })
            .collect();
        context
            .mailer
            .send(&OutgoingMail {
                to: user.email,
                subject: format!("Your order #{} is confirmed", self.order),
                text_body: format!(
                    "Hello {},\n\nthank you for your order #{}:\n\n{lines}\nTotal: {} {}\n",
                    user.username,
                    self.order,
                    Money::from_minor(placed.total_minor, context.currency),
                    placed.currency
                ),
            })
            .await
    }
}
