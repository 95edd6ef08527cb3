//! `ado-temporal-bridge`: Azure DevOps service hooks in, Temporal workflow
//! starts and signals out.
//!
//! # Layout
//! The data path reads top to bottom:
//! - [`handlers`] (top-level `handlers/`): the HTTP edge: routing,
//!   authentication, health, error responses.
//! - [`ado`]: the ADO envelope and the normalized `ado` view.
//! - [`mapping`]: rule files, CEL, templates; pure evaluation.
//! - [`store`]: the bridge's own durable state (redelivery memory).
//! - [`temporal`]: the only module that knows the Temporal client.
//! - [`telemetry`] logs.
//! - [`config`] and [`startup`] read the configuration and wire it up;
//!   [`dispatch`] delivers the spool; [`tools`] and [`cli`] are the
//!   offline commands.
//! - [`subscriptions`]: the ADO service-hook subscriptions the rules need,
//!   kept in step through the ADO REST API.

pub mod ado;
pub mod cli;
pub mod config;
pub mod correlation;
pub mod delivery_log;
pub mod dispatch;
#[path = "../handlers/mod.rs"]
pub mod handlers;
pub mod mapping;
pub mod metrics;
pub mod pipeline;
pub mod ruletests;
pub mod sched;
pub mod startup;
pub mod store;
pub mod subscriptions;
pub mod telemetry;
pub mod temporal;
pub mod tls;
pub mod tools;
pub mod verify;
pub mod workers;
