-- Checkout decrements stock on every order. While `stock` was indexed (products_by_stock),
-- each decrement wrote a new row version into all seven indexes of `products`, the text
-- search GIN index included. Without an index on it, and with room left on each page for the
-- new version, PostgreSQL updates the row in place (a heap-only tuple update): no index is
-- touched and far less WAL is written.
--
-- Lists ordered by stock come from the search index instead (see
-- `ProductOrdering::is_by_stock`), which keeps stock as a fast field.
--
-- The fill factor applies to pages written from now on. A database that already holds its
-- catalogue gains the free space page by page as rows are updated, or at once with
-- `VACUUM FULL products` in a maintenance window (it locks the table while it rewrites it).
DROP INDEX IF EXISTS products_by_stock;
ALTER TABLE products SET (fillfactor = 90);
