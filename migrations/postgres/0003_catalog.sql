-- The catalogue: categories, products, the change log search indexes tail, and the weighted
-- text vector the in-database search (SEARCH_BACKEND=postgres) matches against.
--
-- Same rules as migrations/sqlite/0003_catalog.sql: category names are unique ignoring case
-- through name_key, written by the application (Rust's Unicode lowercasing, as for users);
-- slugs and SKUs are unique; nothing in use can be deleted. Constraints are named because the
-- store reads the name of the violated one to tell the client which field is taken.

CREATE TABLE categories (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT        NOT NULL,
    -- "C": byte order, the order of SQLite and of Rust strings, whatever the server's locale.
    name_key    TEXT        COLLATE "C" NOT NULL CONSTRAINT categories_name_key_unique UNIQUE,
    slug        TEXT        NOT NULL CONSTRAINT categories_slug_unique UNIQUE,
    description TEXT        NOT NULL DEFAULT '',
    parent_id   BIGINT      CONSTRAINT categories_parent_fk
                            REFERENCES categories (id) ON DELETE RESTRICT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- PostgreSQL does not index foreign keys itself; deleting a category would scan for children.
CREATE INDEX categories_by_parent ON categories (parent_id);

CREATE TABLE products (
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Byte order for the name ordering, as on SQLite and in Rust; the index below inherits it.
    name          TEXT        COLLATE "C" NOT NULL,
    slug          TEXT        NOT NULL CONSTRAINT products_slug_unique UNIQUE,
    sku           TEXT        NOT NULL CONSTRAINT products_sku_unique UNIQUE,
    description   TEXT        NOT NULL DEFAULT '',
    price_minor   BIGINT      NOT NULL CONSTRAINT products_price_minor_check CHECK (price_minor >= 0),
    category_id   BIGINT      NOT NULL CONSTRAINT products_category_fk
                              REFERENCES categories (id) ON DELETE RESTRICT,
    stock         BIGINT      NOT NULL CONSTRAINT products_stock_check CHECK (stock >= 0),
    is_active     BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    -- Maintained by the triggers below, never written by the application.
    search_vector TSVECTOR    NOT NULL DEFAULT ''
);

-- One index per ordering, led by is_active because shoppers only ever see active products;
-- id last so ties break the same way in every query and deep pages stay index-ordered.
CREATE INDEX products_by_price   ON products (is_active, price_minor, id);
CREATE INDEX products_by_name    ON products (is_active, name, id);
CREATE INDEX products_by_created ON products (is_active, created_at, id);
CREATE INDEX products_by_stock   ON products (is_active, stock, id);
-- Also serves the foreign key (deleting a category, renaming one).
CREATE INDEX products_by_category_price ON products (category_id, is_active, price_minor, id);
CREATE INDEX products_search ON products USING GIN (search_vector);

-- Every product write appends here; search indexers tail it.
CREATE TABLE catalog_changes (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id BIGINT NOT NULL
);

-- Triggers rather than application code append to the log, so no write path (an order's
-- stock decrement, an operator's SQL) can forget to.
--
-- Unlike SQLite, PostgreSQL commits concurrent writers in any order, and a sequence number
-- taken mid-transaction could become visible after a higher one: an indexer that had
-- already read past it would skip that change for good (it takes gaps for rolled-back
-- writes). So the log is appended at commit, by deferred constraint triggers, under a
-- transaction-scoped advisory lock held until the commit is visible: numbers are handed out
-- in commit order, and whoever sees an entry sees every entry below it. Only the commits of
-- catalogue-writing transactions queue on the lock, not the transactions themselves, so it
-- adds no deadlock: a holder is committing and waits for nothing else. (An explicit
-- `SET CONSTRAINTS ALL IMMEDIATE` would give that up.)
CREATE FUNCTION catalog_changes_lock() RETURNS void
LANGUAGE sql AS $$
    -- Keyed by the log table's oid: unique in this database, and in the two-key space that
    -- sqlx's migration lock (one bigint key) does not use.
    SELECT pg_advisory_xact_lock('catalog_changes'::regclass::oid::int, 0)
$$;

CREATE FUNCTION catalog_log_product() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM catalog_changes_lock();
    IF TG_OP = 'DELETE' THEN
        INSERT INTO catalog_changes (product_id) VALUES (OLD.id);
    ELSE
        INSERT INTO catalog_changes (product_id) VALUES (NEW.id);
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER products_logged
AFTER INSERT OR DELETE
   OR UPDATE OF name, description, price_minor, category_id, stock, is_active ON products
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION catalog_log_product();

-- A category's name is indexed with each of its products: renaming it changes them all.
-- Runs at commit like the above, so it logs the products in the category then.
CREATE FUNCTION catalog_log_category_rename() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM catalog_changes_lock();
    INSERT INTO catalog_changes (product_id)
    SELECT id FROM products WHERE category_id = NEW.id ORDER BY id;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER categories_logged_rename
AFTER UPDATE OF name ON categories
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.name IS DISTINCT FROM OLD.name)
EXECUTE FUNCTION catalog_log_category_rename();

-- The text search vector: name weighted A, category name B, description C, so that ts_rank
-- puts a name match above a category match above a description match.
--
-- The 'simple' configuration lowercases and splits words but neither stems nor drops stop
-- words, as the tantivy index does: the same text finds the same products on either search
-- backend, and the last word's prefix match (search as you type) compares what was typed with
-- the words as written. Under 'english', "happines" would be stemmed to "happin" and miss
-- "happiness" (stemmed to "happi"), and "the" would match nothing.
CREATE FUNCTION product_search_vector(name TEXT, category_name TEXT, description TEXT)
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('simple'::regconfig, name), 'A')
        || setweight(to_tsvector('simple'::regconfig, category_name), 'B')
        || setweight(to_tsvector('simple'::regconfig, description), 'C')
$$;

CREATE FUNCTION products_refresh_search_vector() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    category_name TEXT;
BEGIN
    IF TG_OP = 'INSERT' OR NEW.category_id IS DISTINCT FROM OLD.category_id THEN
        -- A product joining a category while another transaction renames it: FOR SHARE waits
        -- for the rename to commit and then reads the new name. Without it this product
        -- would keep the old name, as the rename's refresh below cannot see it yet. Products
        -- staying in their category need no lock: the refresh waits for their row instead
        -- and recomputes from the committed values.
        SELECT name INTO category_name FROM categories WHERE id = NEW.category_id FOR SHARE;
    ELSE
        SELECT name INTO category_name FROM categories WHERE id = NEW.category_id;
    END IF;
    -- A missing category leaves the name empty here; the foreign key rejects the row after.
    NEW.search_vector :=
        product_search_vector(NEW.name, COALESCE(category_name, ''), NEW.description);
    RETURN NEW;
END
$$;

CREATE TRIGGER products_search_vector
BEFORE INSERT OR UPDATE OF name, description, category_id ON products
FOR EACH ROW EXECUTE FUNCTION products_refresh_search_vector();

-- Sets only search_vector, which fires neither the trigger above nor the change log.
CREATE FUNCTION categories_refresh_search_vectors() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products
    SET search_vector = product_search_vector(name, NEW.name, description)
    WHERE category_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER categories_search_vectors
AFTER UPDATE OF name ON categories
FOR EACH ROW WHEN (NEW.name IS DISTINCT FROM OLD.name)
EXECUTE FUNCTION categories_refresh_search_vectors();
