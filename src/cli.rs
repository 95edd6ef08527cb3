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
    /// Exit status 0 when valid, 64 otherwise.
    /// Example: ado-temporal-bridge check --config bridge.yaml
    Check {
        /// Configuration file.
        #[arg(long, short, env = "BRIDGE_CONFIG", default_value = "bridge.yaml")]
        config: PathBuf,
    },
    /// Dry run: show how the rules treat payload files (no Temporal needed).
    ///
    /// Prints, per payload, the normalized `ado` view, every rule's decision
    /// and the actions that would be sent, as JSON.
    /// Example: ado-temporal-bridge test --config bridge.yaml push.json
    Test {
        /// Configuration file.
        #[arg(long, short, env = "BRIDGE_CONFIG", default_value = "bridge.yaml")]
        config: PathBuf,
        /// Source name to evaluate as (default: the first source).
        #[arg(long)]
        source: Option<String>,
        /// ADO payload files.
        #[arg(required = true)]
        payloads: Vec<PathBuf>,
    },
}
