//! `sqlx::migrate!` embeds `migrations/` at compile time, but on stable Rust cargo cannot
//! learn that those files are inputs: without this line, a migration added or edited after
//! the last build would be missing from the next incremental one.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
