-- Checkout takes from each cart line the quantity the order was priced with, rather than
-- deleting the line: a line that grew while the order was placed (the same product added from
-- another tab) keeps the units added, which were neither ordered nor shown as lost. The
-- function is otherwise 0006_place_order.sql's, which explains it; only its arguments
-- (`cart_quantities`, beside `cart_item_ids`) and its last cart statement change, and a
-- changed argument list is a new function, so the old one is dropped.

DROP FUNCTION place_order(BIGINT, BIGINT, BIGINT, TEXT, JSONB, TEXT, TIMESTAMPTZ, TEXT, TEXT,
    BIGINT[], TEXT[], BIGINT[], BIGINT[], BIGINT[], TEXT, JSONB, TIMESTAMPTZ, INTEGER, TEXT);

CREATE FUNCTION place_order(
    buyer           BIGINT,
    subtotal_minor  BIGINT,
    total_minor     BIGINT,
    currency        TEXT,
    address         JSONB,
    note            TEXT,
    placed_at       TIMESTAMPTZ,
    idempotency_key TEXT,
    fingerprint     TEXT,
    product_ids     BIGINT[],
    product_names   TEXT[],
    unit_prices     BIGINT[],
    quantities      BIGINT[],
    cart_item_ids   BIGINT[],
    cart_quantities BIGINT[],
    task_job        TEXT,
    task_payload    JSONB,
    task_run_at     TIMESTAMPTZ,
    task_attempts   INTEGER,
    task_channel    TEXT
)
RETURNS TABLE (
    order_id         BIGINT,
    shipping_address JSONB,
    refused_product  BIGINT,
    refused_stock    BIGINT,
    refused_active   BOOLEAN,
    refused_price    BIGINT
)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    placed BIGINT;
    stored_address JSONB;
BEGIN
    PERFORM FROM products WHERE id = ANY(product_ids) ORDER BY id FOR UPDATE;
    -- By product, should a product stand on more than one line: its lines together must fit
    -- the stock, and each must carry its price.
    RETURN QUERY
        SELECT NULL::BIGINT, NULL::JSONB, wanted.id, p.stock, p.is_active, p.price_minor
        FROM (SELECT line.id, sum(line.quantity)::BIGINT AS quantity,
                     min(line.price_minor) AS lowest, max(line.price_minor) AS highest
              FROM UNNEST(product_ids, quantities, unit_prices) AS line (id, quantity, price_minor)
              GROUP BY line.id) AS wanted
        LEFT JOIN products p ON p.id = wanted.id
        WHERE p.id IS NULL OR NOT p.is_active OR p.stock < wanted.quantity
            OR p.price_minor <> wanted.lowest OR p.price_minor <> wanted.highest
        ORDER BY wanted.id;
    IF FOUND THEN
        RETURN;
    END IF;

    INSERT INTO orders AS o (user_id, status, subtotal_minor, total_minor, currency,
        shipping_address, note, created_at, updated_at)
    VALUES (buyer, 'pending', place_order.subtotal_minor, place_order.total_minor,
        place_order.currency, address, place_order.note, placed_at, placed_at)
    RETURNING o.id, o.shipping_address INTO placed, stored_address;
    IF idempotency_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (user_id, key, fingerprint, order_id, created_at)
        VALUES (buyer, idempotency_key, place_order.fingerprint, placed, placed_at);
    END IF;

    -- Every line fits: checked above on the rows as locked.
    UPDATE products p SET stock = p.stock - wanted.quantity
    FROM (SELECT line.id, sum(line.quantity)::BIGINT AS quantity
          FROM UNNEST(product_ids, quantities) AS line (id, quantity)
          GROUP BY line.id) AS wanted
    WHERE p.id = wanted.id;

    -- ORDINALITY keeps the lines in the order given, which is the order they are read in.
    INSERT INTO order_items (order_id, product_id, product_name, unit_price_minor, quantity)
    SELECT placed, line.product_id, line.product_name, line.unit_price_minor, line.quantity
    FROM UNNEST(product_ids, product_names, unit_prices, quantities) WITH ORDINALITY
        AS line (product_id, product_name, unit_price_minor, quantity, position)
    ORDER BY line.position;

    -- Only the buyer's own lines, whatever ids the caller passed, each by what the order
    -- takes of it: a line that grew while this order was placed keeps the units added.
    DELETE FROM cart_items c
    USING UNNEST(cart_item_ids, cart_quantities) AS taken (id, quantity)
    WHERE c.id = taken.id AND c.quantity <= taken.quantity
      AND c.cart_id = (SELECT id FROM carts WHERE user_id = buyer);
    UPDATE cart_items c SET quantity = c.quantity - taken.quantity
    FROM UNNEST(cart_item_ids, cart_quantities) AS taken (id, quantity)
    WHERE c.id = taken.id AND c.quantity > taken.quantity
      AND c.cart_id = (SELECT id FROM carts WHERE user_id = buyer);

    -- The outbox: the task commits with the order or not at all, and waiting workers are
    -- woken at commit, as TaskQueue::enqueue does. The payload gets the order's id (the
    -- member commerce_core::ports::ORDER_ID_MEMBER names).
    INSERT INTO tasks (job, payload, run_at, max_attempts, created_at)
    VALUES (task_job,
        CASE WHEN jsonb_typeof(task_payload) = 'object'
             THEN task_payload || jsonb_build_object('order', placed)
             ELSE task_payload END,
        task_run_at, task_attempts, placed_at);
    PERFORM pg_notify(task_channel, '');

    RETURN QUERY SELECT placed, stored_address, NULL::BIGINT, NULL::BIGINT, NULL::BOOLEAN,
        NULL::BIGINT;
END
$$;
