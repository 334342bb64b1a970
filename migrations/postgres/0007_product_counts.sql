-- How many products there are, and how many of them are active, kept by triggers: an
-- unfiltered list's total is then one row's read instead of a count over the whole catalogue
-- (70 ms on two parallel workers at a million products, paid again each time a write empties
-- the response cache, which every order does). The same table as
-- migrations/sqlite/0006_product_counts.sql.
--
-- Inserts and deletes are counted once per statement, from its transition table. Activation
-- changes are counted per row: a trigger with a column list cannot see transition tables, and
-- only that column list keeps stock decrements (every order) from firing the trigger at all.
--
-- A writer of products holds the row from its statement until it commits. Product writes are
-- rare beside orders, and single statements; an import, though, inserts many statements in one
-- transaction, and holding the row across them would make every other product write wait for
-- the whole import, and deadlock one that took a slug the import inserts later. So an import
-- sets `commerce.counting_deferred` for its transaction, which the insert trigger honours, and
-- adds its rows to the counts in one statement just before it commits.
CREATE TABLE product_counts (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CONSTRAINT product_counts_one_row CHECK (only_row),
    total    BIGINT  NOT NULL,
    active   BIGINT  NOT NULL
);

CREATE FUNCTION product_counts_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('commerce.counting_deferred', true) = 'on' THEN
        RETURN NULL;
    END IF;
    UPDATE product_counts AS counts
    SET total = counts.total + added.total, active = counts.active + added.active
    FROM (SELECT count(*) AS total, count(*) FILTER (WHERE is_active) AS active
          FROM inserted) AS added;
    RETURN NULL;
END;
$$;

CREATE FUNCTION product_counts_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE product_counts AS counts
    SET total = counts.total - removed.total, active = counts.active - removed.active
    FROM (SELECT count(*) AS total, count(*) FILTER (WHERE is_active) AS active
          FROM deleted) AS removed;
    RETURN NULL;
END;
$$;

CREATE FUNCTION product_counts_activation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE product_counts SET active = active + CASE WHEN NEW.is_active THEN 1 ELSE -1 END;
    RETURN NULL;
END;
$$;

-- The triggers first: creating them locks out writes to products until this migration
-- commits, so the counts below cannot miss a product written meanwhile by a running instance.
CREATE TRIGGER products_counted_insert AFTER INSERT ON products
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION product_counts_inserted();

CREATE TRIGGER products_counted_delete AFTER DELETE ON products
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION product_counts_deleted();

CREATE TRIGGER products_counted_activation AFTER UPDATE OF is_active ON products
    FOR EACH ROW WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active)
    EXECUTE FUNCTION product_counts_activation();

INSERT INTO product_counts (total, active)
SELECT count(*), count(*) FILTER (WHERE is_active) FROM products;
