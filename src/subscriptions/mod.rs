//! `subscriptions plan|apply|status`: the ADO service-hook subscriptions
//! the rules need, kept in step through the ADO REST API.
//!
//! [`derive`] reads the rules (pure), [`client`] talks to ADO (its
//! [`resources`]), [`target`] is where ADO delivers, [`plan`]
//! compares and applies, [`status`] reports and repairs, [`output`]
//! prints.

pub mod client;
pub mod derive;
pub mod events;
pub mod json;
pub mod output;
pub mod plan;
pub mod resources;
pub mod status;
pub mod target;

use std::path::Path;

use crate::{
    cli::{AdoArgs, SubscriptionsCommand},
    config::{Allow, Config},
    mapping::RuleSet,
};
use client::{AdoAuth, AdoClient, AdoError};
use plan::{Project, Target};

/// Exit status for bad configuration or usage (EX_USAGE).
pub const EXIT_USAGE: u8 = 64;
/// Exit status of `plan --detailed-exitcode` when there are changes.
pub const EXIT_CHANGES: u8 = 2;

/// Why a `subscriptions` command failed.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionsError {
    /// Bad configuration, rules or arguments (exit 64).
    #[error("{0}")]
    Usage(String),
    /// ADO refused or could not be reached (exit 1).
    #[error(transparent)]
    Ado(#[from] AdoError),
    /// Part of `apply` was done before ADO refused (exit 1).
    #[error("{done}; then: {error}")]
    Partial {
        /// What was done.
        done: String,
        /// The refusal.
        error: AdoError,
    },
}

impl SubscriptionsError {
    /// The process exit status.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Ado(_) | Self::Partial { .. } => 1,
        }
    }
}

/// What a command printed and its exit status.
#[derive(Debug)]
pub struct Report {
    /// Text for stdout.
    pub output: String,
    /// 0, or 1 when a redelivery failed, or 2 for a plan with changes
    /// under `--detailed-exitcode`.
    pub exit: u8,
}

/// Runs one `subscriptions` command. `getenv` supplies the ADO credential
/// variables (the process environment in `main`).
pub async fn run(
    config_path: &Path,
    args: &AdoArgs,
    command: &SubscriptionsCommand,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<Report, SubscriptionsError> {
    let usage = SubscriptionsError::Usage;
    let config = Config::load(config_path).map_err(|e| usage(e.to_string()))?;
    let organization = args.organization.as_deref().ok_or_else(|| {
        usage("--organization (or AZURE_DEVOPS_ORG_URL) is required, e.g. https://dev.azure.com/contoso".into())
    })?;
    let bridge_url = args.bridge_url.as_deref().ok_or_else(|| {
        usage("--bridge-url (or BRIDGE_PUBLIC_URL) is required: the bridge's base URL as ADO reaches it".into())
    })?;
    let source = match (&args.source, config.sources.as_slice()) {
        (Some(name), _) => config
            .source(name)
            .ok_or_else(|| usage(format!("no source named {name:?} in the config")))?,
        (None, [only]) => only,
        (None, _) => {
            return Err(usage(
                "the config has several sources; choose one with --source".into(),
            ));
        }
    };
    let target = Target::new(source, bridge_url).map_err(usage)?;
    let auth = AdoAuth::resolve(args.token_file.as_ref(), args.pat_file.as_ref(), getenv)
        .map_err(usage)?;
    let client = AdoClient::new(organization, auth).map_err(usage)?;
    match command {
        SubscriptionsCommand::Plan {
            detailed_exitcode,
            recreate,
        } => {
            let plan = make_plan(&config, source, args, &client, &target, *recreate).await?;
            let exit = if *detailed_exitcode && !plan.changes.is_empty() {
                EXIT_CHANGES
            } else {
                0
            };
            let output = if args.json {
                pretty(&json::plan(&plan, &target, None))
            } else {
                output::plan(&plan, &target)
            };
            Ok(Report { output, exit })
        }
        SubscriptionsCommand::Apply { recreate } => {
            let plan = make_plan(&config, source, args, &client, &target, *recreate).await?;
            let bar = output::progress(plan.changes.len());
            let result = plan::apply(&client, &plan, &target, &bar).await;
            bar.finish_and_clear();
            match result {
                Ok(done) => {
                    let output = if args.json {
                        pretty(&json::plan(&plan, &target, Some(&done)))
                    } else {
                        let text = output::plan(&plan, &target);
                        format!("{text}\n{}", output::applied(&done))
                    };
                    Ok(Report { output, exit: 0 })
                }
                Err((done, error)) => Err(SubscriptionsError::Partial {
                    done: output::applied(&done),
                    error,
                }),
            }
        }
        SubscriptionsCommand::Status {
            enable,
            include_disabled_by_user,
            redeliver,
            max_notifications,
        } => {
            let (statuses, unreadable) =
                status::status(&client, &target, *max_notifications).await?;
            let mut enabled = None;
            if *enable {
                let todo = statuses
                    .iter()
                    .filter(|s| {
                        status::should_enable(s.subscription.status(), *include_disabled_by_user)
                    })
                    .count();
                let bar = output::progress(todo);
                let ids =
                    status::enable(&client, &target, &statuses, *include_disabled_by_user, &bar)
                        .await;
                bar.finish_and_clear();
                enabled = Some(ids?);
            }
            let mut sent = None;
            if *redeliver {
                let todo = statuses.iter().map(|s| s.failed.len()).sum();
                let bar = output::progress(todo);
                let done = status::redeliver(&client, &target, &statuses, &bar).await;
                bar.finish_and_clear();
                sent = Some(done?);
            }
            let failed = sent.iter().flatten().any(|r| !r.ok());
            let output = if args.json {
                pretty(&json::status(
                    &statuses,
                    &unreadable,
                    &target,
                    enabled.as_deref(),
                    *include_disabled_by_user,
                    sent.as_deref(),
                ))
            } else {
                let mut out = output::status(&statuses, &unreadable, &target);
                if let Some(ids) = &enabled {
                    out.push('\n');
                    out.push_str(&output::enabled(ids, &statuses, *include_disabled_by_user));
                }
                if let Some(sent) = &sent {
                    out.push('\n');
                    out.push_str(&output::redelivered(sent));
                }
                out
            };
            Ok(Report {
                output,
                exit: u8::from(failed),
            })
        }
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A warning per subscribed event type that rules outside the source's
/// `allow.rules` listen to as well: the bridge answers 403 to a delivery
/// any of them matches.
fn outside_grant(
    rules: &RuleSet,
    source: &crate::config::Source,
    derivation: &derive::Derivation,
) -> Vec<String> {
    let mut out = Vec::new();
    for needed in &derivation.needed {
        let event = needed.event.event_type;
        let outside: Vec<&str> = rules
            .rules()
            .iter()
            .filter(|r| !source.allow.permits_rule(&r.name))
            .filter(|r| r.events.iter().any(|p| p.matches(event)))
            .map(|r| &*r.name)
            .collect();
        if !outside.is_empty() {
            out.push(format!(
                "{event}: rules outside source {:?}'s allow.rules listen to it too ({}); the \
                 bridge answers 403 to a delivery they match, and ADO then puts the \
                 subscription on probation",
                source.name,
                outside.join(", ")
            ));
        }
    }
    out
}

/// Rules and projects to desired subscriptions, compared with ADO's.
async fn make_plan(
    config: &Config,
    source: &crate::config::Source,
    args: &AdoArgs,
    client: &AdoClient,
    target: &Target,
    recreate: bool,
) -> Result<plan::Plan, SubscriptionsError> {
    let rules =
        RuleSet::load(&config.mappings).map_err(|e| SubscriptionsError::Usage(e.to_string()))?;
    // A rule the source may not trigger needs no subscription for it.
    let derivation = derive::derive(
        rules
            .rules()
            .iter()
            .filter(|r| source.allow.permits_rule(&r.name)),
    );
    let names = if args.projects.is_empty() {
        &source.allow.projects
    } else {
        &args.projects
    };
    if names.is_empty() {
        return Err(SubscriptionsError::Usage(format!(
            "no projects: name them with --project, or list them in source {:?}'s allow.projects",
            source.name
        )));
    }
    let mut projects: Vec<Project> = Vec::new();
    for name in names {
        let (id, name) = client.project(name).await?;
        // The bridge answers 403 to deliveries from a project outside the
        // grant, and ADO then puts the subscription on probation and
        // disables it: refuse rather than create such subscriptions.
        if !Allow::permits(&source.allow.projects, Some(&id)) {
            return Err(SubscriptionsError::Usage(format!(
                "project {name:?} ({id}) is outside source {:?}'s allow.projects: the bridge \
                 would refuse its deliveries with 403",
                source.name
            )));
        }
        if !projects.iter().any(|p| p.id == id) {
            projects.push(Project { id, name });
        }
    }
    let mut warnings = derivation.warnings.clone();
    warnings.extend(outside_grant(&rules, source, &derivation));
    if target.basic.is_some() && target.url.starts_with("http://") {
        warnings.push(format!(
            "{} is not https: ADO refuses Basic auth to it",
            target.url
        ));
    }
    let desired = plan::desired(client, &derivation, &projects, &mut warnings).await?;
    let existing = client.web_hook_subscriptions().await?;
    let listeners: Vec<_> = rules
        .rules()
        .iter()
        .flat_map(|r| r.events.iter().map(|p| (p.clone(), r.name.to_string())))
        .collect();
    let mut plan = plan::diff(
        desired,
        existing.subscriptions,
        target,
        &projects,
        &listeners,
        recreate,
    );
    plan::account_for_unreadable(&mut plan, &existing.unreadable, target);
    warnings.append(&mut plan.warnings);
    plan.warnings = warnings;
    Ok(plan)
}
