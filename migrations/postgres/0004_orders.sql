-- Carts and orders: the same tables as migrations/sqlite/0004_orders.sql.
--
-- Cart items and order items keep product ids without a foreign key: deleting a product must
-- neither delete a shopper's cart line silently (it is reported instead) nor rewrite history.
-- That also keeps checkout's stock decrements from taking key-share locks across tables.
--
-- No constraint here is DEFERRABLE: a deferred check would run at commit, after the catalogue
-- change log's commit-order lock is taken (0003_catalog.sql), and could then wait for a row
-- another committing transaction holds: the one way that lock could become part of a deadlock.

CREATE TABLE carts (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT      NOT NULL CONSTRAINT carts_user_unique UNIQUE
                           REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE cart_items (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Indexed by the unique constraint below, which leads with it.
    cart_id    BIGINT      NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id BIGINT      NOT NULL,
    quantity   BIGINT      NOT NULL CONSTRAINT cart_items_quantity_check CHECK (quantity > 0),
    added_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT cart_items_product_unique UNIQUE (cart_id, product_id)
);

CREATE TABLE orders (
    id               BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          BIGINT      NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    status           TEXT        NOT NULL CONSTRAINT orders_status_check
        CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
    subtotal_minor   BIGINT      NOT NULL CONSTRAINT orders_subtotal_check CHECK (subtotal_minor >= 0),
    total_minor      BIGINT      NOT NULL CONSTRAINT orders_total_check CHECK (total_minor >= 0),
    currency         TEXT        NOT NULL,
    -- JSONB as the task payloads: what the client sent, as a value (key order and whitespace
    -- are not kept, which no reader of a JSON object may rely on).
    shipping_address JSONB,
    note             TEXT        NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

-- Also serves the foreign key to users.
CREATE INDEX orders_by_user ON orders (user_id, id);
CREATE INDEX orders_by_status ON orders (status, id);

CREATE TABLE order_items (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id         BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       BIGINT NOT NULL,
    product_name     TEXT   NOT NULL,
    unit_price_minor BIGINT NOT NULL CONSTRAINT order_items_price_check CHECK (unit_price_minor >= 0),
    quantity         BIGINT NOT NULL CONSTRAINT order_items_quantity_check CHECK (quantity > 0)
);

CREATE INDEX order_items_by_order ON order_items (order_id);

-- One order per (user, Idempotency-Key); the fingerprint tells a retry from a different request.
-- The primary key is named because checkout reads the name of the violated constraint: a
-- violation of this one, and only this one, means a concurrent placement under the same key
-- committed first.
CREATE TABLE idempotency_keys (
    user_id     BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key         TEXT        NOT NULL,
    fingerprint TEXT        NOT NULL,
    order_id    BIGINT      NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
-- PostgreSQL does not index foreign keys itself; deleting an order would scan the keys.
CREATE INDEX idempotency_keys_by_order ON idempotency_keys (order_id);
