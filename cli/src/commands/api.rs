//! `scaffolder api`: the HTTP API alone (concurrency 0), for the load-balanced API service.

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::wiring::{self, Background};

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    wiring::require_postgres(&settings, "api")?;
    wiring::check_auth_exposure(&settings)?;
    let store = wiring::open_store(&settings).await?;
    let metrics = wiring::metrics();
    let catalog = wiring::served_catalog(&settings, &store).await?;
    let runner = wiring::runner(&settings, catalog.clone());
    let shutdown = CancellationToken::new();
    wiring::on_signal(shutdown.clone());
    // Events written by workers elsewhere reach waiting readers here through LISTEN.
    let background = Background::start(&store, &settings, false).with_catalog_refresh(catalog.as_ref());
    // Dry-runs make their workspaces here.
    if let Err(error) = actions::prepare_working_directory(&settings.working_directory) {
        tracing::warn!(%error, path = %settings.working_directory.display(), "backend.workingDirectory cannot be created; dry-runs will fail");
    }
    let app = api::app(api::AppParts {
        store: store.clone(),
        runner,
        working_directory: settings.working_directory.clone(),
        catalog: catalog.clone(),
        auth: settings.auth.clone(),
        config: settings.api.clone(),
        worker_health: None,
        metrics: Some(metrics),
    });
    wiring::serve_http(wiring::bind(&settings).await?, app, shutdown).await?;
    background.stop().await;
    store.close().await;
    Ok(())
}
