//! Wiring: configuration to a running server, and its orderly shutdown.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::{Config, DeliveryMode},
    dispatch::Dispatcher,
    handlers::{AppState, admin_router, router},
    mapping::RuleSet,
    pipeline::Bridge,
    store::{Store, StoreOptions},
    temporal::{Gateway, TemporalGateway},
};

/// Everything `serve` builds before it listens.
pub struct Application {
    /// Handler state.
    pub state: AppState,
    /// Bound listener.
    pub listener: TcpListener,
    /// Bound admin listener, when separate.
    pub admin_listener: Option<TcpListener>,
    dispatcher: Option<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Loads rules, opens the store, starts connecting to Temporal and binds
    /// the listener. Fails on any configuration problem.
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let gateway: Arc<dyn Gateway> =
            TemporalGateway::spawn(config.temporal.clone(), shutdown.clone());
        Self::build_with_gateway(config, gateway, shutdown).await
    }

    /// Like [`Application::build`] with a given gateway (tests).
    pub async fn build_with_gateway(
        config: Config,
        gateway: Arc<dyn Gateway>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let rules = RuleSet::load(&config.mappings).context("loading rules")?;
        let store = Store::open_with(
            &config.data_dir,
            StoreOptions {
                group_commit: config.spool.group_commit,
            },
        )
        .with_context(|| {
            format!(
                "opening the delivery store in {}",
                config.data_dir.display()
            )
        })?;
        spawn_pruner(
            store.clone(),
            config.limits.dedupe_retention,
            shutdown.clone(),
        );
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let admin_listener = match config.admin_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding adminListen {addr}"))?,
            ),
            None => None,
        };
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let dispatcher = Dispatcher::new(
            store.clone(),
            Arc::clone(&gateway),
            config.spool.clone(),
            Arc::clone(&metrics),
        );
        let dispatcher_task =
            (config.delivery == DeliveryMode::Durable).then(|| dispatcher.spawn(shutdown.clone()));
        tracing::info!(
            listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            rules = rules.rules().len(),
            delivery = ?config.delivery,
            pending = store.pending(),
            sources = config.sources.len(),
            temporal = %config.temporal.address,
            namespace = %config.temporal.namespace,
            "bridge configured"
        );
        let log = crate::delivery_log::DeliveryLog::new(store.clone());
        {
            // Deliveries kept by an earlier version get their reason codes.
            let store = store.clone();
            tokio::spawn(async move {
                match crate::delivery_log::backfill_reason_codes(&store).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(deliveries = n, "reason codes added to earlier deliveries")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "adding reason codes to earlier deliveries failed")
                    }
                }
            });
        }
        let state = AppState {
            metrics: Arc::clone(&metrics),
            bridge: Arc::new(Bridge {
                rules: Arc::new(rules),
                gateway: Arc::clone(&gateway),
                store,
                mode: config.delivery,
                dispatcher,
                rule_timeout: config.limits.rule_timeout,
                // Evaluations in flight at once are bounded by the
                // deliveries in flight; more threads than a few per core
                // would only wait for a core.
                evaluators: crate::workers::Workers::new(
                    "rules",
                    4 * std::thread::available_parallelism().map_or(2, usize::from),
                ),
                metrics: Arc::clone(&metrics),
                log,
            }),
            gateway,
            config: Arc::new(config),
        };
        Ok(Self {
            state,
            listener,
            admin_listener,
            dispatcher: dispatcher_task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` fires, then lets in-flight requests finish
    /// (up to the configured shutdown timeout).
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let grace = self.state.config.limits.shutdown_timeout;
        let store = self.state.bridge.store.clone();
        let dispatcher = Arc::clone(&self.state.bridge.dispatcher);
        if let Some(admin) = self.admin_listener {
            let app = admin_router(self.state.clone());
            let signal = shutdown.clone();
            tokio::spawn(async move {
                let served = axum::serve(admin, app)
                    .with_graceful_shutdown(async move { signal.cancelled().await })
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "admin listener failed");
                }
            });
        }
        let tls = self.state.config.tls.clone();
        let app = router(self.state);
        let server = match tls {
            None => {
                let signal = shutdown.clone();
                let server = axum::serve(self.listener, app).with_graceful_shutdown(async move {
                    signal.cancelled().await;
                    tracing::info!("shutting down: no new requests; finishing in-flight ones");
                });
                tokio::spawn(async move { server.await })
            }
            Some(tls) => {
                let config = crate::tls::server_config(&tls).await?;
                crate::tls::spawn_reloader(tls, config.clone(), shutdown.clone());
                let handle = axum_server::Handle::new();
                let listener = self.listener.into_std().context("TLS listener")?;
                let server = axum_server::from_tcp_rustls(listener, config)
                    .handle(handle.clone())
                    .serve(app.into_make_service());
                let signal = shutdown.clone();
                tokio::spawn(async move {
                    signal.cancelled().await;
                    tracing::info!("shutting down: no new requests; finishing in-flight ones");
                    handle.graceful_shutdown(Some(grace));
                });
                tokio::spawn(server)
            }
        };
        shutdown.cancelled().await;
        match tokio::time::timeout(grace + Duration::from_secs(1), server).await {
            Ok(joined) => joined.context("server task")?.context("server")?,
            Err(_) => tracing::warn!(?grace, "in-flight requests did not finish in time"),
        }
        if let Some(d) = self.dispatcher {
            // Undelivered actions stay in the spool for the next start.
            let _ = tokio::time::timeout(Duration::from_secs(10), d).await;
        }
        dispatcher
            .detached_attempts_ended(Duration::from_secs(5))
            .await;
        // Writes nobody waits for (log entries, answers, actions marked
        // delivered) are queued before this barrier: once it returns they
        // are written, and on disk.
        if let Err(e) = store.sync().await {
            tracing::warn!(error = %e, "could not write the last of the delivery store");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

fn spawn_pruner(store: Store, retention: Duration, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let cutoff = std::time::SystemTime::now()
                .checked_sub(retention)
                .unwrap_or(std::time::UNIX_EPOCH);
            match store.prune(cutoff, crate::store::LOG_ONLY_KEPT).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "forgot old deliveries"),
                Err(e) => tracing::warn!(error = %e, "pruning the delivery store failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(600)) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    });
}

/// Cancels `token` on SIGTERM or Ctrl-C.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot listen for SIGTERM");
                        let _ = ctrl_c.await;
                        token.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        token.cancel();
    });
}
