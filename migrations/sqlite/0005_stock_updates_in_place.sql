-- Checkout decrements stock on every order; while `stock` was indexed (products_by_stock),
-- each decrement also deleted and inserted an index entry. Lists ordered by stock come from
-- the search index instead (see `ProductOrdering::is_by_stock`), as on PostgreSQL
-- (migrations/postgres/0005_stock_updates_in_place.sql).
DROP INDEX IF EXISTS products_by_stock;
