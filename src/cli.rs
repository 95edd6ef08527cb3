//! The command line: `serve`, `check`, `test`, `deliveries` and
//! `subscriptions`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Azure DevOps service hooks in, Temporal workflow starts and signals out.
#[derive(Debug, Parser)]
#[command(name = "ado-temporal-bridge", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve webhooks.
    ///
    /// Example: ado-temporal-bridge serve --config bridge.yaml
    Serve {
        /// Configuration file.
        #[arg(long, short, env = "BRIDGE_CONFIG", default_value = "bridge.yaml")]
        config: PathBuf,
    },
    /// Validate the configuration and every rule file, then exit.
    ///
    /// Checks YAML, unknown fields, CEL, references to `ado` fields that do
    /// not exist, duplicate rule names; warns about event types the bridge
    /// does not normalize. With --run-tests also runs the rule files'
    /// `tests:` (and sibling NAME.test.yaml files).
    /// Exit status 0 when valid (and all tests pass), 64 when invalid, 1 when
    /// a rule test fails.
    /// Example: ado-temporal-bridge check --config bridge.yaml --run-tests
    Check {
        /// Configuration file.
        #[arg(long, short, env = "BRIDGE_CONFIG", default_value = "bridge.yaml")]
        config: PathBuf,
        /// Run the example deliveries in the rule files.
        #[arg(long)]
        run_tests: bool,
    },
    /// Dry run: show how the rules treat payload files (no Temporal needed).
    ///
    /// Prints, per payload, the normalized `ado` view, every rule's decision
    /// (and why not) and the exact actions that would be sent.
    /// Example: ado-temporal-bridge test --config bridge.yaml push.json
    Test {
        /// Configuration file.
        #[arg(long, short, env = "BRIDGE_CONFIG", default_value = "bridge.yaml")]
        config: PathBuf,
        /// Source name to evaluate as (default: the first source).
        #[arg(long)]
        source: Option<String>,
        /// JSON output (the whole `ado` view, decisions and actions).
        #[arg(long)]
        json: bool,
        /// ADO payload files.
        #[arg(required = true)]
        payloads: Vec<PathBuf>,
    },
    /// The delivery log in `dataDir`: list, show, replay dead letters.
    ///
    /// Works beside a running bridge (the store allows concurrent readers);
    /// a replay is picked up by the running bridge's dispatcher.
    Deliveries {
        /// Configuration file (for `dataDir`).
        #[arg(
            long,
            short,
            env = "BRIDGE_CONFIG",
            default_value = "bridge.yaml",
            global = true
        )]
        config: PathBuf,
        /// What to do.
        #[command(subcommand)]
        command: DeliveriesCommand,
    },
    /// Manage the ADO service-hook subscriptions the rules need.
    ///
    /// Derives from the rules which events (and, where a rule's `when`
    /// certainly allows it, which repository, build status, pipeline ...)
    /// ADO must send to `<bridge-url>/webhooks/<source>`, and compares that
    /// with the organization's subscriptions for that URL. No branch filter
    /// is derived (ADO does not document its form); the rule's `when`
    /// filters on the branch.
    ///
    /// Credentials: AZURE_DEVOPS_PAT or --pat-file (a PAT with Service
    /// Hooks read & write), or a Microsoft Entra ID token in
    /// AZURE_DEVOPS_TOKEN or --token-file.
    ///
    /// Exit status 0 ok, 64 bad config or usage, 1 ADO or delivery failure
    /// (plan --detailed-exitcode: 2 when there are changes).
    ///
    /// Example: ado-temporal-bridge subscriptions plan --organization https://dev.azure.com/contoso --bridge-url https://bridge.example.com --project Payments
    Subscriptions {
        /// Configuration file (rules, sources and their credentials).
        #[arg(
            long,
            short,
            env = "BRIDGE_CONFIG",
            default_value = "bridge.yaml",
            global = true
        )]
        config: PathBuf,
        /// Where and as whom.
        #[command(flatten)]
        ado: AdoArgs,
        /// What to do.
        #[command(subcommand)]
        command: SubscriptionsCommand,
    },
}

/// Options shared by the `subscriptions` subcommands.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AdoArgs {
    /// Organization URL, e.g. https://dev.azure.com/contoso.
    #[arg(long, env = "AZURE_DEVOPS_ORG_URL", global = true)]
    pub organization: Option<String>,
    /// The bridge's public base URL as ADO reaches it, e.g.
    /// https://bridge.example.com (subscriptions deliver to
    /// <bridge-url>/webhooks/<source>).
    #[arg(long, env = "BRIDGE_PUBLIC_URL", global = true)]
    pub bridge_url: Option<String>,
    /// Source whose URL and credentials to use (default: the only source).
    #[arg(long, global = true)]
    pub source: Option<String>,
    /// Project name or GUID; repeatable (default: the source's
    /// `allow.projects`).
    #[arg(long = "project", global = true)]
    pub projects: Vec<String>,
    /// File holding a personal access token (instead of AZURE_DEVOPS_PAT).
    #[arg(long, global = true)]
    pub pat_file: Option<PathBuf>,
    /// File holding an Entra ID access token (instead of
    /// AZURE_DEVOPS_TOKEN), e.g. from `az account get-access-token`.
    #[arg(long, global = true)]
    pub token_file: Option<PathBuf>,
    /// JSON output.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `subscriptions` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum SubscriptionsCommand {
    /// Show what `apply` would create, replace and delete; changes nothing.
    ///
    /// Example: ado-temporal-bridge subscriptions plan --project Payments --detailed-exitcode
    Plan {
        /// Exit with status 2 (instead of 0) when there are changes.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan to replace every existing subscription too (see `apply`).
        #[arg(long)]
        recreate: bool,
    },
    /// Create, replace and delete subscriptions until ADO matches the rules.
    ///
    /// A changed subscription is replaced (the new one created before the
    /// old one is deleted). ADO returns passwords masked, so after rotating
    /// the source's password use --recreate to send the new one.
    ///
    /// Example: ado-temporal-bridge subscriptions apply --project Payments
    Apply {
        /// Replace every existing subscription (sends current secrets).
        #[arg(long)]
        recreate: bool,
    },
    /// This bridge's subscriptions: state and recent failed notifications.
    ///
    /// Lists every subscription delivering to this source's URL, in any
    /// project. Exit status 1 when a redelivered notification was not
    /// answered 2xx by the bridge.
    ///
    /// Example: ado-temporal-bridge subscriptions status --enable --redeliver
    Status {
        /// Put subscriptions on probation or disabled by the system back to
        /// enabled. Those disabled by a user are left (see
        /// --include-disabled-by-user); those disabled because their owner
        /// left are reported: they need a new owner (`apply --recreate`).
        #[arg(long)]
        enable: bool,
        /// With --enable: re-enable subscriptions a user disabled too.
        #[arg(long, requires = "enable")]
        include_disabled_by_user: bool,
        /// Send failed notifications' events to the bridge again (answered
        /// as duplicates when already handled).
        #[arg(long)]
        redeliver: bool,
        /// Failed notifications to read per subscription.
        #[arg(long, default_value_t = 20)]
        max_notifications: usize,
    },
}

/// `deliveries` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// Newest deliveries first, each with its reason code.
    ///
    /// Example: ado-temporal-bridge deliveries list --reason DEAD_LETTER
    List {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Only this event type.
        #[arg(long)]
        event_type: Option<String>,
        /// Only this outcome (accepted, queued, ignored, failed, duplicate),
        /// or `dead` for deliveries with dead-lettered actions.
        #[arg(long)]
        outcome: Option<String>,
        /// Only this correlation id.
        #[arg(long)]
        correlation_id: Option<String>,
        /// Only this reason code (VERIFICATION_FAILED, FORBIDDEN,
        /// NO_RULE_MATCHED, RULE_ERROR, QUEUED, STARTED, SIGNALED,
        /// DUPLICATE, DEAD_LETTER ...).
        #[arg(long = "reason")]
        reason_code: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// One delivery: why (reason code), every rule's decision, each
    /// action's state and its Temporal Web UI link.
    ///
    /// Example: ado-temporal-bridge deliveries show 42
    Show {
        /// Delivery id (from `list`).
        id: i64,
        /// JSON output (the stored answer and the actions).
        #[arg(long)]
        json: bool,
    },
    /// Send a delivery's dead-lettered actions again.
    ///
    /// Example: ado-temporal-bridge deliveries replay 42
    Replay {
        /// Delivery id (from `list`).
        id: i64,
    },
}
