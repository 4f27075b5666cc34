//! Start-up that tests can drive: [`Application::build`] opens the store, binds the
//! listener (port 0 allowed) and exposes the address; [`Application::run_until`] serves
//! until a shutdown future completes. No sleeps anywhere: bind first, then serve.

use crate::config::Config;
use crate::state::AppState;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use stoplist_store::Store;
use tokio::net::TcpListener;

/// A built, bound server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Opens (creating and migrating) the database and binds the listen address.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let store = stoplist_store::connect(&config.database_url)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open the database {}: {e}",
                    redact(&config.database_url)
                )
            })?;
        Self::with_store(store, config).await
    }

    /// Like `build`, with a store already opened.
    pub async fn with_store(store: Arc<dyn Store>, config: Config) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&config.listen).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e} (is another server using it? pick another with --listen)",
                config.listen
            )
        })?;
        Ok(Application {
            listener,
            state: AppState::new(store, config),
        })
    }

    pub fn address(&self) -> SocketAddr {
        // A bound listener always has a local address.
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let follow_every = Duration::from_millis(state.config.index_follow_ms.max(50));
        let follower = tokio::spawn(async move {
            let mut tick = tokio::time::interval(follow_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut next_stale_check = std::time::Instant::now();
            loop {
                tick.tick().await;
                if let Err(e) = state.index.follow(state.store.as_ref()).await {
                    tracing::warn!(error = %e, "following the opt-out ledger failed; will retry");
                }
                if std::time::Instant::now() >= next_stale_check {
                    next_stale_check += Duration::from_secs(15);
                    fail_stale_imports(&state).await;
                }
            }
        });
        let dispatcher = crate::campaigns::dispatch::spawn(self.state.clone());
        let notifier = crate::replies::notify::spawn(self.state.clone());
        let app = crate::web::router(self.state.clone());
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        follower.abort();
        dispatcher.abort();
        notifier.abort();
        served.map_err(|e| anyhow::anyhow!("server error: {e}"))
    }
}

/// Marks imports whose process stopped as failed (nothing of them was applied).
async fn fail_stale_imports(state: &AppState) {
    let now = crate::now_ms();
    let before = now - state.config.import_stale_seconds * 1000;
    match state.store.fail_stale_imports(before, now).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            imports = n,
            "marked interrupted imports as failed; nothing of them was applied"
        ),
        Err(e) => tracing::warn!(error = %e, "checking for interrupted imports failed; will retry"),
    }
}

/// A database URL with any password hidden, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:****{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    #[test]
    fn passwords_in_database_urls_are_hidden() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:****@h/db"
        );
        assert_eq!(
            super::redact("sqlite://stoplist.db"),
            "sqlite://stoplist.db"
        );
    }
}
