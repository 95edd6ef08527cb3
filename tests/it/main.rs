//! Integration tests: the bridge against a real Temporal dev server.

mod binary;
mod crash;
mod durable;
mod normalize;
mod support;
mod webhooks;
