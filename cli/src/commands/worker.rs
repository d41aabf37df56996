//! `scaffolder worker`: claims and runs tasks; health and metrics on `backend.listen`.

use tokio_util::sync::CancellationToken;
use worker::Worker;

use crate::config::Settings;
use crate::wiring::{self, Background};

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    wiring::require_postgres(&settings, "worker")?;
    let store = wiring::open_store(&settings).await?;
    let metrics = wiring::metrics();
    // Workers register locations (catalog:register) but leave loading to the API processes.
    let catalog = wiring::catalog(&settings, &store, wiring::github(&settings))?;
    let runner = wiring::runner(&settings, Some(catalog));
    let shutdown = CancellationToken::new();
    wiring::on_signal(shutdown.clone());
    let background = Background::start(&store, &settings, true);

    let worker = Worker::new(store.clone(), runner, wiring::worker_config(&settings)?);
    let health = api::health_app(store.clone(), Some(worker.health()), Some(metrics));
    let http_stop = CancellationToken::new();
    let http = tokio::spawn(wiring::serve_http(wiring::bind(&settings).await?, health, http_stop.clone()));
    worker.run(shutdown).await;
    http_stop.cancel();
    background.stop().await;
    http.await??;
    store.close().await;
    Ok(())
}
