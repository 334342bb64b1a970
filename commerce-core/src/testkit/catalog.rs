//! The contract of [`CatalogStore`].

use std::collections::HashSet;
use std::sync::Arc;

use crate::Error;
use crate::domain::{Category, CategoryId, CategoryRecord, Product, ProductId, ProductRecord};
use crate::ports::{CatalogStore, ProductFilter, ProductListQuery, ProductOrdering, StockWrite};

fn category(name: &str, parent: Option<CategoryId>) -> CategoryRecord {
    CategoryRecord {
        name: name.into(),
        slug: crate::domain::catalog::slugify(name),
        description: format!("All about {name}"),
        parent,
    }
}

/// Accepts any tree: for changes whose check is not what a test is about.
fn any_tree(_: &[Category]) -> crate::Result<()> {
    Ok(())
}

/// Accepts any category: for deletes whose check is not what a test is about.
fn any_category(_: &Category) -> crate::Result<()> {
    Ok(())
}

/// Rejects putting `category` under `parent` when `parent` is inside `category`.
fn no_cycle(category: CategoryId, parent: CategoryId) -> impl Fn(&[Category]) -> crate::Result<()> {
    move |tree: &[Category]| {
        let parent_of = |id: CategoryId| tree.iter().find(|c| c.id == id).and_then(|c| c.parent);
        let mut ancestor = Some(parent);
        while let Some(id) = ancestor {
            if id == category {
                return Err(Error::invalid("parent", "inside itself"));
            }
            ancestor = parent_of(id);
        }
        Ok(())
    }
}

fn product(name: &str, category: CategoryId, price_minor: i64, stock: i64) -> ProductRecord {
    let slug = crate::domain::catalog::slugify(name);
    ProductRecord {
        name: name.into(),
        sku: format!("SKU-{slug}"),
        slug,
        description: format!("{name}, described"),
        price_minor,
        category,
        stock,
        is_active: true,
    }
}

/// Categories are created, found, listed by name, replaced and deleted.
pub async fn categories_round_trip<S: CatalogStore>(store: Arc<S>) {
    let tea = store.create_category(category("Tea", None)).await.unwrap();
    let green = store
        .create_category(category("Green tea", Some(tea.id)))
        .await
        .unwrap();
    assert_eq!(green.parent, Some(tea.id));
    assert_eq!(green.slug, "green-tea");
    assert_eq!(
        store.find_category(tea.id).await.unwrap(),
        Some(tea.clone())
    );

    let names: Vec<_> = store
        .list_categories()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["Green tea", "Tea"]);

    let renamed = store
        .update_category(green.id, category("Matcha", None), &any_tree)
        .await
        .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.parent), ("Matcha", None));
    assert!(renamed.updated_at >= green.updated_at);

    store
        .delete_category(green.id, &any_category)
        .await
        .unwrap();
    assert_eq!(store.find_category(green.id).await.unwrap(), None);
    assert!(matches!(
        store.delete_category(green.id, &any_category).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store
            .update_category(green.id, category("Gone", None), &any_tree)
            .await,
        Err(Error::NotFound(_))
    ));
}

/// A category change is checked against the tree as it stands when it is written: of two
/// moves that are each fine alone but together make a cycle (A under B, B under A), one fails.
pub async fn category_moves_are_checked_one_at_a_time<S: CatalogStore>(store: Arc<S>) {
    for round in 0..10 {
        let a = store
            .create_category(category(&format!("Left {round}"), None))
            .await
            .unwrap();
        let b = store
            .create_category(category(&format!("Right {round}"), None))
            .await
            .unwrap();
        let (a_under_b, b_under_a) = (no_cycle(a.id, b.id), no_cycle(b.id, a.id));
        let (moved_a, moved_b) = tokio::join!(
            store.update_category(a.id, category(&a.name, Some(b.id)), &a_under_b),
            store.update_category(b.id, category(&b.name, Some(a.id)), &b_under_a),
        );
        match (moved_a, moved_b) {
            (Ok(_), Err(Error::Validation(_))) | (Err(Error::Validation(_)), Ok(_)) => {}
            other => panic!("round {round}: expected one move to pass, got {other:?}"),
        }
    }
}

/// Category names (in any case) and slugs are unique; a parent must exist.
pub async fn category_names_and_slugs_are_unique<S: CatalogStore>(store: Arc<S>) {
    let tea = store.create_category(category("Tea", None)).await.unwrap();
    let same_name = store.create_category(category("TEA", None)).await;
    assert!(
        matches!(same_name, Err(Error::AlreadyExists { field: "name", .. })),
        "{same_name:?}"
    );
    let mut same_slug = category("Coffee", None);
    same_slug.slug = "tea".into();
    let same_slug = store.create_category(same_slug).await;
    assert!(
        matches!(same_slug, Err(Error::AlreadyExists { field: "slug", .. })),
        "{same_slug:?}"
    );
    let orphan = store
        .create_category(category("Orphan", Some(CategoryId(tea.id.0 + 999))))
        .await;
    assert!(matches!(orphan, Err(Error::Validation(_))), "{orphan:?}");
    // Keeping its own name on update is no conflict.
    store
        .update_category(tea.id, category("Tea", None), &any_tree)
        .await
        .unwrap();
}

/// A category holding products or subcategories cannot be deleted.
pub async fn categories_in_use_cannot_be_deleted<S: CatalogStore>(store: Arc<S>) {
    let tea = store.create_category(category("Tea", None)).await.unwrap();
    let green = store
        .create_category(category("Green", Some(tea.id)))
        .await
        .unwrap();
    let sencha = store
        .create_product(product("Sencha", green.id, 1200, 5))
        .await
        .unwrap();
    assert!(matches!(
        store.delete_category(green.id, &any_category).await,
        Err(Error::InUse {
            field: "products",
            ..
        })
    ));
    assert!(matches!(
        store.delete_category(tea.id, &any_category).await,
        Err(Error::InUse {
            field: "subcategories",
            ..
        })
    ));
    store.delete_product(sencha.id, None).await.unwrap();
    store
        .delete_category(green.id, &any_category)
        .await
        .unwrap();
    store.delete_category(tea.id, &any_category).await.unwrap();
}

/// A category is deleted only once its check has accepted it as committed. The check is told
/// before what the category still holds, and never of a category that does not exist.
pub async fn category_deletes_are_checked<S: CatalogStore>(store: Arc<S>) {
    let tea = store.create_category(category("Tea", None)).await.unwrap();
    let green = store
        .create_category(category("Green", Some(tea.id)))
        .await
        .unwrap();
    let stale = |_: &Category| Err(Error::PreconditionFailed("category"));
    let refused = store.delete_category(tea.id, &stale).await;
    assert!(
        matches!(refused, Err(Error::PreconditionFailed(_))),
        "the check comes before the subcategory in it: {refused:?}"
    );

    let renamed = store
        .update_category(green.id, category("Matcha", Some(tea.id)), &any_tree)
        .await
        .unwrap();
    let checked = std::sync::Mutex::new(None);
    let record = |current: &Category| {
        *checked.lock().unwrap() = Some(current.clone());
        Ok(())
    };
    store.delete_category(green.id, &record).await.unwrap();
    assert_eq!(checked.into_inner().unwrap(), Some(renamed));
    assert_eq!(store.find_category(green.id).await.unwrap(), None);

    let gone = store.delete_category(green.id, &stale).await;
    assert!(matches!(gone, Err(Error::NotFound(_))), "{gone:?}");
    store.delete_category(tea.id, &any_category).await.unwrap();
}

/// Products are created, found, replaced and deleted.
pub async fn products_round_trip<S: CatalogStore>(store: Arc<S>) {
    let tea = store.create_category(category("Tea", None)).await.unwrap();
    let created = store
        .create_product(product("Sencha", tea.id, 150_000, 7))
        .await
        .unwrap();
    assert_eq!(created.name, "Sencha");
    assert_eq!(created.price_minor, 150_000);
    assert_eq!(created.stock, 7);
    assert!(created.is_active);
    assert_eq!(created.created_at, created.updated_at);
    assert_eq!(
        store.find_product(created.id).await.unwrap(),
        Some(created.clone())
    );

    let mut record = product("Gyokuro", tea.id, 99, 0);
    record.is_active = false;
    let updated = store
        .update_product(created.id, record, StockWrite::Set, None)
        .await
        .unwrap();
    assert_eq!(updated.id, created.id);
    assert_eq!(
        (updated.name.as_str(), updated.price_minor),
        ("Gyokuro", 99)
    );
    assert!(!updated.is_active);
    assert_eq!(updated.created_at, created.created_at);

    store.delete_product(created.id, None).await.unwrap();
    assert_eq!(store.find_product(created.id).await.unwrap(), None);
    assert!(matches!(
        store.delete_product(created.id, None).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store
            .update_product(
                created.id,
                product("X", tea.id, 1, 1),
                StockWrite::Set,
                None
            )
            .await,
        Err(Error::NotFound(_))
    ));
}

/// SKUs and slugs are unique; the category must exist.
pub async fn product_skus_and_slugs_are_unique<S: CatalogStore>(store: Arc<S>) {
    let tea = store.create_category(category("Tea", None)).await.unwrap();
    let first = store
        .create_product(product("Sencha", tea.id, 100, 1))
        .await
        .unwrap();
    let mut same_sku = product("Other", tea.id, 100, 1);
    same_sku.sku = first.sku.clone();
    let same_sku = store.create_product(same_sku).await;
    assert!(
        matches!(same_sku, Err(Error::AlreadyExists { field: "sku", .. })),
        "{same_sku:?}"
    );
    let mut same_slug = product("Other", tea.id, 100, 1);
    same_slug.slug = first.slug.clone();
    let same_slug = store.create_product(same_slug).await;
    assert!(
        matches!(same_slug, Err(Error::AlreadyExists { field: "slug", .. })),
        "{same_slug:?}"
    );
    let nowhere = store
        .create_product(product("Lost", CategoryId(tea.id.0 + 999), 100, 1))
        .await;
    assert!(matches!(nowhere, Err(Error::Validation(_))), "{nowhere:?}");
    // Keeping its own SKU on update is no conflict.
    let mut same = product("Sencha", tea.id, 200, 1);
    same.sku = first.sku.clone();
    store
        .update_product(first.id, same, StockWrite::Set, None)
        .await
        .unwrap();
}

struct Fixture {
    tea: CategoryId,
    coffee: CategoryId,
    all: Vec<Product>,
}

async fn fixture<S: CatalogStore>(store: &S) -> Fixture {
    let tea = store
        .create_category(category("Tea", None))
        .await
        .unwrap()
        .id;
    let coffee = store
        .create_category(category("Coffee", None))
        .await
        .unwrap()
        .id;
    let mut all = Vec::new();
    for i in 0..24_i64 {
        let mut record = product(
            &format!("Item {:02}", (i * 7) % 24),
            if i % 3 == 0 { coffee } else { tea },
            100 * (i % 6),
            i % 4,
        );
        record.is_active = i % 8 != 7;
        all.push(store.create_product(record).await.unwrap());
    }
    Fixture { tea, coffee, all }
}

fn expected(all: &[Product], filter: &ProductFilter, ordering: ProductOrdering) -> Vec<ProductId> {
    let mut matching: Vec<&Product> = all
        .iter()
        .filter(|p| !filter.active_only || p.is_active)
        .filter(|p| {
            filter
                .categories
                .as_ref()
                .is_none_or(|c| c.contains(&p.category))
        })
        .filter(|p| filter.min_price.is_none_or(|min| p.price_minor >= min))
        .filter(|p| filter.max_price.is_none_or(|max| p.price_minor <= max))
        .filter(|p| filter.in_stock.is_none_or(|want| (p.stock > 0) == want))
        .collect();
    matching.sort_by(|a, b| {
        use ProductOrdering::*;
        let key = match ordering {
            PriceAscending | PriceDescending => a.price_minor.cmp(&b.price_minor),
            NameAscending | NameDescending => a.name.cmp(&b.name),
            CreatedAscending | CreatedDescending => a.created_at.cmp(&b.created_at),
            StockAscending | StockDescending => a.stock.cmp(&b.stock),
        }
        .then(a.id.cmp(&b.id));
        match ordering {
            PriceDescending | NameDescending | CreatedDescending | StockDescending => key.reverse(),
            _ => key,
        }
    });
    matching.into_iter().map(|p| p.id).collect()
}

/// Every filter, alone and combined, selects exactly the matching products, and counts them.
pub async fn lists_filter_and_count<S: CatalogStore>(store: Arc<S>) {
    let f = fixture(&*store).await;
    let filters = [
        ProductFilter::default(),
        ProductFilter {
            active_only: true,
            ..Default::default()
        },
        ProductFilter {
            categories: Some(vec![f.tea]),
            ..Default::default()
        },
        ProductFilter {
            categories: Some(vec![f.tea, f.coffee]),
            ..Default::default()
        },
        ProductFilter {
            categories: Some(vec![]),
            ..Default::default()
        },
        ProductFilter {
            min_price: Some(200),
            ..Default::default()
        },
        ProductFilter {
            max_price: Some(200),
            ..Default::default()
        },
        ProductFilter {
            min_price: Some(100),
            max_price: Some(300),
            ..Default::default()
        },
        ProductFilter {
            in_stock: Some(true),
            ..Default::default()
        },
        ProductFilter {
            in_stock: Some(false),
            ..Default::default()
        },
        ProductFilter {
            categories: Some(vec![f.coffee]),
            min_price: Some(100),
            in_stock: Some(true),
            active_only: true,
            ..Default::default()
        },
    ];
    for filter in filters {
        let want = expected(&f.all, &filter, ProductOrdering::PriceAscending);
        let page = store
            .list_products(&ProductListQuery {
                filter: filter.clone(),
                ordering: ProductOrdering::PriceAscending,
                offset: 0,
                limit: 100,
            })
            .await
            .unwrap();
        let got: Vec<_> = page.items.iter().map(|p| p.id).collect();
        assert_eq!(got, want, "{filter:?}");
        assert_eq!(page.total, want.len() as u64, "{filter:?}");
    }
}

/// Every ordering sorts as documented, ties by id, and pages neither overlap nor skip.
pub async fn lists_order_and_paginate<S: CatalogStore>(store: Arc<S>) {
    let f = fixture(&*store).await;
    let filter = ProductFilter::default();
    for (ordering, name) in ProductOrdering::ALL {
        let want = expected(&f.all, &filter, ordering);
        let mut got = Vec::new();
        for page_number in 0..4 {
            let page = store
                .list_products(&ProductListQuery {
                    filter: filter.clone(),
                    ordering,
                    offset: page_number * 7,
                    limit: 7,
                })
                .await
                .unwrap();
            assert_eq!(page.total, 24, "{name}");
            got.extend(page.items.iter().map(|p| p.id));
        }
        assert_eq!(got, want, "{name}");
    }
    let past_the_end = store
        .list_products(&ProductListQuery {
            filter,
            ordering: ProductOrdering::default(),
            offset: 1000,
            limit: 20,
        })
        .await
        .unwrap();
    assert!(past_the_end.items.is_empty());
    assert_eq!(past_the_end.total, 24);
}

/// Products are fetched by ids in one call; unknown ids are skipped.
pub async fn products_are_fetched_by_ids<S: CatalogStore>(store: Arc<S>) {
    let f = fixture(&*store).await;
    let wanted = [f.all[3].id, f.all[0].id, ProductId(f.all[23].id.0 + 100)];
    let found: HashSet<_> = store
        .products_by_ids(&wanted)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(found, HashSet::from([f.all[3].id, f.all[0].id]));
    assert!(store.products_by_ids(&[]).await.unwrap().is_empty());
}

/// Creating, changing and deleting a product, and renaming its category, are logged in order.
pub async fn every_product_write_is_logged<S: CatalogStore>(store: Arc<S>) {
    assert_eq!(store.latest_change().await.unwrap(), 0);
    let tea = store.create_category(category("Tea", None)).await.unwrap();
    let a = store
        .create_product(product("A", tea.id, 1, 1))
        .await
        .unwrap();
    let b = store
        .create_product(product("B", tea.id, 1, 1))
        .await
        .unwrap();
    let start = store.latest_change().await.unwrap();
    assert!(start >= 2);

    store
        .update_product(a.id, product("A2", tea.id, 2, 1), StockWrite::Set, None)
        .await
        .unwrap();
    store.delete_product(b.id, None).await.unwrap();
    store
        .update_category(tea.id, category("Tisane", None), &any_tree)
        .await
        .unwrap();
    let changes = store.changes_since(start, 100).await.unwrap();
    let products: Vec<_> = changes.iter().map(|c| c.product).collect();
    assert_eq!(products, [a.id, b.id, a.id]);
    assert!(changes.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(store.latest_change().await.unwrap(), changes[2].seq);

    // Paging through the log.
    let first = store.changes_since(start, 2).await.unwrap();
    let rest = store.changes_since(first[1].seq, 2).await.unwrap();
    assert_eq!(first.len() + rest.len(), 3);
}

/// Pruning deletes the oldest entries below a position, at most `limit` at a time, and the
/// positions of later entries keep rising past the pruned ones.
pub async fn old_changes_are_pruned<S: CatalogStore>(store: Arc<S>) {
    let tea = store.create_category(category("Tea", None)).await.unwrap();
    let a = store
        .create_product(product("A", tea.id, 1, 1))
        .await
        .unwrap();
    for price in 2..=5 {
        store
            .update_product(a.id, product("A", tea.id, price, 1), StockWrite::Set, None)
            .await
            .unwrap();
    }
    let all = store.changes_since(0, 100).await.unwrap();
    assert_eq!(all.len(), 5);
    let fourth = all[3].seq;

    assert_eq!(store.prune_changes(fourth, 2).await.unwrap(), 2);
    assert_eq!(store.changes_since(0, 100).await.unwrap(), all[2..]);
    assert_eq!(store.prune_changes(fourth, 100).await.unwrap(), 1);
    assert_eq!(store.changes_since(0, 100).await.unwrap(), all[3..]);
    assert_eq!(store.prune_changes(fourth, 100).await.unwrap(), 0);
    assert_eq!(store.latest_change().await.unwrap(), all[4].seq);

    // Even with every entry gone, the next one is numbered above all of them.
    let latest = all[4].seq;
    assert_eq!(store.prune_changes(latest + 1, 100).await.unwrap(), 2);
    assert!(store.changes_since(0, 100).await.unwrap().is_empty());
    store
        .update_product(a.id, product("A", tea.id, 6, 1), StockWrite::Set, None)
        .await
        .unwrap();
    let next = store.changes_since(0, 100).await.unwrap();
    assert_eq!(next.len(), 1);
    assert!(next[0].seq > latest);
}

/// The totals of unfiltered lists (all products, and active ones) follow every write that
/// changes them, and only those: creations, imports, deletions, (de)activations.
pub async fn unfiltered_totals_follow_every_write<S: CatalogStore>(store: Arc<S>) {
    async fn totals<S: CatalogStore>(store: &S) -> (u64, u64) {
        let total = |active_only| ProductListQuery {
            filter: ProductFilter {
                active_only,
                ..ProductFilter::default()
            },
            ordering: ProductOrdering::default(),
            offset: 0,
            limit: 1,
        };
        let all = store.list_products(&total(false)).await.unwrap().total;
        let active = store.list_products(&total(true)).await.unwrap().total;
        (all, active)
    }

    assert_eq!(totals(&*store).await, (0, 0));
    let tea = store.create_category(category("Tea", None)).await.unwrap();
    let green = store
        .create_product(product("Green", tea.id, 1, 1))
        .await
        .unwrap();
    let hidden = ProductRecord {
        is_active: false,
        ..product("Hidden", tea.id, 1, 1)
    };
    let hidden = store.create_product(hidden).await.unwrap();
    assert_eq!(totals(&*store).await, (2, 1));

    let batch = [
        product("Black", tea.id, 1, 1),
        ProductRecord {
            is_active: false,
            ..product("Oolong", tea.id, 1, 1)
        },
        product("White", tea.id, 1, 0),
    ];
    assert_eq!(store.import_products(&batch).await.unwrap(), 3);
    assert_eq!(totals(&*store).await, (5, 3));

    // Deactivating, a change that keeps the activity, and activating.
    let deactivated = ProductRecord {
        is_active: false,
        ..product("Green", tea.id, 1, 1)
    };
    store
        .update_product(green.id, deactivated, StockWrite::Set, None)
        .await
        .unwrap();
    assert_eq!(totals(&*store).await, (5, 2));
    let restocked = ProductRecord {
        is_active: false,
        ..product("Green", tea.id, 2, 9)
    };
    store
        .update_product(green.id, restocked, StockWrite::Set, None)
        .await
        .unwrap();
    assert_eq!(totals(&*store).await, (5, 2));
    store
        .update_product(
            hidden.id,
            product("Hidden", tea.id, 1, 1),
            StockWrite::Set,
            None,
        )
        .await
        .unwrap();
    assert_eq!(totals(&*store).await, (5, 3));

    store.delete_product(hidden.id, None).await.unwrap();
    store.delete_product(green.id, None).await.unwrap();
    assert_eq!(totals(&*store).await, (3, 2));
}

/// Index documents carry the category name; deleted products have none.
pub async fn index_documents_follow_the_products<S: CatalogStore>(store: Arc<S>) {
    let f = fixture(&*store).await;
    let first = &f.all[0];
    let documents = store.index_documents(&[first.id]).await.unwrap();
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0].name, first.name);
    assert_eq!(documents[0].category_name, "Coffee");
    assert_eq!(documents[0].price_minor, first.price_minor);

    store.delete_product(first.id, None).await.unwrap();
    assert!(store.index_documents(&[first.id]).await.unwrap().is_empty());

    let mut after = ProductId(0);
    let mut seen = Vec::new();
    loop {
        let batch = store.index_documents_after(after, 5).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.id;
        seen.extend(batch.iter().map(|d| d.id));
    }
    let mut want: Vec<_> = f.all[1..].iter().map(|p| p.id).collect();
    want.sort();
    assert_eq!(seen, want);
}

/// An import creates every product or, on any conflict, none.
pub async fn imports_are_all_or_nothing<S: CatalogStore>(store: Arc<S>) {
    let tea = store.create_category(category("Tea", None)).await.unwrap();
    let batch: Vec<_> = (0..2500)
        .map(|i| product(&format!("Imported {i}"), tea.id, i, i % 3))
        .collect();
    assert_eq!(store.import_products(&batch).await.unwrap(), 2500);
    let page = store
        .list_products(&ProductListQuery {
            filter: ProductFilter::default(),
            ordering: ProductOrdering::PriceDescending,
            offset: 0,
            limit: 1,
        })
        .await
        .unwrap();
    assert_eq!(page.total, 2500);
    assert_eq!(page.items[0].name, "Imported 2499");

    let mut clash = vec![product("Fresh", tea.id, 1, 1)];
    clash.push(batch[0].clone());
    assert!(store.import_products(&clash).await.is_err());
    assert_eq!(
        store
            .list_products(&ProductListQuery {
                filter: ProductFilter::default(),
                ordering: ProductOrdering::default(),
                offset: 0,
                limit: 1,
            })
            .await
            .unwrap()
            .total,
        2500
    );
    assert!(store.import_products(&[]).await.unwrap() == 0);
}

/// A deleted product's id is never given to another: carts and orders still name it.
pub async fn deleted_product_ids_are_never_given_again<S: CatalogStore>(store: Arc<S>) {
    let tea = store.create_category(category("Tea", None)).await.unwrap();
    store
        .create_product(product("Sencha", tea.id, 100, 1))
        .await
        .unwrap();
    let newest = store
        .create_product(product("Gyokuro", tea.id, 100, 1))
        .await
        .unwrap();
    store.delete_product(newest.id, None).await.unwrap();
    let next = store
        .create_product(product("Matcha", tea.id, 100, 1))
        .await
        .unwrap();
    assert!(next.id.0 > newest.id.0, "{next:?} after {newest:?}");
}
