//! Native TLS for the webhook listener (rustls), for deployments without an
//! ingress. The certificate files are re-read when they change (cert-manager
//! and Key Vault renew them in place).

use std::time::{Duration, SystemTime};

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use tokio_util::sync::CancellationToken;

use crate::config::ServerTls;

fn stamp(t: &ServerTls) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(&t.cert_file)?, m(&t.key_file)?))
}

/// Loads the certificate and key.
pub async fn server_config(tls: &ServerTls) -> anyhow::Result<RustlsConfig> {
    // One crypto provider for the whole process (ring, as the Temporal
    // client uses); installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    RustlsConfig::from_pem_file(&tls.cert_file, &tls.key_file)
        .await
        .with_context(|| {
            format!(
                "loading TLS certificate {} and key {}",
                tls.cert_file.display(),
                tls.key_file.display()
            )
        })
}

/// Re-reads the certificate and key when either file changes.
pub fn spawn_reloader(tls: ServerTls, config: RustlsConfig, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut seen = stamp(&tls);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            }
            let now = stamp(&tls);
            if now.is_some() && now != seen {
                match config
                    .reload_from_pem_file(&tls.cert_file, &tls.key_file)
                    .await
                {
                    Ok(()) => {
                        tracing::info!(cert = %tls.cert_file.display(), "TLS certificate reloaded");
                        crate::metrics::count_reload("tls_certificate", true);
                        seen = now;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS certificate changed but could not be loaded; keeping the previous one");
                        crate::metrics::count_reload("tls_certificate", false);
                    }
                }
            }
        }
    });
}
