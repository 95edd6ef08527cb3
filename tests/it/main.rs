//! Integration tests: the bridge against a real Temporal dev server.

mod binary;
mod crash;
mod durable;
mod fake_ado;
mod hostile;
mod metrics;
mod normalize;
mod security;
mod subscriptions;
mod support;
mod webhooks;
