//! `cargo run -p embedded-shop`: serves the corner shop on `HOST`:`PORT` (default
//! 0.0.0.0:8000), keeping its data in `./data/`, until Ctrl-C.

use std::path::Path;

use commerce_core::config::Config;
use embedded_shop::{AboutApi, assemble};
use poem::listener::{Listener, TcpListener};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    let config = Config::from_env()?;
    let address = format!("{}:{}", config.host, config.port);
    let data = Path::new("data");
    std::fs::create_dir_all(data)?;
    let shop = assemble(config, data).await?;
    let app = shop.endpoint_with(AboutApi);
    let acceptor = TcpListener::bind(address).into_acceptor().await?;
    shop.serve(app, acceptor, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
