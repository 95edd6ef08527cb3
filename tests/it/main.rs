//! Integration tests: the bridge against a real Temporal dev server.

mod binary;
mod browser;
mod crash;
mod delivery_log;
mod durable;
mod fake_ado;
mod hostile;
mod metrics;
mod normalize;
mod security;
mod subscriptions;
mod support;
mod traces;
mod webhooks;
