//! The command line: `serve`, `check` and `test`.

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
