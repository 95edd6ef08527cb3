//! `subscriptions plan|apply|status`: the ADO service-hook subscriptions
//! the rules need, kept in step through the ADO REST API.

pub mod derive;
pub mod events;
