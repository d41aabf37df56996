//! `scaffolder janitor [--once]`: the sweep, from a cron (once) or as a loop.

use tokio_util::sync::CancellationToken;
use worker::Janitor;

use crate::config::Settings;
use crate::wiring;

pub async fn run(settings: Settings, once: bool) -> anyhow::Result<()> {
    wiring::require_postgres(&settings, "janitor")?;
    let store = wiring::open_store(&settings).await?;
    let janitor = Janitor::new(store.clone(), wiring::janitor_config(&settings));
    if once {
        let report = janitor.run_once().await?;
        println!(
            "janitor: recovered {}, failed {}, cancelled {}, timed out {}, pruned {}",
            report.recovered.len(),
            report.failed_stale.len(),
            report.cancelled.len(),
            report.timed_out.len(),
            report.pruned
        );
    } else {
        let shutdown = CancellationToken::new();
        wiring::on_signal(shutdown.clone());
        janitor.run(shutdown).await;
    }
    store.close().await;
    Ok(())
}
