//! Start-up that tests can drive: [`Application::build`] opens the store, binds the
//! listener (port 0 allowed) and exposes the address; [`Application::run_until`] serves
//! until a shutdown future completes. No sleeps anywhere: bind first, then serve.

use crate::config::Config;
use crate::state::AppState;
use std::future::{Future, IntoFuture};
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

    /// Serves until `shutdown` completes, then drains and returns (SPEC 4). The drain:
    /// webhooks answer 503 with `Retry-After` and `/readyz` answers 503 (so providers and
    /// load balancers go elsewhere) while the dispatcher finishes the messages it claimed, the
    /// reply writer the replies it took and the deliverer the notifications in flight, for at
    /// most `shutdown_timeout_seconds`; then the listener closes, the requests still open get
    /// a few seconds to finish, and it returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let workers = Workers::start(&state)?;
        let app = crate::web::router(self.state.clone());
        let deadline = Duration::from_secs(state.config.shutdown_timeout_seconds);
        // Set once the drain is over: the listener closes then.
        let (stop_listening, stopped) = tokio::sync::watch::channel(false);
        let drainer = {
            let state = state.clone();
            tokio::spawn(async move {
                shutdown.await;
                if state.lifecycle.begin_drain() {
                    tracing::info!(
                        deadline_seconds = deadline.as_secs(),
                        "shutting down: webhooks answer 503 while the work in flight finishes"
                    );
                }
                workers.drain(&state, deadline).await;
                let _ = stop_listening.send(true);
            })
        };
        let mut stop = stopped.clone();
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .into_future();
        let served = {
            let mut served = std::pin::pin!(served);
            tokio::select! {
                r = &mut served => r,
                // Requests still open a few seconds after the listener closed are cut.
                _ = async {
                    let mut stopped = stopped;
                    let _ = stopped.wait_for(|s| *s).await;
                    tokio::time::sleep(REQUESTS_GRACE).await;
                } => {
                    tracing::warn!("requests were still open after the drain; closing them");
                    Ok(())
                }
            }
        };
        if !drainer.is_finished() {
            // The listener failed before any shutdown: nothing drains.
            drainer.abort();
        }
        served.map_err(|e| anyhow::anyhow!("server error: {e}"))
    }
}

/// How long requests still open when the listener closes may take to finish.
const REQUESTS_GRACE: Duration = Duration::from_secs(5);

/// The background work of a serving instance.
struct Workers {
    dispatcher: Arc<crate::campaigns::dispatch::Dispatcher>,
    dispatching: tokio::task::JoinHandle<()>,
    notifying: Option<tokio::task::JoinHandle<()>>,
    following: tokio::task::JoinHandle<()>,
    checking: tokio::task::JoinHandle<()>,
    started: std::time::Instant,
}

impl Workers {
    fn start(state: &AppState) -> anyhow::Result<Workers> {
        // This instance's id, `host:pid:random`: its claims carry it, `instances` keeps its
        // heartbeat, and an operator can tell instances apart by it.
        let owner = format!(
            "{}:{}:{}",
            hostname(),
            std::process::id(),
            crate::auth::random_hex(4)
        );
        let dispatcher = Arc::new(crate::campaigns::dispatch::Dispatcher::new(
            state.dispatch_deps(),
            owner,
            Duration::from_millis(state.config.dispatch_poll_ms.max(10)),
            Duration::from_secs(state.config.instance_lease_seconds.max(1)),
        ));
        let dispatching = tokio::spawn(dispatcher.clone().run());
        let notifying = match crate::replies::notify::Notifier::new(
            state.store.clone(),
            state.wakeups.clone(),
            state.lifecycle.clone(),
            state.outbound.clone(),
        ) {
            Ok(n) => Some(tokio::spawn(Arc::new(n).run())),
            Err(e) => {
                tracing::error!(error = %e, "notifications disabled");
                None
            }
        };
        let following = tokio::spawn(follow(state.clone()));
        let checking = tokio::spawn(self_check(state.clone()));
        Ok(Workers {
            dispatcher,
            dispatching,
            notifying,
            following,
            checking,
            started: std::time::Instant::now(),
        })
    }

    /// Waits for the dispatcher's lanes and the notifications in flight, until `deadline`
    /// after the drain began; then settles what is left (see `Dispatcher::release`) and stops
    /// the follower and the self-check.
    async fn drain(self, state: &AppState, deadline: Duration) {
        let Workers {
            dispatcher,
            mut dispatching,
            notifying,
            following,
            checking,
            started,
        } = self;
        let _ = started;
        let until = tokio::time::Instant::now() + deadline;
        let drained = async {
            let _ = (&mut dispatching).await;
            if let Some(n) = notifying {
                let _ = n.await;
            }
        };
        if tokio::time::timeout_at(until, drained).await.is_err() {
            tracing::warn!(
                seconds = deadline.as_secs(),
                "the shutdown deadline passed with messages still being sent"
            );
            dispatching.abort();
        }
        match dispatcher.release().await {
            Ok((0, 0)) => {}
            Ok((requeued, interrupted)) => tracing::warn!(
                requeued,
                interrupted,
                "at the shutdown deadline: unsent claims went back to the queue; messages the provider had not answered were marked interrupted (fate unknown)"
            ),
            Err(e) => tracing::warn!(error = %e,
                "giving back this instance's claims failed; another instance marks them interrupted once this one's heartbeat stops"),
        }
        following.abort();
        checking.abort();
        let _ = state.store.ping().await;
        tracing::info!("stopped");
    }
}

/// This machine's name, for instance ids (the operator can tell instances apart).
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "stoplist".into())
}

/// Follows the ledger every `index_follow_ms` (changes by other instances and the CLI); every
/// 15 seconds marks stale imports failed and deletes the parts of concatenated replies that
/// waited a day for the rest.
async fn follow(state: AppState) {
    if let Err(e) = state.optouts.load_all().await {
        tracing::warn!(error = %e, "listing accounts to load their opt-out indexes failed; they load on first use");
    }
    let every = Duration::from_millis(state.config.index_follow_ms.max(10));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_stale_check = std::time::Instant::now();
    loop {
        tick.tick().await;
        if let Err(e) = state.optouts.follow().await {
            tracing::warn!(error = %e, "following the opt-out ledger failed; will retry");
        }
        if std::time::Instant::now() >= next_stale_check {
            next_stale_check += Duration::from_secs(15);
            fail_stale_imports(&state).await;
            match state.replies.expire_parts().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    parts = n,
                    "deleted the parts of replies that never completed (a day old)"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "deleting expired reply parts failed; will retry")
                }
            }
        }
    }
}

/// Compares the opt-out indexes with the store every `index_check_seconds`.
async fn self_check(state: AppState) {
    let every = Duration::from_secs(state.config.index_check_seconds.max(1));
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = state.optouts.self_check().await {
            tracing::warn!(error = %e, "the opt-out index self-check failed; will retry");
        }
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
    match state.store.discard_imports().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(imports = n, "cleared the hidden rows of failed imports"),
        Err(e) => {
            tracing::warn!(error = %e, "clearing failed imports' hidden rows failed; will retry")
        }
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
