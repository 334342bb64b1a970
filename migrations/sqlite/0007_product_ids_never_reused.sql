-- Product ids are never reused. With a plain INTEGER PRIMARY KEY a new row gets the largest id
-- plus one, so deleting the newest product handed its id to the next one created: cart lines
-- still holding the deleted product (kept, to be reported as unavailable) became lines of the
-- new one, and cancelling an old order of it restocked the new one. AUTOINCREMENT never gives
-- an id twice; PostgreSQL's identity columns never did. SQLite cannot add it to a table, so the
-- table is rebuilt, and its indexes and triggers with it.

-- Dropped first: a trigger naming `products` would stop the rename below while no table has
-- that name, and the table's own would fire on the copy otherwise.
DROP TRIGGER categories_logged_rename;
DROP TRIGGER products_logged_insert;
DROP TRIGGER products_logged_update;
DROP TRIGGER products_logged_delete;
DROP TRIGGER products_counted_insert;
DROP TRIGGER products_counted_delete;
DROP TRIGGER products_counted_activation;

CREATE TABLE products_rebuilt (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
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

INSERT INTO products_rebuilt (id, name, slug, sku, description, price_minor, category_id, stock,
                              is_active, created_at, updated_at)
SELECT id, name, slug, sku, description, price_minor, category_id, stock, is_active, created_at,
       updated_at
FROM products;

-- No id the change log has seen is given again either: it names deleted products too. (The
-- copy above recorded the largest id copied, unless there was none.)
UPDATE sqlite_sequence
SET seq = MAX(seq, COALESCE((SELECT MAX(product_id) FROM catalog_changes), 0))
WHERE name = 'products_rebuilt';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'products_rebuilt', MAX(product_id) FROM catalog_changes
HAVING MAX(product_id) IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'products_rebuilt');

DROP TABLE products;
ALTER TABLE products_rebuilt RENAME TO products;

-- As in 0003, without products_by_stock (dropped in 0005).
CREATE INDEX products_by_price   ON products (is_active, price_minor, id);
CREATE INDEX products_by_name    ON products (is_active, name, id);
CREATE INDEX products_by_created ON products (is_active, created_at, id);
CREATE INDEX products_by_category_price ON products (category_id, is_active, price_minor, id);

-- As in 0003.
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

CREATE TRIGGER categories_logged_rename AFTER UPDATE OF name ON categories
WHEN NEW.name <> OLD.name
BEGIN
    INSERT INTO catalog_changes (product_id)
    SELECT id FROM products WHERE category_id = NEW.id;
END;

-- As in 0006.
CREATE TRIGGER products_counted_insert AFTER INSERT ON products
BEGIN
    UPDATE product_counts SET total = total + 1, active = active + NEW.is_active;
END;

CREATE TRIGGER products_counted_delete AFTER DELETE ON products
BEGIN
    UPDATE product_counts SET total = total - 1, active = active - OLD.is_active;
END;

CREATE TRIGGER products_counted_activation AFTER UPDATE OF is_active ON products
WHEN OLD.is_active <> NEW.is_active
BEGIN
    UPDATE product_counts SET active = active + NEW.is_active - OLD.is_active;
END;
