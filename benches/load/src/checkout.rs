//! The checkout benchmark: orders per second for a realistic checkout (a cart of three
//! products) at 32 concurrent buyers, beside what the database itself commits per second for
//! the smallest write transaction (one conditional single-row update), measured in the same
//! run, so the figure reads as a ratio.
//!
//! ```text
//! cargo run --release -p load-bench --bin checkout -- http://127.0.0.1:18000 data/shop.db 20
//! ```
//! (shop URL, the SQLite file that shop uses or `-` to skip the database's own figure,
//! seconds per measurement). The shop must be serving a seeded catalogue; buyers are
//! registered on the fly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BUYERS: usize = 32;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let shop = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:18000".into());
    let database = args.next().unwrap_or_else(|| "data/shop.db".into());
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let duration = Duration::from_secs(seconds);

    let client = reqwest::Client::new();
    let products: Value = client
        .get(format!(
            "{shop}/api/products/?in_stock=true&ordering=-stock&page_size=100"
        ))
        .send()
        .await?
        .json()
        .await?;
    let ids: Arc<Vec<i64>> = Arc::new(
        products["results"]
            .as_array()
            .ok_or("no products: seed the catalogue first")?
            .iter()
            .filter_map(|p| p["id"].as_i64())
            .collect(),
    );
    if ids.len() < 3 {
        return Err("need at least three products in stock".into());
    }

    let run = std::process::id();
    let mut tokens = Vec::new();
    for buyer in 0..BUYERS {
        let username = format!("buyer-{run}-{buyer}");
        let password = "benchmark-password";
        client
            .post(format!("{shop}/api/auth/register/"))
            .json(&json!({"username": username, "email": format!("{username}@example.com"), "password": password}))
            .send()
            .await?;
        let login: Value = client
            .post(format!("{shop}/api/auth/login/"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await?
            .json()
            .await?;
        tokens.push(login["access"].as_str().ok_or("login failed")?.to_owned());
    }

    let orders = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(buyer, token)| {
            let (client, shop, ids) = (client.clone(), shop.clone(), ids.clone());
            let (orders, refused) = (orders.clone(), refused.clone());
            tokio::spawn(async move {
                let mut round = buyer;
                while started.elapsed() < duration {
                    for offset in 0..3 {
                        let product = ids[(round * 3 + offset) % ids.len()];
                        let _ = client
                            .post(format!("{shop}/api/cart/items/"))
                            .bearer_auth(&token)
                            .json(&json!({"product": product, "quantity": 1}))
                            .send()
                            .await;
                    }
                    match client
                        .post(format!("{shop}/api/orders/"))
                        .bearer_auth(&token)
                        .send()
                        .await
                    {
                        Ok(response) if response.status().as_u16() == 201 => {
                            orders.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            let _ = client
                                .delete(format!("{shop}/api/cart/"))
                                .bearer_auth(&token)
                                .send()
                                .await;
                        }
                    }
                    round += BUYERS;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let checkout_rate = orders.load(Ordering::Relaxed) as f64 / elapsed;
    println!(
        "checkout (3 lines, {BUYERS} buyers): {checkout_rate:.0} orders/s ({} refused)",
        refused.load(Ordering::Relaxed)
    );
    if database == "-" {
        // Another database: its own benchmark tool gives the ceiling (pgbench for PostgreSQL).
        return Ok(());
    }

    // The database's own ceiling: one-row conditional update transactions at the same
    // concurrency, on the same file, while the shop idles.
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(BUYERS as u32)
        .connect_with(
            format!("sqlite://{database}")
                .parse::<sqlx::sqlite::SqliteConnectOptions>()?
                .busy_timeout(Duration::from_secs(10)),
        )
        .await?;
    let transactions = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let writers: Vec<_> = (0..BUYERS)
        .map(|writer| {
            let (pool, ids, transactions) = (pool.clone(), ids.clone(), transactions.clone());
            tokio::spawn(async move {
                let mut round = writer;
                while started.elapsed() < duration {
                    let id = ids[round % ids.len()];
                    let Ok(mut tx) = pool.begin_with("BEGIN IMMEDIATE").await else {
                        continue;
                    };
                    let updated = sqlx::query(
                        "UPDATE products SET stock = stock - 0 WHERE id = $1 AND stock >= 0",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await;
                    if updated.is_ok() && tx.commit().await.is_ok() {
                        transactions.fetch_add(1, Ordering::Relaxed);
                    }
                    round += BUYERS;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await?;
    }
    let database_rate =
        transactions.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();

    println!("single-row update transactions ({BUYERS} writers): {database_rate:.0} tx/s");
    println!("ratio: {:.3}", checkout_rate / database_rate);
    Ok(())
}
