//! `scaffolder serve`: API, worker pool and janitor in one process. With no configuration it is
//! the embedded default: SQLite in `./scaffolder.sqlite`, the sample templates, 127.0.0.1:7007.

use tokio_util::sync::CancellationToken;
use worker::Worker;

use crate::config::Settings;
use crate::wiring::{self, Background};

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    wiring::check_auth_exposure(&settings)?;
    let store = wiring::open_store(&settings).await?;
    let metrics = wiring::metrics();
    let catalog = wiring::served_catalog(&settings, &store).await?;
    let runner = wiring::runner(&settings, catalog.clone());
    let shutdown = CancellationToken::new();
    wiring::on_signal(shutdown.clone());
    let background = Background::start(&store, &settings, true).with_catalog_refresh(catalog.as_ref());

    // `scaffolder.concurrentTasksLimit: 0` makes this process claim nothing, as in Backstage.
    let worker = match settings.concurrency {
        0 => None,
        _ => Some(Worker::new(store.clone(), runner.clone(), wiring::worker_config(&settings)?)),
    };
    let app = api::app(api::AppParts {
        store: store.clone(),
        runner: runner.clone(),
        working_directory: settings.working_directory.clone(),
        catalog: catalog.clone(),
        auth: settings.auth.clone(),
        config: settings.api.clone(),
        worker_health: worker.as_ref().map(Worker::health),
        metrics: Some(metrics),
    });
    let http_stop = CancellationToken::new();
    let http = tokio::spawn(wiring::serve_http(wiring::bind(&settings).await?, app, http_stop.clone()));
    match worker {
        Some(worker) => worker.run(shutdown.clone()).await,
        None => shutdown.cancelled().await,
    }
    http_stop.cancel();
    background.stop().await;
    http.await??;
    store.close().await;
    Ok(())
}
