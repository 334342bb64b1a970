use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// Identifies a user account.
    UserId
);
id_type!(
    /// Identifies a catalogue category.
    CategoryId
);
id_type!(
    /// Identifies a product.
    ProductId
);
id_type!(
    /// Identifies a shopper's cart.
    CartId
);
id_type!(
    /// Identifies one line of a cart.
    CartItemId
);
id_type!(
    /// Identifies an order.
    OrderId
);
id_type!(
    /// Identifies a queued background task.
    TaskId
);
