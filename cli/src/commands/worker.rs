//! `scaffolder worker`: claims and runs tasks; health and metrics on `backend.listen`.

use tokio_util::sync::CancellationToken;
use worker::{Janitor, Worker};

use crate::config::Settings;
use crate::wiring;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    wiring::require_postgres(&settings, "worker")?;
    let store = wiring::open_store(&settings).await?;
    let metrics = wiring::metrics();
    let runner = wiring::runner(&settings);
    let shutdown = CancellationToken::new();
    wiring::on_signal(shutdown.clone());
    let background = CancellationToken::new();
    let listener = store.spawn_listener(background.clone());
    let janitor = tokio::spawn(Janitor::new(store.clone(), wiring::janitor_config(&settings)).run(background.clone()));

    let worker = Worker::new(store.clone(), runner, wiring::worker_config(&settings)?);
    let health = api::health_app(store.clone(), Some(worker.health()), Some(metrics));
    let http_stop = CancellationToken::new();
    let http = tokio::spawn(wiring::serve_http(wiring::bind(&settings).await?, health, http_stop.clone()));
    worker.run(shutdown).await;
    http_stop.cancel();
    background.cancel();
    let _ = janitor.await;
    let _ = listener.await;
    http.await??;
    store.close().await;
    Ok(())
}
