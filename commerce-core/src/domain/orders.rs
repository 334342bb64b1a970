//! Carts, orders and the order life cycle.

use std::fmt;
use std::str::FromStr;

use super::{CartItemId, OrderId, ProductId, Timestamp, UserId};

/// The most units of one product a cart line or order line may hold.
pub const QUANTITY_MAX: i64 = 1_000;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
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

impl OrderStatus {
    /// Every status, with its API name.
    pub const ALL: [(Self, &'static str); 5] = [
        (Self::Pending, "pending"),
        (Self::Paid, "paid"),
        (Self::Shipped, "shipped"),
        (Self::Delivered, "delivered"),
        (Self::Cancelled, "cancelled"),
    ];

    /// The API name, e.g. `"pending"`.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("pending", |(_, n)| n)
    }

    /// Whether an order may go from this status to `next`: `pending → paid → shipped →
    /// delivered`, and `pending | paid → cancelled`. Nothing else.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Pending, Paid) | (Paid, Shipped) | (Shipped, Delivered) | (Pending | Paid, Cancelled)
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == text)
            .map(|(s, _)| *s)
            .ok_or_else(|| {
                format!(
                    "unknown status {text:?}; use pending, paid, shipped, delivered or cancelled"
                )
            })
    }
}

/// A line of a cart, with the product as it is now (absent when it was deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    /// The line's id.
    pub id: CartItemId,
    /// The product's id.
    pub product_id: ProductId,
    /// How many.
    pub quantity: i64,
    /// The product now, if it still exists.
    pub product: Option<super::Product>,
}

/// A line of an order: the product as it was sold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    /// The product's id (it may since have been deleted).
    pub product_id: ProductId,
    /// The product's name when ordered.
    pub product_name: String,
    /// Its price when ordered, in minor units.
    pub unit_price_minor: i64,
    /// How many.
    pub quantity: i64,
}

impl OrderItem {
    /// Unit price times quantity, in minor units.
    pub fn line_total_minor(&self) -> i64 {
        self.unit_price_minor.saturating_mul(self.quantity)
    }
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Its id.
    pub id: OrderId,
    /// Who placed it.
    pub user_id: UserId,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// What was bought.
    pub items: Vec<OrderItem>,
    /// Sum of the lines, in minor units.
    pub subtotal_minor: i64,
    /// What the customer pays, in minor units.
    pub total_minor: i64,
    /// ISO 4217 code of the amounts.
    pub currency: String,
    /// The shipping address as the client sent it.
    pub shipping_address: Option<serde_json::Value>,
    /// The customer's note.
    pub note: String,
    /// When it was placed.
    pub created_at: Timestamp,
    /// When its status last changed.
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::{self, *};

    #[test]
    fn every_transition_is_decided() {
        let allowed = [
            (Pending, Paid),
            (Paid, Shipped),
            (Shipped, Delivered),
            (Pending, Cancelled),
            (Paid, Cancelled),
        ];
        for (from, _) in OrderStatus::ALL {
            for (to, _) in OrderStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for (status, name) in OrderStatus::ALL {
            assert_eq!(name.parse::<OrderStatus>(), Ok(status));
            assert_eq!(status.to_string(), name);
        }
        assert!("lost".parse::<OrderStatus>().is_err());
    }
}
