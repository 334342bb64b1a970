-- The catalogue: categories, products, and the change log search indexes tail.

CREATE TABLE categories (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL UNIQUE,
    slug        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    parent_id   INTEGER REFERENCES categories (id) ON DELETE RESTRICT,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

CREATE INDEX categories_by_parent ON categories (parent_id);

CREATE TABLE products (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    slug        TEXT    NOT NULL UNIQUE,
    sku         TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
    category_id INTEGER NOT NULL REFERENCES categories (id) ON DELETE RESTRICT,
    stock       INTEGER NOT NULL CHECK (stock >= 0),
    is_active   INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

-- One index per ordering, led by is_active because shoppers only ever see active products;
-- id last so ties break the same way in every query and deep pages stay index-ordered.
CREATE INDEX products_by_price   ON products (is_active, price_minor, id);
CREATE INDEX products_by_name    ON products (is_active, name, id);
CREATE INDEX products_by_created ON products (is_active, created_at, id);
CREATE INDEX products_by_stock   ON products (is_active, stock, id);
CREATE INDEX products_by_category_price ON products (category_id, is_active, price_minor, id);

-- Every product write appends here in the same transaction; search indexers tail it.
CREATE TABLE catalog_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id INTEGER NOT NULL
);

-- Triggers rather than application code append to the log, so no write path (an order's
-- stock decrement, an operator's SQL) can forget to.
CREATE TRIGGER products_logged_insert AFTER INSERT ON products
BEGIN
    INSERT INTO catalog_changes (product_id) VALUES (NEW.id);
END;

CREATE TRIGGER products_logged_update
AFTER UPDATE OF name, description, price_minor, category_id, stock, is_active ON products
BEGIN
    INSERT INTO catalog_changes (product_id) VALUES (NEW.id);
END;

CREATE TRIGGER products_logged_delete AFTER DELETE ON products
BEGIN
    INSERT INTO catalog_changes (product_id) VALUES (OLD.id);
END;

-- A category's name is indexed with each of its products.
CREATE TRIGGER categories_logged_rename AFTER UPDATE OF name ON categories
WHEN NEW.name <> OLD.name
BEGIN
    INSERT INTO catalog_changes (product_id)
    SELECT id FROM products WHERE category_id = NEW.id;
END;
