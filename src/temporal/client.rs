//! The real [`Gateway`]: a `temporalio-client` connection, made and kept
//! healthy in the background.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tracing::Instrument;

use futures_util::{FutureExt, future::BoxFuture};
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, RetryOptions, TlsOptions,
    grpc::WorkflowService,
    tonic::{Code, IntoRequest, Status, metadata::MetadataValue},
};
use temporalio_common::protos::temporal::api::workflowservice::v1::GetSystemInfoRequest;
use tokio::sync::OnceCell;

use super::{ActionResult, ActionStatus, CallContext, Gateway, TemporalError, request};
use crate::{
    config::TemporalConfig,
    mapping::{ActionKind, PlannedAction},
};

/// A Temporal gateway that connects in the background and re-checks health.
pub struct TemporalGateway {
    config: TemporalConfig,
    client: OnceCell<Client>,
    ready: AtomicBool,
}

impl TemporalGateway {
    /// Creates the gateway and starts connecting; returns at once.
    pub fn spawn(
        config: TemporalConfig,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Arc<Self> {
        let gw = Arc::new(Self {
            config,
            client: OnceCell::new(),
            ready: AtomicBool::new(false),
        });
        let bg = Arc::clone(&gw);
        tokio::spawn(async move { bg.keep_healthy(shutdown).await });
        gw
    }

    async fn keep_healthy(&self, shutdown: tokio_util::sync::CancellationToken) {
        let mut delay = Duration::from_millis(200);
        loop {
            let healthy = match self.client.get() {
                None => match self.dial().await {
                    Ok(client) => {
                        let _ = self.client.set(client);
                        tracing::info!(address = %self.config.address, namespace = %self.config.namespace, "connected to Temporal");
                        true
                    }
                    Err(e) => {
                        tracing::warn!(address = %self.config.address, error = %format!("{e:#}"), "cannot connect to Temporal yet");
                        false
                    }
                },
                Some(client) => {
                    let mut c = client.clone();
                    let mut req = GetSystemInfoRequest {}.into_request();
                    req.set_timeout(Duration::from_secs(3));
                    match tokio::time::timeout(Duration::from_secs(5), c.get_system_info(req)).await
                    {
                        Ok(Ok(_)) => true,
                        Ok(Err(s)) if s.code() == Code::Unimplemented => true,
                        Ok(Err(s)) => {
                            tracing::warn!(code = ?s.code(), message = s.message(), "Temporal health check failed");
                            false
                        }
                        Err(_) => {
                            tracing::warn!("Temporal health check timed out");
                            false
                        }
                    }
                }
            };
            let was = self.ready.swap(healthy, Ordering::AcqRel);
            if was && !healthy {
                tracing::warn!("Temporal became unreachable; not ready");
            } else if !was && healthy {
                tracing::info!("Temporal reachable; ready");
            }
            delay = if healthy {
                Duration::from_secs(5)
            } else {
                (delay * 2).min(Duration::from_secs(5))
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    async fn dial(&self) -> anyhow::Result<Client> {
        let c = &self.config;
        let tls = match &c.tls {
            None => None,
            Some(t) => {
                let mut opts = TlsOptions::builder().build();
                if let Some(ca) = &t.ca_file {
                    opts.server_root_ca_cert = Some(read(ca)?);
                }
                opts.domain = t.server_name.clone();
                if let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) {
                    opts.client_tls_options = Some(
                        temporalio_client::ClientTlsOptions::builder()
                            .client_cert(read(cert)?)
                            .client_private_key(read(key)?)
                            .build(),
                    );
                }
                Some(opts)
            }
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = if c.address.contains("://") {
            c.address.clone()
        } else {
            format!("{scheme}://{}", c.address)
        };
        let url = temporalio_client::Url::parse(&url)
            .map_err(|e| anyhow::anyhow!("temporal.address {:?}: {e}", c.address))?;
        let retry = RetryOptions::builder()
            .initial_interval(Duration::from_millis(50))
            .max_interval(Duration::from_secs(1))
            .max_elapsed_time(Some(c.call_timeout))
            .build();
        let mut opts = ConnectionOptions::new(url)
            .identity(c.identity.clone())
            .connect_timeout(Duration::from_secs(5))
            .retry_options(retry)
            .build();
        opts.tls_options = tls;
        opts.grpc_compression = match c.compression {
            crate::config::Compression::None => temporalio_client::GrpcCompression::None,
            crate::config::Compression::Gzip => temporalio_client::GrpcCompression::Gzip,
        };
        opts.api_key = c.api_key.as_ref().map(|k| k.expose().to_owned());
        let connection = tokio::time::timeout(Duration::from_secs(10), Connection::connect(opts))
            .await
            .map_err(|_| anyhow::anyhow!("connecting to Temporal at {} timed out", c.address))??;
        let client = Client::new(connection, ClientOptions::new(c.namespace.clone()).build())?;
        Ok(client)
    }

    /// One Temporal call in its own client span; the request's
    /// `_tracer-data` carries that span's context, so the workflow's spans
    /// are its children.
    async fn run(
        &self,
        action: &PlannedAction,
        call: &CallContext,
        request_key: &str,
    ) -> Result<ActionResult, TemporalError> {
        let method = match action.kind {
            ActionKind::Start => "StartWorkflowExecution",
            ActionKind::Signal => "SignalWorkflowExecution",
            ActionKind::SignalWithStart => "SignalWithStartWorkflowExecution",
        };
        let span = tracing::debug_span!(
            "temporal.call",
            otel.name = %format!("temporal.{}", action.kind.as_str()),
            otel.kind = "client",
            rpc.system = "grpc",
            rpc.service = "temporal.api.workflowservice.v1.WorkflowService",
            rpc.method = method,
            temporal.namespace = %self.config.namespace,
            temporal.workflow.id = %action.workflow_id,
            correlation_id = %call.correlation_id,
        );
        let traced;
        let call = match span.in_scope(crate::telemetry::current_trace) {
            Some(trace) => {
                traced = CallContext {
                    trace: Some(trace),
                    ..call.clone()
                };
                &traced
            }
            None => call,
        };
        self.call_temporal(action, call, request_key)
            .instrument(span)
            .await
    }

    async fn call_temporal(
        &self,
        action: &PlannedAction,
        call: &CallContext,
        request_key: &str,
    ) -> Result<ActionResult, TemporalError> {
        let Some(client) = self.client.get() else {
            return Err(TemporalError::Unavailable("not connected yet".into()));
        };
        let mut c = client.clone();
        let ns = &self.config.namespace;
        let id = &self.config.identity;
        let rid = request::request_id(request_key, &action.rule);
        let deadline = self.config.call_timeout + Duration::from_secs(1);
        let call_result = match action.kind {
            ActionKind::Start => {
                let mut req = request::start(ns, id, action, call, rid).into_request();
                decorate(&mut req, call, self.config.call_timeout);
                let on_conflict = action.on_conflict;
                let fut = async move {
                    match c.start_workflow_execution(req).await {
                        Ok(resp) => {
                            let r = resp.into_inner();
                            Ok(ActionResult {
                                status: if r.started {
                                    ActionStatus::Started
                                } else {
                                    ActionStatus::AlreadyRunning
                                },
                                run_id: Some(r.run_id),
                            })
                        }
                        Err(s)
                            if s.code() == Code::AlreadyExists
                                && on_conflict == crate::mapping::OnConflict::Fail =>
                        {
                            Ok(ActionResult {
                                status: ActionStatus::Conflict,
                                run_id: None,
                            })
                        }
                        Err(s) => Err(classify(&s)),
                    }
                };
                tokio::time::timeout(deadline, fut).await
            }
            ActionKind::Signal => {
                let mut req = request::signal(ns, id, action, call, rid).into_request();
                decorate(&mut req, call, self.config.call_timeout);
                let fut = async move {
                    match c.signal_workflow_execution(req).await {
                        Ok(_) => Ok(ActionResult {
                            status: ActionStatus::Signaled,
                            run_id: None,
                        }),
                        Err(s) => Err(classify(&s)),
                    }
                };
                tokio::time::timeout(deadline, fut).await
            }
            ActionKind::SignalWithStart => {
                let mut req = request::signal_with_start(ns, id, action, call, rid).into_request();
                decorate(&mut req, call, self.config.call_timeout);
                let fut = async move {
                    match c.signal_with_start_workflow_execution(req).await {
                        Ok(resp) => {
                            let r = resp.into_inner();
                            Ok(ActionResult {
                                status: if r.started {
                                    ActionStatus::SignaledAndStarted
                                } else {
                                    ActionStatus::Signaled
                                },
                                run_id: Some(r.run_id),
                            })
                        }
                        Err(s) => Err(classify(&s)),
                    }
                };
                tokio::time::timeout(deadline, fut).await
            }
        };
        call_result.unwrap_or_else(|_| Err(TemporalError::Unavailable("call timed out".into())))
    }
}

impl Gateway for TemporalGateway {
    fn execute<'a>(
        &'a self,
        action: &'a PlannedAction,
        call: &'a CallContext,
        request_key: &'a str,
    ) -> BoxFuture<'a, Result<ActionResult, TemporalError>> {
        self.run(action, call, request_key).boxed()
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn workflow_link(&self, workflow_id: &str, run_id: Option<&str>) -> Option<String> {
        let base = self.config.ui_url.as_ref()?;
        Some(super::web_ui_link(
            base,
            &self.config.namespace,
            workflow_id,
            run_id,
        ))
    }
}

/// Adds the correlation id as gRPC metadata and a per-call deadline.
fn decorate<T>(
    req: &mut temporalio_client::tonic::Request<T>,
    call: &CallContext,
    timeout: Duration,
) {
    if let Ok(v) = MetadataValue::try_from(call.correlation_id.as_str()) {
        req.metadata_mut().insert("x-correlation-id", v);
    }
    req.set_timeout(timeout);
}

/// Sorts a gRPC error into "try again later" and "will never work as is".
fn classify(s: &Status) -> TemporalError {
    let msg = format!("{:?}: {}", s.code(), s.message());
    match s.code() {
        Code::NotFound if !s.message().contains("amespace") => TemporalError::WorkflowNotFound(msg),
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::OutOfRange
        | Code::NotFound
        | Code::AlreadyExists => TemporalError::Rejected(msg),
        // Everything else, including credentials Temporal refuses, is
        // something an operator can fix while ADO keeps retrying.
        _ => TemporalError::Unavailable(msg),
    }
}

fn read(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
