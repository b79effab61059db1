//! Lists every user of a SCIM service provider, page by page, with what it discovered.
//!
//! ```sh
//! SCIM_TOKEN=... cargo run -p scim-client --example list_users -- https://scim.example.com/t1/scim/v2
//! ```

use scim_client::{Client, Options};
use scim_schema::ResourceKind;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args().nth(1).ok_or("usage: list_users BASE_URL (token in SCIM_TOKEN)")?;
    let token = std::env::var("SCIM_TOKEN").map_err(|_| "set SCIM_TOKEN to the bearer token")?;
    let client = Client::connect(&base, &token, Options::default()).await?;
    let caps = client.capabilities();
    eprintln!(
        "cursor paging: {}, page size: {}, identity-center-like: {}",
        caps.cursor, caps.page_size, caps.identity_center_like
    );
    for user in client.list(ResourceKind::User, None).await? {
        println!(
            "{}\t{}\t{}",
            user["id"].as_str().unwrap_or("?"),
            user["userName"].as_str().unwrap_or("?"),
            user["active"]
        );
    }
    let stats = client.stats();
    eprintln!("{} requests, {} throttled", stats.reads, stats.throttled);
    Ok(())
}
