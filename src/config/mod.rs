//! The bridge's configuration file: parsing, `${VAR}` expansion, environment
//! overrides and validation.
//!
//! The file is read into [`ConfigFile`] (exactly the YAML, unknown fields
//! rejected, errors with line and column), then checked and turned into
//! [`Config`], the only form the rest of the bridge sees.

mod auth;
mod env;
mod secret;

use std::{
    collections::HashSet,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

use crate::sched;

pub use auth::{Allow, AllowFile, AuthFile, BasicFile, HeaderFile, HmacFile, StandardWebhooksFile};
pub use env::{Env, HumanDuration, expand, expand_with};
pub use secret::Secret;

/// A configuration error, naming the file and, where known, the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File that failed.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The YAML is malformed or does not fit the schema.
    #[error("{path}: {message}")]
    Syntax {
        /// File that failed.
        path: PathBuf,
        /// Parser message with line and column.
        message: String,
    },
    /// The values parse but make no sense together.
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// File that failed.
        path: PathBuf,
        /// Dotted path of the offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The configuration file exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigFile {
    /// Address for webhooks and health endpoints.
    #[serde(default)]
    pub listen: Option<Env<SocketAddr>>,
    /// Temporal connection.
    #[serde(default)]
    pub temporal: TemporalFile,
    /// Rule files or directories of rule files, relative to the config file.
    pub mappings: Vec<Env<PathBuf>>,
    /// Directory for the bridge's own state.
    #[serde(default)]
    pub data_dir: Option<Env<PathBuf>>,
    /// `durable` (default: keep, answer, deliver) or `direct`.
    #[serde(default)]
    pub delivery: Option<Env<DeliveryMode>>,
    /// The durable spool.
    #[serde(default)]
    pub spool: SpoolFile,
    /// Separate address for the admin API (and later metrics).
    #[serde(default)]
    pub admin_listen: Option<Env<SocketAddr>>,
    /// Native TLS on `listen`, for deployments without an ingress.
    #[serde(default)]
    pub tls: Option<ServerTlsFile>,
    /// Admin API credentials.
    #[serde(default)]
    pub admin: AdminFile,
    /// Logging.
    #[serde(default)]
    pub log: LogFile,
    /// Request limits and timeouts.
    #[serde(default)]
    pub limits: LimitsFile,
    /// Threads that serve requests and call Temporal (default: one per CPU
    /// the process may use).
    #[serde(default)]
    pub worker_threads: Option<Env<usize>>,
    /// The time slice the bridge's threads ask Linux's scheduler for
    /// (default: the kernel's).
    #[serde(default)]
    pub scheduler_slice: Option<Env<HumanDuration>>,
    /// Named webhook sources, each with its own credentials.
    pub sources: Vec<SourceFile>,
}

/// `temporal:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TemporalFile {
    /// `host:port` or URL of the Temporal frontend.
    pub address: Option<Env<String>>,
    /// Namespace for all workflows.
    pub namespace: Option<Env<String>>,
    /// API key (Temporal Cloud); implies TLS.
    pub api_key: Option<Env<Secret>>,
    /// File holding the API key.
    pub api_key_file: Option<Env<PathBuf>>,
    /// TLS to Temporal.
    pub tls: Option<TlsFile>,
    /// Client identity shown in workflow histories.
    pub identity: Option<Env<String>>,
    /// Deadline for one Temporal call, retries included.
    pub call_timeout: Option<Env<HumanDuration>>,
    /// Base URL of the Temporal Web UI, for links in responses.
    pub ui_url: Option<Env<String>>,
    /// gRPC compression of requests to Temporal: `none` or `gzip`.
    pub compression: Option<Env<Compression>>,
}

/// `temporal.tls:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsFile {
    /// Turns TLS on with system roots when nothing else is given.
    pub enabled: Option<bool>,
    /// PEM CA bundle to verify the server.
    pub ca_file: Option<Env<PathBuf>>,
    /// PEM client certificate (mTLS).
    pub cert_file: Option<Env<PathBuf>>,
    /// PEM client key (mTLS).
    pub key_file: Option<Env<PathBuf>>,
    /// Server name to verify (SNI).
    pub server_name: Option<Env<String>>,
}

/// `log:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LogFile {
    /// `auto` (text on a terminal, JSON otherwise), `text` or `json`.
    pub format: Option<Env<LogFormat>>,
    /// A tracing filter such as `info` or `ado_temporal_bridge=debug`.
    pub level: Option<Env<String>>,
}

/// `limits:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LimitsFile {
    /// Largest accepted request body in bytes.
    pub max_body_bytes: Option<Env<usize>>,
    /// Deadline for answering one request.
    pub request_timeout: Option<Env<HumanDuration>>,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_timeout: Option<Env<HumanDuration>>,
    /// How long a processed delivery is remembered for redelivery detection.
    pub dedupe_retention: Option<Env<HumanDuration>>,
    /// Most requests served at once; more get 503.
    pub max_concurrent_requests: Option<Env<usize>>,
    /// Longest time rules may take to evaluate one delivery, when one of
    /// them holds a comprehension (others are not timed: see `pipeline`).
    pub rule_timeout: Option<Env<HumanDuration>>,
}

/// One `sources:` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SourceFile {
    /// URL segment: deliveries go to `/webhooks/{name}`.
    pub name: String,
    /// How deliveries prove who sent them.
    pub auth: AuthFile,
    /// What the source may trigger.
    #[serde(default)]
    pub allow: AllowFile,
}

/// `tls:` section (server side).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServerTlsFile {
    /// PEM certificate chain.
    pub cert_file: Env<PathBuf>,
    /// PEM private key.
    pub key_file: Env<PathBuf>,
}

/// Native TLS for the webhook listener.
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
}

/// `spool:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpoolFile {
    /// Most actions that may wait in the spool before deliveries get 503.
    pub max_pending: Option<Env<i64>>,
    /// How long a delivery waits for Temporal before the answer is 202.
    pub fast_path_wait: Option<Env<HumanDuration>>,
    /// Attempts before an action Temporal rejects is dead-lettered.
    pub max_attempts: Option<Env<i64>>,
    /// Longest wait between attempts.
    pub max_backoff: Option<Env<HumanDuration>>,
    /// Commit concurrent deliveries together (one fsync for many).
    pub group_commit: Option<bool>,
}

/// `admin:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AdminFile {
    /// Bearer token for the admin API.
    pub token: Option<Env<Secret>>,
    /// File holding the bearer token.
    pub token_file: Option<Env<PathBuf>>,
}

/// gRPC compression of the bridge's requests to Temporal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Requests of a few KiB: compressing costs both ends more CPU than the
    /// bytes it saves on a cluster network.
    #[default]
    None,
    /// Gzip requests and accept gzip answers (slow or metered links).
    Gzip,
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "gzip" => Ok(Self::Gzip),
            other => Err(format!("unknown compression {other:?}; use none or gzip")),
        }
    }
}

/// How accepted deliveries reach Temporal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    /// Keep each delivery's actions on disk, answer, deliver with retries.
    #[default]
    Durable,
    /// Answer ADO only after Temporal accepted every action; 503 otherwise.
    Direct,
}

impl std::str::FromStr for DeliveryMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "durable" => Ok(Self::Durable),
            "direct" => Ok(Self::Direct),
            other => Err(format!(
                "unknown delivery mode {other:?}; use durable or direct"
            )),
        }
    }
}

/// Spool settings.
#[derive(Clone, Debug)]
pub struct SpoolConfig {
    /// Most pending actions.
    pub max_pending: i64,
    /// Fast-path wait.
    pub fast_path_wait: Duration,
    /// Attempts before dead-lettering a rejected action.
    pub max_attempts: i64,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// Group commit on or off.
    pub group_commit: bool,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            max_pending: 1_000_000,
            fast_path_wait: Duration::from_millis(300),
            max_attempts: 5,
            max_backoff: Duration::from_secs(60),
            group_commit: true,
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise.
    #[default]
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "unknown log format {other:?}; use auto, text or json"
            )),
        }
    }
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// File the configuration came from.
    pub path: PathBuf,
    /// Webhook listener address.
    pub listen: SocketAddr,
    /// Temporal connection.
    pub temporal: TemporalConfig,
    /// Rule files and directories, resolved against the config file's folder.
    pub mappings: Vec<PathBuf>,
    /// State directory.
    pub data_dir: PathBuf,
    /// Delivery mode.
    pub delivery: DeliveryMode,
    /// Spool settings (durable mode).
    pub spool: SpoolConfig,
    /// Admin listener, if separate.
    pub admin_listen: Option<SocketAddr>,
    /// Native TLS on the webhook listener.
    pub tls: Option<ServerTls>,
    /// Admin API token; the admin API is off without one.
    pub admin_token: Option<Secret>,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// Request limits.
    pub limits: Limits,
    /// Threads of the async runtime; `None`: one per CPU the process may
    /// use (its CPU quota included).
    pub worker_threads: Option<usize>,
    /// The slice the bridge's threads ask the scheduler for
    /// ([`crate::sched`]); `None`: the kernel's default.
    pub scheduler_slice: Option<Duration>,
    /// Webhook sources.
    pub sources: Vec<Source>,
}

/// Most `workerThreads` the bridge takes.
pub const MAX_WORKER_THREADS: usize = 256;

/// Temporal connection settings after environment overrides.
#[derive(Clone, Debug)]
pub struct TemporalConfig {
    /// `host:port` or URL.
    pub address: String,
    /// Namespace.
    pub namespace: String,
    /// API key, if any.
    pub api_key: Option<Secret>,
    /// TLS settings, if TLS is on.
    pub tls: Option<TlsConfig>,
    /// Client identity.
    pub identity: String,
    /// Deadline for one call, retries included.
    pub call_timeout: Duration,
    /// Web UI base URL.
    pub ui_url: Option<String>,
    /// gRPC compression of requests.
    pub compression: Compression,
}

/// TLS to Temporal.
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    /// CA bundle.
    pub ca_file: Option<PathBuf>,
    /// Client certificate.
    pub cert_file: Option<PathBuf>,
    /// Client key.
    pub key_file: Option<PathBuf>,
    /// Server name.
    pub server_name: Option<String>,
}

/// Request limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Deadline per request.
    pub request_timeout: Duration,
    /// Shutdown drain time.
    pub shutdown_timeout: Duration,
    /// Redelivery memory.
    pub dedupe_retention: Duration,
    /// Concurrency cap.
    pub max_concurrent_requests: usize,
    /// Rule evaluation time bound, for rules with comprehensions.
    pub rule_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(25),
            shutdown_timeout: Duration::from_secs(20),
            dedupe_retention: Duration::from_secs(7 * 24 * 3600),
            max_concurrent_requests: 1024,
            rule_timeout: Duration::from_secs(2),
        }
    }
}

/// A webhook source.
#[derive(Clone, Debug)]
pub struct Source {
    /// URL segment.
    pub name: String,
    /// The verification it requires.
    pub verifier: std::sync::Arc<crate::verify::SourceVerifier>,
    /// What it may trigger.
    pub allow: Allow,
}

/// Default webhook listener.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

impl Config {
    /// Reads, expands, overrides and validates the configuration at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(path, |name| std::env::var(name).ok())
    }

    /// Like [`Config::load`] with an explicit environment, for tests.
    pub fn load_with_env(
        path: &Path,
        getenv: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: ConfigFile = serde_yaml_ng::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::from_file(path, file, getenv)
    }

    fn from_file(
        path: &Path,
        file: ConfigFile,
        getenv: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field: field.to_owned(),
            message,
        };
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };

        let listen = match getenv("BRIDGE_LISTEN") {
            Some(v) => v
                .parse()
                .map_err(|e| invalid("listen (BRIDGE_LISTEN)", format!("{e}")))?,
            None => match file.listen {
                Some(Env(a)) => a,
                None => DEFAULT_LISTEN
                    .parse()
                    .map_err(|e| invalid("listen", format!("{e}")))?,
            },
        };

        let temporal = temporal_config(file.temporal, &getenv, &resolve)
            .map_err(|(field, message)| invalid(&field, message))?;

        if file.mappings.is_empty() {
            return Err(invalid(
                "mappings",
                "list at least one rule file or directory".into(),
            ));
        }
        let mappings = file.mappings.into_iter().map(|Env(p)| resolve(p)).collect();
        let data_dir = getenv("BRIDGE_DATA_DIR")
            .map(PathBuf::from)
            .or(file.data_dir.map(|Env(p)| p))
            .map(&resolve)
            .unwrap_or_else(|| resolve(PathBuf::from("data")));

        let log_format = match getenv("BRIDGE_LOG_FORMAT") {
            Some(v) => v
                .parse()
                .map_err(|e: String| invalid("log.format (BRIDGE_LOG_FORMAT)", e))?,
            None => file.log.format.map(|Env(f)| f).unwrap_or_default(),
        };
        let log_level = getenv("BRIDGE_LOG")
            .or(file.log.level.map(|Env(l)| l))
            .unwrap_or_else(|| "info".to_owned());

        let defaults = Limits::default();
        let limits = Limits {
            max_body_bytes: file
                .limits
                .max_body_bytes
                .map_or(defaults.max_body_bytes, |Env(n)| n),
            request_timeout: file
                .limits
                .request_timeout
                .map_or(defaults.request_timeout, |Env(d)| d.0),
            shutdown_timeout: file
                .limits
                .shutdown_timeout
                .map_or(defaults.shutdown_timeout, |Env(d)| d.0),
            dedupe_retention: file
                .limits
                .dedupe_retention
                .map_or(defaults.dedupe_retention, |Env(d)| d.0),
            max_concurrent_requests: file
                .limits
                .max_concurrent_requests
                .map_or(defaults.max_concurrent_requests, |Env(n)| n.max(1)),
            rule_timeout: file
                .limits
                .rule_timeout
                .map_or(defaults.rule_timeout, |Env(d)| d.0),
        };
        let worker_threads = file.worker_threads.map(|Env(n)| n);
        if worker_threads.is_some_and(|n| n == 0 || n > MAX_WORKER_THREADS) {
            return Err(invalid(
                "workerThreads",
                format!("must be from 1 to {MAX_WORKER_THREADS}"),
            ));
        }
        let scheduler_slice = file.scheduler_slice.map(|Env(d)| d.0);
        if scheduler_slice
            .is_some_and(|d| !d.is_zero() && !(sched::MIN_SLICE..=sched::MAX_SLICE).contains(&d))
        {
            return Err(invalid(
                "schedulerSlice",
                "must be from 100us to 100ms (0s: the kernel's default)".into(),
            ));
        }
        let scheduler_slice = scheduler_slice.filter(|d| !d.is_zero());
        if limits.max_body_bytes < 1024 {
            return Err(invalid(
                "limits.maxBodyBytes",
                "must be at least 1024".into(),
            ));
        }

        if file.sources.is_empty() {
            return Err(invalid("sources", "configure at least one source".into()));
        }
        let mut names = HashSet::new();
        let mut sources = Vec::with_capacity(file.sources.len());
        for (i, s) in file.sources.into_iter().enumerate() {
            let field = format!("sources[{i}]");
            if !valid_source_name(&s.name) {
                return Err(invalid(
                    &format!("{field}.name"),
                    format!(
                        "{:?} must be 1-64 characters of a-z, 0-9, '-', '_' (it is a URL segment)",
                        s.name
                    ),
                ));
            }
            if !names.insert(s.name.clone()) {
                return Err(invalid(
                    &format!("{field}.name"),
                    format!("duplicate source {:?}", s.name),
                ));
            }
            let verifier = auth::verifier(s.auth, &resolve).map_err(|(sub, m)| {
                let at = if sub.is_empty() {
                    format!("{field}.auth")
                } else {
                    format!("{field}.auth.{sub}")
                };
                invalid(&at, m)
            })?;
            sources.push(Source {
                name: s.name,
                verifier,
                allow: s.allow.into(),
            });
        }

        let d = SpoolConfig::default();
        let spool = SpoolConfig {
            max_pending: file.spool.max_pending.map_or(d.max_pending, |Env(n)| n),
            fast_path_wait: file
                .spool
                .fast_path_wait
                .map_or(d.fast_path_wait, |Env(w)| w.0),
            max_attempts: file.spool.max_attempts.map_or(d.max_attempts, |Env(n)| n),
            max_backoff: file.spool.max_backoff.map_or(d.max_backoff, |Env(b)| b.0),
            group_commit: file.spool.group_commit.unwrap_or(d.group_commit),
        };
        if spool.max_pending < 1 {
            return Err(invalid("spool.maxPending", "must be at least 1".into()));
        }
        if spool.fast_path_wait >= limits.request_timeout {
            return Err(invalid(
                "spool.fastPathWait",
                "must be shorter than limits.requestTimeout".into(),
            ));
        }
        if spool.max_attempts < 1 {
            return Err(invalid("spool.maxAttempts", "must be at least 1".into()));
        }
        let admin_token = match (file.admin.token, file.admin.token_file) {
            (Some(Env(t)), None) => Some(t.expose().to_owned()),
            (None, Some(Env(f))) => {
                let f = resolve(f);
                Some(
                    std::fs::read_to_string(&f)
                        .map_err(|e| invalid("admin.tokenFile", format!("{}: {e}", f.display())))?
                        .trim()
                        .to_owned(),
                )
            }
            (Some(_), Some(_)) => {
                return Err(invalid("admin", "set either token or tokenFile".into()));
            }
            (None, None) => None,
        };
        if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(invalid(
                "admin.token",
                "must be at least 16 characters".into(),
            ));
        }
        let delivery = match getenv("BRIDGE_DELIVERY") {
            Some(v) => v
                .parse()
                .map_err(|e: String| invalid("delivery (BRIDGE_DELIVERY)", e))?,
            None => file.delivery.map(|Env(d)| d).unwrap_or_default(),
        };

        Ok(Config {
            path: path.to_owned(),
            listen,
            temporal,
            mappings,
            data_dir,
            delivery,
            spool,
            admin_listen: file.admin_listen.map(|Env(a)| a),
            tls: match file.tls {
                None => None,
                Some(t) => {
                    let tls = ServerTls {
                        cert_file: resolve(t.cert_file.0),
                        key_file: resolve(t.key_file.0),
                    };
                    for (field, f) in [
                        ("tls.certFile", &tls.cert_file),
                        ("tls.keyFile", &tls.key_file),
                    ] {
                        if let Err(e) = std::fs::metadata(f) {
                            return Err(invalid(field, format!("{}: {e}", f.display())));
                        }
                    }
                    Some(tls)
                }
            },
            admin_token: admin_token.map(Secret::new),
            log_format,
            log_level,
            limits,
            worker_threads,
            scheduler_slice,
            sources,
        })
    }

    /// The source called `name`.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }
}

fn valid_source_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn temporal_config(
    file: TemporalFile,
    getenv: &impl Fn(&str) -> Option<String>,
    resolve: &impl Fn(PathBuf) -> PathBuf,
) -> Result<TemporalConfig, (String, String)> {
    let address = getenv("TEMPORAL_ADDRESS")
        .or(file.address.map(|Env(a)| a))
        .unwrap_or_else(|| "127.0.0.1:7233".to_owned());
    let namespace = getenv("TEMPORAL_NAMESPACE")
        .or(file.namespace.map(|Env(n)| n))
        .unwrap_or_else(|| "default".to_owned());
    if namespace.is_empty() {
        return Err(("temporal.namespace".into(), "must not be empty".into()));
    }
    let api_key = match (getenv("TEMPORAL_API_KEY"), file.api_key, file.api_key_file) {
        (Some(k), _, _) => Some(k),
        (None, Some(Env(k)), None) => Some(k.expose().to_owned()),
        (None, None, Some(Env(f))) => {
            let f = resolve(f);
            Some(
                std::fs::read_to_string(&f)
                    .map_err(|e| {
                        (
                            "temporal.apiKeyFile".to_owned(),
                            format!("{}: {e}", f.display()),
                        )
                    })?
                    .trim()
                    .to_owned(),
            )
        }
        (None, Some(_), Some(_)) => {
            return Err((
                "temporal.apiKey".into(),
                "set either apiKey or apiKeyFile".into(),
            ));
        }
        (None, None, None) => None,
    }
    .filter(|k| !k.is_empty())
    .map(Secret::new);

    let file_tls = file.tls.unwrap_or_default();
    let env_path = |name: &str| getenv(name).map(PathBuf::from);
    let tls = TlsConfig {
        ca_file: env_path("TEMPORAL_TLS_SERVER_CA_CERT_PATH")
            .or(file_tls.ca_file.map(|Env(p)| p))
            .map(resolve),
        cert_file: env_path("TEMPORAL_TLS_CLIENT_CERT_PATH")
            .or(file_tls.cert_file.map(|Env(p)| p))
            .map(resolve),
        key_file: env_path("TEMPORAL_TLS_CLIENT_KEY_PATH")
            .or(file_tls.key_file.map(|Env(p)| p))
            .map(resolve),
        server_name: getenv("TEMPORAL_TLS_SERVER_NAME").or(file_tls.server_name.map(|Env(s)| s)),
    };
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        return Err((
            "temporal.tls".into(),
            "certFile and keyFile go together".into(),
        ));
    }
    let tls_env =
        getenv("TEMPORAL_TLS").map(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "True"));
    let tls_wanted = tls_env.or(file_tls.enabled).unwrap_or(false)
        || api_key.is_some()
        || tls.ca_file.is_some()
        || tls.cert_file.is_some()
        || address.starts_with("https://");
    let identity = file
        .identity
        .map(|Env(i)| i)
        .unwrap_or_else(|| format!("ado-temporal-bridge@{}", hostname()));
    Ok(TemporalConfig {
        address,
        namespace,
        api_key,
        tls: tls_wanted.then_some(tls),
        identity,
        call_timeout: file
            .call_timeout
            .map_or(Duration::from_secs(5), |Env(d)| d.0),
        ui_url: file.ui_url.map(|Env(u)| u.trim_end_matches('/').to_owned()),
        compression: file.compression.map(|Env(c)| c).unwrap_or_default(),
    })
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests;
