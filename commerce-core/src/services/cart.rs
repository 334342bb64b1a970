//! The cart's rules: what may be added, in what quantity, and what a cart is worth now.

use std::sync::Arc;

use super::tokens::Principal;
use crate::domain::orders::QUANTITY_MAX;
use crate::domain::{CartId, CartItemId, CartLine, Currency, ProductId};
use crate::error::{Error, Result};
use crate::ports::{CartAddition, CartStore};

/// A cart as the shopper sees it: current prices, every line accounted for.
#[derive(Debug, Clone)]
pub struct CartView {
    /// The cart's id.
    pub id: CartId,
    /// Its lines, oldest first.
    pub lines: Vec<CartViewLine>,
    /// Units in the cart.
    pub item_count: i64,
    /// Sum of the available lines, in minor units.
    pub subtotal_minor: i64,
    /// The shop's currency.
    pub currency: Currency,
}

/// A cart line with the product's current name and price.
#[derive(Debug, Clone)]
pub struct CartViewLine {
    /// The line's id.
    pub id: CartItemId,
    /// The product's id.
    pub product: ProductId,
    /// The product's name (empty if it was deleted).
    pub product_name: String,
    /// Its current price in minor units (0 if it was deleted).
    pub unit_price_minor: i64,
    /// How many.
    pub quantity: i64,
    /// Unit price times quantity.
    pub line_total_minor: i64,
    /// False when the product was deleted or deactivated: the line cannot be bought.
    pub available: bool,
}

/// Shoppers' carts.
#[derive(Clone)]
pub struct CartService {
    carts: Arc<dyn CartStore>,
    currency: Currency,
}

impl CartService {
    /// The service over the cart store.
    pub fn new(carts: Arc<dyn CartStore>, currency: Currency) -> Self {
        Self { carts, currency }
    }

    /// The caller's cart, priced now. Lines whose product is gone or inactive are reported as
    /// unavailable, never dropped.
    pub async fn view(&self, who: Principal) -> Result<CartView> {
        let (id, lines) = self.carts.cart(who.user_id).await?;
        Ok(self.price(id, &lines))
    }

    /// The lines behind [`view`](Self::view), for checkout.
    pub(crate) async fn lines(&self, who: Principal) -> Result<Vec<CartLine>> {
        Ok(self.carts.cart(who.user_id).await?.1)
    }

    fn price(&self, id: CartId, lines: &[CartLine]) -> CartView {
        let lines: Vec<CartViewLine> = lines
            .iter()
            .map(|line| {
                let live = line.product.as_ref().filter(|p| p.is_active);
                let unit_price_minor = line.product.as_ref().map_or(0, |p| p.price_minor);
                CartViewLine {
                    id: line.id,
                    product: line.product_id,
                    product_name: line
                        .product
                        .as_ref()
                        .map(|p| p.name.clone())
                        .unwrap_or_default(),
                    unit_price_minor,
                    quantity: line.quantity,
                    line_total_minor: unit_price_minor.saturating_mul(line.quantity),
                    available: live.is_some(),
                }
            })
            .collect();
        CartView {
            id,
            item_count: lines.iter().map(|l| l.quantity).sum(),
            subtotal_minor: lines
                .iter()
                .filter(|l| l.available)
                .map(|l| l.line_total_minor)
                .fold(0i64, i64::saturating_add),
            currency: self.currency,
            lines,
        }
    }

    /// Adds units of a product; more of a product already in the cart adds to its line. The
    /// line may not exceed the stock available now.
    pub async fn add(&self, who: Principal, product: ProductId, quantity: i64) -> Result<CartView> {
        check_quantity(quantity)?;
        // The store checks the limits as it changes the line, and reads the product from
        // where writes go, not from a replica.
        let CartAddition {
            cart,
            mut lines,
            product: item,
            added,
        } = self
            .carts
            .add_to_cart(who.user_id, product, quantity, QUANTITY_MAX)
            .await?;
        let item = item.filter(|p| p.is_active).ok_or_else(|| {
            Error::invalid("product", "this product does not exist or is not for sale")
        })?;
        let Some((line, quantity)) = added else {
            // Refused: say which limit the line would have passed.
            let in_cart = lines
                .iter()
                .find(|l| l.product_id == product)
                .map_or(0, |l| l.quantity);
            check_quantity(in_cart.saturating_add(quantity))?;
            return Err(Error::invalid(
                "quantity",
                format!(
                    "only {} in stock ({in_cart} already in your cart)",
                    item.stock
                ),
            ));
        };
        // The cart as it was with this line changed, rather than read again. Lines are in id
        // order, and a new line has the highest id.
        match lines.iter_mut().find(|l| l.id == line) {
            Some(changed) => {
                changed.quantity = quantity;
                changed.product = Some(item);
            }
            None => lines.push(CartLine {
                id: line,
                product_id: product,
                quantity,
                product: Some(item),
            }),
        }
        Ok(self.price(cart, &lines))
    }

    /// Sets a line's quantity, within the stock available now.
    pub async fn set_quantity(
        &self,
        who: Principal,
        item: CartItemId,
        quantity: i64,
    ) -> Result<CartView> {
        check_quantity(quantity)?;
        let (cart, mut lines) = self.carts.cart(who.user_id).await?;
        let line = lines
            .iter_mut()
            .find(|l| l.id == item)
            .ok_or(Error::NotFound("cart item"))?;
        let stock = line
            .product
            .as_ref()
            .filter(|p| p.is_active)
            .map_or(0, |p| p.stock);
        if quantity > stock {
            return Err(Error::invalid("quantity", format!("only {stock} in stock")));
        }
        self.carts
            .set_cart_quantity(who.user_id, item, quantity)
            .await?;
        // As read above with the new quantity, rather than read again.
        line.quantity = quantity;
        Ok(self.price(cart, &lines))
    }

    /// Removes a line.
    pub async fn remove(&self, who: Principal, item: CartItemId) -> Result<()> {
        self.carts.remove_cart_item(who.user_id, item).await
    }

    /// Empties the cart.
    pub async fn clear(&self, who: Principal) -> Result<()> {
        self.carts.clear_cart(who.user_id).await
    }
}

fn check_quantity(quantity: i64) -> Result<()> {
    if quantity <= 0 {
        return Err(Error::invalid(
            "quantity",
            "ensure this value is greater than or equal to 1",
        ));
    }
    if quantity > QUANTITY_MAX {
        return Err(Error::invalid(
            "quantity",
            format!("ensure this value is less than or equal to {QUANTITY_MAX}"),
        ));
    }
    Ok(())
}
