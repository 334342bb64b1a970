//! `seed-demo`: fills the catalogue with realistic generated categories and products.
//!
//! Products go in through the store's bulk import, a few thousand to a statement, and the
//! search index is rebuilt once at the end rather than fed a million single changes. The data
//! is deterministic for a given count, so benchmarks see the same catalogue every time.

use std::time::{Duration, Instant};

use anyhow::Context;
use commerce_core::Shop;
use commerce_core::domain::catalog::slugify;
use commerce_core::domain::{CategoryId, CategoryRecord, ProductRecord};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Products per import call: large enough to amortise a transaction, small enough that the
/// progress bar moves.
const BATCH: usize = 20_000;

const DEPARTMENTS: &[&str] = &[
    "Audio",
    "Books",
    "Cameras",
    "Clothing",
    "Coffee",
    "Computers",
    "Furniture",
    "Garden",
    "Gaming",
    "Health",
    "Home",
    "Jewellery",
    "Kitchen",
    "Lighting",
    "Music",
    "Office",
    "Outdoor",
    "Pets",
    "Phones",
    "Shoes",
    "Sports",
    "Stationery",
    "Tea",
    "Tools",
    "Toys",
    "Travel",
    "Video",
    "Watches",
    "Wellness",
    "Wine",
];
const ADJECTIVES: &[&str] = &[
    "Wireless",
    "Compact",
    "Classic",
    "Premium",
    "Ergonomic",
    "Portable",
    "Organic",
    "Vintage",
    "Smart",
    "Rugged",
    "Lightweight",
    "Handmade",
    "Deluxe",
    "Minimal",
    "Waterproof",
    "Silent",
    "Foldable",
    "Heavy-duty",
    "Eco",
    "Professional",
    "Cordless",
    "Ceramic",
    "Bamboo",
    "Leather",
];
const NOUNS: &[&str] = &[
    "headphones",
    "speaker",
    "kettle",
    "backpack",
    "lamp",
    "chair",
    "notebook",
    "jacket",
    "sneakers",
    "watch",
    "camera",
    "blender",
    "tent",
    "keyboard",
    "mouse",
    "monitor",
    "mug",
    "teapot",
    "grinder",
    "bicycle",
    "drill",
    "charger",
    "blanket",
    "pillow",
    "scarf",
    "wallet",
    "sunglasses",
    "router",
    "tripod",
    "skillet",
];
const BRANDS: &[&str] = &[
    "Aurora",
    "Northwind",
    "Kestrel",
    "Lumen",
    "Orbit",
    "Pioneer",
    "Quarry",
    "Sable",
    "Tundra",
    "Vantage",
    "Willow",
    "Zephyr",
];
const QUALITIES: &[&str] = &[
    "built to last",
    "easy to clean",
    "designed for everyday use",
    "with a two-year warranty",
    "made from recycled materials",
    "loved by reviewers",
    "ready out of the box",
    "tested in harsh conditions",
];

/// Creates `categories` categories and `products` products, then rebuilds the search index.
pub(crate) async fn seed_demo(shop: &Shop, products: u64, categories: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let store = shop.catalog().store();
    let existing = store.list_categories().await?;
    let mut category_ids: Vec<CategoryId> = Vec::new();
    for i in 0..categories.max(1) {
        let base = DEPARTMENTS[i as usize % DEPARTMENTS.len()];
        let name = if (i as usize) < DEPARTMENTS.len() {
            base.to_owned()
        } else {
            format!("{base} {}", i as usize / DEPARTMENTS.len() + 1)
        };
        if let Some(found) = existing.iter().find(|c| c.name.eq_ignore_ascii_case(&name)) {
            category_ids.push(found.id);
            continue;
        }
        // Every fifth category sits inside an earlier one, so subtree filters have work to do.
        let parent = (i % 5 == 4).then(|| category_ids[(i / 5) as usize % category_ids.len()]);
        let created = store
            .create_category(CategoryRecord {
                slug: slugify(&name),
                description: format!("Everything in {name}."),
                name,
                parent,
            })
            .await
            .with_context(|| format!("creating category {i}"))?;
        category_ids.push(created.id);
    }

    let progress = ProgressBar::new(products);
    progress.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    progress.set_message("products");
    progress.enable_steady_tick(Duration::from_millis(200));
    // Continue numbering after any earlier run so slugs and SKUs stay unique.
    let offset = store.latest_change().await?;
    let mut rng = SmallRng::seed_from_u64(products ^ (offset << 20));
    let mut batch = Vec::with_capacity(BATCH);
    for n in 0..products {
        batch.push(demo_product(&mut rng, offset + n, &category_ids));
        if batch.len() == BATCH || n + 1 == products {
            store.import_products(&batch).await?;
            progress.inc(batch.len() as u64);
            batch.clear();
        }
    }
    progress.finish_with_message("products");
    let inserted = started.elapsed();

    let spinner = ProgressBar::new_spinner();
    spinner.set_message("rebuilding the search index");
    spinner.enable_steady_tick(Duration::from_millis(200));
    shop.catalog().indexer().rebuild().await?;
    spinner.finish_with_message("search index rebuilt");
    shop.catalog().responses().invalidate_all().await;
    println!(
        "seeded {products} products in {} categories: rows in {:.1} s, index in {:.1} s",
        category_ids.len(),
        inserted.as_secs_f64(),
        (started.elapsed() - inserted).as_secs_f64()
    );
    Ok(())
}

fn demo_product(rng: &mut SmallRng, n: u64, categories: &[CategoryId]) -> ProductRecord {
    let pick = |rng: &mut SmallRng, words: &[&'static str]| words[rng.random_range(0..words.len())];
    let brand = pick(rng, BRANDS);
    let adjective = pick(rng, ADJECTIVES);
    let noun = pick(rng, NOUNS);
    let name = format!("{brand} {adjective} {noun} {}", n % 1000);
    let description = format!(
        "The {} {noun} from {brand}, {} and {}.",
        adjective.to_lowercase(),
        pick(rng, QUALITIES),
        pick(rng, QUALITIES)
    );
    // Prices cluster like real ones: mostly under 100, a long tail above, ending in .99 or .00.
    let whole = if rng.random_bool(0.8) {
        rng.random_range(1..100)
    } else {
        rng.random_range(100..2_000)
    };
    let cents = if rng.random_bool(0.6) { 99 } else { 0 };
    ProductRecord {
        slug: format!("{}-{n}", slugify(&name)),
        sku: format!("DEMO-{n:08}"),
        name,
        description,
        price_minor: whole * 100 + cents,
        category: categories[rng.random_range(0..categories.len())],
        stock: if rng.random_bool(0.1) {
            0
        } else {
            rng.random_range(1..500)
        },
        is_active: !rng.random_bool(0.02),
    }
}
