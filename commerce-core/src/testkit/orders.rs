//! The contract of [`CartStore`] and [`OrderStore`].

use std::sync::Arc;

use chrono::Utc;

use crate::Error;
use crate::domain::{
    CartItemId, CategoryRecord, Email, NewUser, OrderItem, OrderStatus, PasswordHash, Product,
    ProductId, ProductRecord, UserId, Username,
};
use crate::ports::{
    CartLineTaken, CartStore, CatalogStore, CheckoutProblemKind, IdempotencyKey, NewOrder, NewTask,
    OrderListQuery, OrderStore, PlaceOrderOutcome, ProductState, StockWrite, TaskQueue, UserStore,
};

/// Everything a checkout touches, in one backend.
pub trait ShopStore: UserStore + CatalogStore + CartStore + OrderStore + TaskQueue {}
impl<T: UserStore + CatalogStore + CartStore + OrderStore + TaskQueue> ShopStore for T {}

/// `product`'s writable fields as they are: what a change to some of them starts from.
fn record_of(product: &Product) -> ProductRecord {
    ProductRecord {
        name: product.name.clone(),
        slug: product.slug.clone(),
        sku: product.sku.clone(),
        description: product.description.clone(),
        price_minor: product.price_minor,
        category: product.category,
        stock: product.stock,
        is_active: product.is_active,
    }
}

/// A customer named `name`, with the address `{name}@example.com`: the fixture any test of a
/// store that orders or carts belong to starts from.
pub async fn user<S: UserStore + ?Sized>(store: &S, name: &str) -> UserId {
    store
        .create_user(NewUser {
            username: Username::parse(name).unwrap(),
            email: Email::parse(&format!("{name}@example.com")).unwrap(),
            password_hash: PasswordHash::from_phc("$argon2id$test".into()),
            is_staff: false,
        })
        .await
        .unwrap()
        .id
}

/// An active product named `name`, in the first category there is (one named "Goods" is made
/// when there is none).
pub async fn product<S: CatalogStore + ?Sized>(
    store: &S,
    name: &str,
    price_minor: i64,
    stock: i64,
) -> Product {
    let category = match store.list_categories().await.unwrap().first() {
        Some(category) => category.id,
        None => {
            store
                .create_category(CategoryRecord {
                    name: "Goods".into(),
                    slug: "goods".into(),
                    description: String::new(),
                    parent: None,
                })
                .await
                .unwrap()
                .id
        }
    };
    store
        .create_product(ProductRecord {
            name: name.into(),
            slug: crate::domain::catalog::slugify(name),
            sku: format!("SKU-{}", crate::domain::catalog::slugify(name)),
            description: String::new(),
            price_minor,
            category,
            stock,
            is_active: true,
        })
        .await
        .unwrap()
}

/// Adds to a cart within generous limits; the line and its new quantity.
async fn add<S: ShopStore>(
    store: &S,
    user: UserId,
    product: ProductId,
    quantity: i64,
) -> (CartItemId, i64) {
    store
        .add_to_cart(user, product, quantity, 1_000)
        .await
        .unwrap()
        .added
        .expect("added")
}

fn order_of(user: UserId, product: &Product, quantity: i64, key: Option<&str>) -> NewOrder {
    NewOrder {
        user_id: user,
        items: vec![OrderItem {
            product_id: product.id,
            product_name: product.name.clone(),
            unit_price_minor: product.price_minor,
            quantity,
        }],
        subtotal_minor: product.price_minor * quantity,
        total_minor: product.price_minor * quantity,
        currency: "USD".into(),
        shipping_address: Some(serde_json::json!({"city": "Springfield"})),
        note: "note".into(),
        cart_items: Vec::new(),
        idempotency: key.map(|key| IdempotencyKey {
            key: key.into(),
            fingerprint: "fp".into(),
        }),
        // The store fills in the order's id; the other members are kept.
        notification: NewTask {
            job: "confirm".into(),
            payload: serde_json::json!({ "order": null, "kept": true }),
            run_at: Utc::now(),
            max_attempts: 3,
        },
    }
}

async fn stock_of<S: ShopStore>(store: &S, id: ProductId) -> i64 {
    store.find_product(id).await.unwrap().unwrap().stock
}

/// Lines are added (merging by product), changed, removed and cleared, only by their owner.
pub async fn carts_belong_to_their_user<S: ShopStore>(store: Arc<S>) {
    let ann = user(&*store, "ann").await;
    let bob = user(&*store, "bob").await;
    let tea = product(&*store, "Tea", 250, 10).await;
    let mug = product(&*store, "Mug", 800, 10).await;

    let (cart, lines) = store.cart(ann).await.unwrap();
    assert!(lines.is_empty());
    assert_eq!(store.cart(ann).await.unwrap().0, cart, "one cart per user");
    let (line, quantity) = add(&*store, ann, tea.id, 2).await;
    assert_eq!(quantity, 2);
    let (same, quantity) = add(&*store, ann, tea.id, 3).await;
    assert_eq!((same, quantity), (line, 5));
    add(&*store, ann, mug.id, 1).await;
    let (_, lines) = store.cart(ann).await.unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].product.as_ref().unwrap().name, "Tea");

    assert!(matches!(
        store.set_cart_quantity(bob, line, 1).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store.remove_cart_item(bob, line).await,
        Err(Error::NotFound(_))
    ));
    store.set_cart_quantity(ann, line, 1).await.unwrap();
    assert_eq!(store.cart(ann).await.unwrap().1[0].quantity, 1);
    store.remove_cart_item(ann, line).await.unwrap();
    assert_eq!(store.cart(ann).await.unwrap().1.len(), 1);
    store.clear_cart(ann).await.unwrap();
    assert!(store.cart(ann).await.unwrap().1.is_empty());

    // A deleted product's line stays, without a product.
    let gone = product(&*store, "Gone", 100, 1).await;
    add(&*store, bob, gone.id, 1).await;
    store.delete_product(gone.id, None).await.unwrap();
    let (_, lines) = store.cart(bob).await.unwrap();
    assert_eq!((lines.len(), lines[0].product.is_none()), (1, true));
}

/// An addition is refused when the product is missing or inactive, or the line would pass the
/// stock or the line limit; either way the answer is the cart as it was and the product.
pub async fn additions_stay_within_stock_and_limit<S: ShopStore>(store: Arc<S>) {
    let ann = user(&*store, "ann").await;
    let tea = product(&*store, "Tea", 250, 5).await;
    let mug = product(&*store, "Mug", 800, 50).await;

    let first = store.add_to_cart(ann, tea.id, 3, 1_000).await.unwrap();
    assert!(first.lines.is_empty(), "the cart as it was");
    assert_eq!(first.product.as_ref().map(|p| p.stock), Some(5));
    let (line, quantity) = first.added.unwrap();
    assert_eq!(quantity, 3);

    let refused = store.add_to_cart(ann, tea.id, 3, 1_000).await.unwrap();
    assert_eq!(refused.added, None, "3 + 3 is more than the 5 in stock");
    assert_eq!(refused.cart, first.cart);
    assert_eq!(refused.lines.len(), 1);
    assert_eq!((refused.lines[0].id, refused.lines[0].quantity), (line, 3));
    assert_eq!(refused.product.as_ref().map(|p| p.id), Some(tea.id));
    assert_eq!(
        store
            .add_to_cart(ann, tea.id, 2, 1_000)
            .await
            .unwrap()
            .added,
        Some((line, 5)),
        "up to the stock exactly"
    );

    assert_eq!(
        store.add_to_cart(ann, mug.id, 11, 10).await.unwrap().added,
        None,
        "the line limit applies to a new line"
    );
    let (mug_line, _) = add(&*store, ann, mug.id, 6).await;
    assert_eq!(
        store.add_to_cart(ann, mug.id, 5, 10).await.unwrap().added,
        None,
        "and to an existing one"
    );
    assert_eq!(
        store.add_to_cart(ann, mug.id, 4, 10).await.unwrap().added,
        Some((mug_line, 10))
    );

    let record = ProductRecord {
        is_active: false,
        ..record_of(&mug)
    };
    store
        .update_product(mug.id, record, StockWrite::Set, None)
        .await
        .unwrap();
    let inactive = store.add_to_cart(ann, mug.id, 1, 1_000).await.unwrap();
    assert_eq!(inactive.added, None);
    assert_eq!(inactive.product.map(|p| p.is_active), Some(false));

    let missing = store
        .add_to_cart(ann, ProductId(i64::MAX), 1, 1_000)
        .await
        .unwrap();
    assert_eq!((missing.added, missing.product), (None, None));
    let (_, lines) = store.cart(ann).await.unwrap();
    let quantities: Vec<i64> = lines.iter().map(|l| l.quantity).collect();
    assert_eq!(quantities, [5, 10], "refusals changed nothing");
}

/// Simultaneous additions of one product to one cart add up, and together never pass the
/// stock.
pub async fn concurrent_additions_never_pass_the_stock<S: ShopStore>(store: Arc<S>) {
    let ann = user(&*store, "ann").await;
    let tea = product(&*store, "Tea", 250, 5).await;
    store.cart(ann).await.unwrap();
    let additions: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.add_to_cart(ann, tea.id, 1, 1_000).await })
        })
        .collect();
    let mut added = 0;
    for addition in additions {
        if addition.await.unwrap().unwrap().added.is_some() {
            added += 1;
        }
    }
    assert_eq!(added, 5);
    let (_, lines) = store.cart(ann).await.unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].quantity, 5);
}

/// A placement takes from each cart line what the order holds of it: a line that grew while
/// the order was placed keeps the units added, one that shrank is removed, and another
/// user's line, named by mistake, is left alone.
pub async fn placing_an_order_takes_its_quantities_from_the_cart<S: ShopStore>(store: Arc<S>) {
    let ann = user(&*store, "ann").await;
    let bob = user(&*store, "bob").await;
    let tea = product(&*store, "Tea", 250, 20).await;
    let mug = product(&*store, "Mug", 800, 20).await;
    let (tea_line, _) = add(&*store, ann, tea.id, 2).await;
    let (mug_line, _) = add(&*store, ann, mug.id, 3).await;
    let (bobs_line, _) = add(&*store, bob, tea.id, 1).await;
    // Read as 2 teas and 3 mugs; then, before the placement, one more tea and one mug fewer.
    add(&*store, ann, tea.id, 1).await;
    store.set_cart_quantity(ann, mug_line, 2).await.unwrap();

    let mut order = order_of(ann, &tea, 2, None);
    order.items.push(OrderItem {
        product_id: mug.id,
        product_name: mug.name.clone(),
        unit_price_minor: mug.price_minor,
        quantity: 3,
    });
    order.cart_items = vec![
        CartLineTaken {
            item: tea_line,
            quantity: 2,
        },
        CartLineTaken {
            item: mug_line,
            quantity: 3,
        },
        CartLineTaken {
            item: bobs_line,
            quantity: 1,
        },
    ];
    assert!(matches!(
        store.place_order(order).await.unwrap(),
        PlaceOrderOutcome::Placed(_)
    ));
    let (_, left) = store.cart(ann).await.unwrap();
    let left: Vec<_> = left.iter().map(|l| (l.id, l.quantity)).collect();
    assert_eq!(left, vec![(tea_line, 1)], "the tea added meanwhile stays");
    let (_, bobs) = store.cart(bob).await.unwrap();
    assert_eq!(bobs.len(), 1, "another user's cart is not touched");
    assert_eq!(bobs[0].quantity, 1);
}

/// A placement takes stock, records the order, consumes its cart lines and queues its task.
pub async fn placing_an_order_is_one_transaction<S: ShopStore>(store: Arc<S>) {
    let ann = user(&*store, "ann").await;
    let tea = product(&*store, "Tea", 250, 10).await;
    let (line, _) = add(&*store, ann, tea.id, 4).await;
    let mut order = order_of(ann, &tea, 4, None);
    order.cart_items = vec![CartLineTaken {
        item: line,
        quantity: 4,
    }];
    let PlaceOrderOutcome::Placed(placed) = store.place_order(order).await.unwrap() else {
        panic!("not placed")
    };
    assert_eq!(placed.status, OrderStatus::Pending);
    assert_eq!(placed.items.len(), 1);
    assert_eq!(placed.total_minor, 1000);
    assert_eq!(
        placed.shipping_address,
        Some(serde_json::json!({"city": "Springfield"}))
    );
    assert_eq!(stock_of(&*store, tea.id).await, 6);
    assert!(store.cart(ann).await.unwrap().1.is_empty());
    assert_eq!(
        store.find_order(placed.id).await.unwrap(),
        Some(placed.clone())
    );
    let task = store
        .claim(&["confirm"], Utc::now(), std::time::Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        task.payload,
        serde_json::json!({ "order": placed.id, "kept": true })
    );

    // Too many, a changed price, or a deleted product: nothing changes.
    let mug = product(&*store, "Mug", 800, 2).await;
    let too_many = store
        .place_order(order_of(ann, &mug, 3, None))
        .await
        .unwrap();
    assert!(
        matches!(&too_many, PlaceOrderOutcome::Rejected(p)
        if p[0].kind == CheckoutProblemKind::Shortage && p[0].available == 2),
        "{too_many:?}"
    );
    let mut repriced = mug.clone();
    repriced.price_minor = 1;
    let outcome = store
        .place_order(order_of(ann, &repriced, 1, None))
        .await
        .unwrap();
    assert!(
        matches!(&outcome, PlaceOrderOutcome::Rejected(p) if p[0].kind == CheckoutProblemKind::PriceChanged)
    );
    store.delete_product(mug.id, None).await.unwrap();
    let outcome = store
        .place_order(order_of(ann, &mug, 1, None))
        .await
        .unwrap();
    assert!(
        matches!(&outcome, PlaceOrderOutcome::Rejected(p) if p[0].kind == CheckoutProblemKind::Unavailable)
    );
    assert_eq!(stock_of(&*store, tea.id).await, 6);
    assert!(
        store
            .claim(&["confirm"], Utc::now(), std::time::Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );
}

/// Tea, 10 in stock, as read before an order took 3 of it: what a change built on a read
/// that is no longer current starts from. Returns the product as created, and as read.
async fn tea_read_before_an_order<S: ShopStore + ?Sized>(store: &S) -> (Product, Product) {
    let ann = user(store, "ann").await;
    let tea = product(store, "Tea", 250, 10).await;
    let read = store.product_to_update(tea.id).await.unwrap().unwrap();
    let PlaceOrderOutcome::Placed(_) = store
        .place_order(order_of(ann, &tea, 3, None))
        .await
        .unwrap()
    else {
        panic!("not placed")
    };
    (tea, read)
}

/// A product update that keeps the stock leaves what orders took since it read the product
/// taken; one that sets it sets it.
pub async fn product_updates_keep_the_stock_orders_took<S: ShopStore>(store: Arc<S>) {
    let (tea, read) = tea_read_before_an_order(&*store).await;
    let repriced = ProductRecord {
        price_minor: 300,
        ..record_of(&read)
    };
    let updated = store
        .update_product(tea.id, repriced.clone(), StockWrite::Keep, None)
        .await
        .unwrap();
    assert_eq!((updated.price_minor, updated.stock), (300, 7));
    assert_eq!(stock_of(&*store, tea.id).await, 7);

    let counted = ProductRecord {
        stock: 12,
        ..repriced
    };
    let updated = store
        .update_product(tea.id, counted, StockWrite::Set, None)
        .await
        .unwrap();
    assert_eq!(updated.stock, 12);
}

/// A conditional update goes through only while the product is in the state it was built on:
/// an order placed since, or another staff change, fails it, and a missing product is still
/// not found.
pub async fn conditional_product_updates_fail_once_the_product_changed<S: ShopStore>(
    store: Arc<S>,
) {
    let (tea, read) = tea_read_before_an_order(&*store).await;
    let reprice = |id: ProductId, price_minor: i64, stock: StockWrite, read: &Product| {
        let record = ProductRecord {
            price_minor,
            ..record_of(&tea)
        };
        let expected = Some(ProductState::of(read));
        let store = Arc::clone(&store);
        async move { store.update_product(id, record, stock, expected).await }
    };
    let after_order = reprice(tea.id, 300, StockWrite::Set, &read).await;
    assert!(
        matches!(after_order, Err(Error::PreconditionFailed(_))),
        "an order took stock since the read: {after_order:?}"
    );
    assert_eq!(
        stock_of(&*store, tea.id).await,
        7,
        "and the write did nothing"
    );

    let read = store.product_to_update(tea.id).await.unwrap().unwrap();
    let first = reprice(tea.id, 300, StockWrite::Keep, &read).await.unwrap();
    assert_eq!((first.price_minor, first.stock), (300, 7));
    let second = reprice(tea.id, 350, StockWrite::Keep, &read).await;
    assert!(
        matches!(second, Err(Error::PreconditionFailed(_))),
        "the first change moved it: {second:?}"
    );
    let current = store.product_to_update(tea.id).await.unwrap().unwrap();
    assert_eq!(current.price_minor, 300);

    let gone = reprice(ProductId(i64::MAX), 1, StockWrite::Keep, &read).await;
    assert!(matches!(gone, Err(Error::NotFound(_))), "{gone:?}");
}

/// A conditional delete goes through only while the product is in the state it was read in,
/// as a conditional update does.
pub async fn conditional_product_deletes_fail_once_the_product_changed<S: ShopStore>(
    store: Arc<S>,
) {
    let (tea, read) = tea_read_before_an_order(&*store).await;
    let after_order = store
        .delete_product(tea.id, Some(ProductState::of(&read)))
        .await;
    assert!(
        matches!(after_order, Err(Error::PreconditionFailed(_))),
        "an order took stock since the read: {after_order:?}"
    );

    let read = store.product_to_update(tea.id).await.unwrap().unwrap();
    let renamed = ProductRecord {
        name: "Green tea".into(),
        ..record_of(&read)
    };
    store
        .update_product(tea.id, renamed, StockWrite::Keep, None)
        .await
        .unwrap();
    let after_change = store
        .delete_product(tea.id, Some(ProductState::of(&read)))
        .await;
    assert!(
        matches!(after_change, Err(Error::PreconditionFailed(_))),
        "a staff change moved it since the read: {after_change:?}"
    );
    assert!(store.product_to_update(tea.id).await.unwrap().is_some());

    let read = store.product_to_update(tea.id).await.unwrap().unwrap();
    let expected = Some(ProductState::of(&read));
    store.delete_product(tea.id, expected).await.unwrap();
    assert_eq!(store.product_to_update(tea.id).await.unwrap(), None);
    let gone = store.delete_product(tea.id, expected).await;
    assert!(matches!(gone, Err(Error::NotFound(_))), "{gone:?}");
}

/// Concurrent placements for the last units sell exactly the stock.
pub async fn concurrent_checkouts_never_oversell<S: ShopStore>(store: Arc<S>) {
    let tea = product(&*store, "Tea", 250, 10).await;
    let mut buyers = Vec::new();
    for i in 0..30 {
        buyers.push(user(&*store, &format!("buyer{i}")).await);
    }
    let attempts = buyers.into_iter().map(|buyer| {
        let store = store.clone();
        let tea = tea.clone();
        tokio::spawn(async move { store.place_order(order_of(buyer, &tea, 1, None)).await })
    });
    let outcomes: Vec<_> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    let placed = outcomes
        .iter()
        .filter(|o| matches!(o, PlaceOrderOutcome::Placed(_)))
        .count();
    assert_eq!(placed, 10);
    assert_eq!(stock_of(&*store, tea.id).await, 0);
}

/// Concurrent placements under one key make one order; the rest are duplicates of it.
pub async fn idempotency_keys_make_one_order<S: ShopStore>(store: Arc<S>) {
    let ann = user(&*store, "ann").await;
    let tea = product(&*store, "Tea", 250, 100).await;
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        let tea = tea.clone();
        tokio::spawn(async move { store.place_order(order_of(ann, &tea, 1, Some("k"))).await })
    });
    let outcomes: Vec<_> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    let placed: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            PlaceOrderOutcome::Placed(order) => Some(order.id),
            _ => None,
        })
        .collect();
    assert_eq!(placed.len(), 1, "{outcomes:?}");
    for outcome in &outcomes {
        if let PlaceOrderOutcome::Duplicate { order, fingerprint } = outcome {
            assert_eq!((*order, fingerprint.as_str()), (placed[0], "fp"));
        }
    }
    assert_eq!(stock_of(&*store, tea.id).await, 99);
    assert_eq!(
        store.find_order_by_key(ann, "k").await.unwrap(),
        Some((placed[0], "fp".to_owned()))
    );
    assert_eq!(
        store
            .purge_idempotency_keys(Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.find_order_by_key(ann, "k").await.unwrap(), None);
}

/// Status changes happen only from the expected status; cancelling restocks.
pub async fn status_changes_are_conditional<S: ShopStore>(store: Arc<S>) {
    let ann = user(&*store, "ann").await;
    let tea = product(&*store, "Tea", 250, 10).await;
    let PlaceOrderOutcome::Placed(order) = store
        .place_order(order_of(ann, &tea, 3, None))
        .await
        .unwrap()
    else {
        panic!("not placed")
    };
    let paid = store
        .change_status(order.id, OrderStatus::Pending, OrderStatus::Paid, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    assert_eq!(
        store
            .change_status(order.id, OrderStatus::Pending, OrderStatus::Cancelled, true)
            .await
            .unwrap(),
        None,
        "no longer pending"
    );
    assert_eq!(stock_of(&*store, tea.id).await, 7);
    store
        .change_status(order.id, OrderStatus::Paid, OrderStatus::Cancelled, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stock_of(&*store, tea.id).await, 10);
}

/// Lists are newest first and filter by user and status.
pub async fn orders_list_newest_first<S: ShopStore>(store: Arc<S>) {
    let ann = user(&*store, "ann").await;
    let bob = user(&*store, "bob").await;
    let tea = product(&*store, "Tea", 250, 100).await;
    let mut ids = Vec::new();
    for buyer in [ann, bob, ann] {
        if let PlaceOrderOutcome::Placed(order) = store
            .place_order(order_of(buyer, &tea, 1, None))
            .await
            .unwrap()
        {
            ids.push(order.id);
        }
    }
    store
        .change_status(ids[2], OrderStatus::Pending, OrderStatus::Paid, false)
        .await
        .unwrap();
    let all = |user, status| OrderListQuery {
        user,
        status,
        offset: 0,
        limit: 10,
    };
    let (orders, total) = store.list_orders(&all(None, None)).await.unwrap();
    assert_eq!(
        (orders.iter().map(|o| o.id).collect::<Vec<_>>(), total),
        (vec![ids[2], ids[1], ids[0]], 3)
    );
    assert_eq!(orders[0].items.len(), 1);
    let (orders, total) = store.list_orders(&all(Some(ann), None)).await.unwrap();
    assert_eq!((orders.len(), total), (2, 2));
    let (orders, _) = store
        .list_orders(&all(Some(ann), Some(OrderStatus::Pending)))
        .await
        .unwrap();
    assert_eq!(
        orders.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    let (orders, total) = store
        .list_orders(&OrderListQuery {
            offset: 2,
            limit: 10,
            ..all(None, None)
        })
        .await
        .unwrap();
    assert_eq!((orders.len(), total), (1, 3));
}
