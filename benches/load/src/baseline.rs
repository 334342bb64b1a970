//! The baseline of the load benchmark: a bare poem-openapi handler answering a small JSON
//! object, with no database, cache or middleware. Every shop endpoint's throughput is reported
//! as a ratio of this one's, measured in the same run with the same load generator.
//!
//! `cargo run --release -p load-bench --bin baseline -- 127.0.0.1:8001`

use poem::listener::TcpListener;
use poem::{Route, Server};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, OpenApiService};

#[derive(Object)]
struct Greeting {
    id: i64,
    name: String,
    price: String,
}

struct Baseline;

#[OpenApi]
impl Baseline {
    /// A constant product.
    #[oai(path = "/product", method = "get")]
    async fn product(&self) -> Json<Greeting> {
        Json(Greeting {
            id: 1,
            name: "Baseline product".into(),
            price: "1500.00".into(),
        })
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8001".into());
    let api = OpenApiService::new(Baseline, "baseline", "1");
    Server::new(TcpListener::bind(address))
        .run(Route::new().nest("/", api))
        .await
}
