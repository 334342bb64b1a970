-- Carts and orders.
--
-- Cart items and order items keep product ids without a foreign key: deleting a product must
-- neither delete a shopper's cart line silently (it is reported instead) nor rewrite history.

CREATE TABLE carts (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT    NOT NULL
);

CREATE TABLE cart_items (
    id         INTEGER PRIMARY KEY,
    cart_id    INTEGER NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    added_at   TEXT    NOT NULL,
    UNIQUE (cart_id, product_id)
);

CREATE TABLE orders (
    id               INTEGER PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    status           TEXT    NOT NULL
        CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
    subtotal_minor   INTEGER NOT NULL CHECK (subtotal_minor >= 0),
    total_minor      INTEGER NOT NULL CHECK (total_minor >= 0),
    currency         TEXT    NOT NULL,
    shipping_address TEXT,
    note             TEXT    NOT NULL DEFAULT '',
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);

CREATE INDEX orders_by_user ON orders (user_id, id);
CREATE INDEX orders_by_status ON orders (status, id);

CREATE TABLE order_items (
    id               INTEGER PRIMARY KEY,
    order_id         INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       INTEGER NOT NULL,
    product_name     TEXT    NOT NULL,
    unit_price_minor INTEGER NOT NULL CHECK (unit_price_minor >= 0),
    quantity         INTEGER NOT NULL CHECK (quantity > 0)
);

CREATE INDEX order_items_by_order ON order_items (order_id);

-- One order per (user, Idempotency-Key); the fingerprint tells a retry from a different request.
CREATE TABLE idempotency_keys (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    order_id    INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
