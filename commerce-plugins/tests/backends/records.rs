//! Catalogue records for the tests that write through a store: a category and a product,
//! each made from its name.

use commerce_core::domain::{CategoryId, CategoryRecord, ProductRecord};

/// A top-level category named `name`.
pub(crate) fn category(name: &str) -> CategoryRecord {
    CategoryRecord {
        name: name.into(),
        slug: name.to_lowercase().replace(' ', "-"),
        description: String::new(),
        parent: None,
    }
}

/// An active product named `name` in `category`, at 10.00 with three in stock.
pub(crate) fn product(name: &str, category: CategoryId) -> ProductRecord {
    let slug = name.to_lowercase().replace(' ', "-");
    ProductRecord {
        name: name.into(),
        sku: format!("SKU-{slug}"),
        slug,
        description: format!("{name}, described."),
        price_minor: 1000,
        category,
        stock: 3,
        is_active: true,
    }
}
