//! `scaffolder migrate`: apply pending migrations and exit (a release step).

use crate::config::Settings;
use crate::wiring;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let store = wiring::open_store(&settings).await?;
    tracing::info!("migrations applied");
    println!("migrations applied");
    store.close().await;
    Ok(())
}
