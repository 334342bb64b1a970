//! The product catalogue: categories and products.

/// Stores categories and products. Its operations arrive with the catalogue; the place exists
/// now so that backends are assembled the same way from the start.
pub trait CatalogStore: Send + Sync + 'static {}
