//! From rules to the subscriptions they need: one per event type, with the
//! publisher filters every rule on that event type certainly implies.
//!
//! A filter may only narrow what ADO sends when no event a rule would act
//! on is lost. So a `when` yields a filter only from a top-level
//! conjunction member `ado.<field> == <literal>` (either side), for a field
//! the event type's table maps to a publisher input; disjunctions,
//! negations, functions and anything else yield nothing. Several rules on
//! one event type keep a filter only when all of them have the same one.

use std::collections::BTreeMap;

use cel::{
    IdedExpr,
    common::ast::{Expr as Ast, LiteralValue, operators},
};

use super::events::{self, Convert, EventInfo};
use crate::mapping::{EventPattern, Rule};

/// The value of one publisher input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterValue {
    /// Sent as is.
    Exact(String),
    /// A repository name, to be resolved to its GUID in each project.
    RepositoryName(String),
}

/// One subscription the rules need (before projects are filled in).
#[derive(Debug, PartialEq)]
pub struct Needed {
    /// Event type, publisher and resource version.
    pub event: &'static EventInfo,
    /// Rules that act on this event type.
    pub rules: Vec<String>,
    /// Publisher input name to value.
    pub filters: BTreeMap<&'static str, FilterValue>,
}

/// What the rules need, and what could not be subscribed.
#[derive(Debug, Default)]
pub struct Derivation {
    /// Subscriptions, in the order of [`events::EVENTS`].
    pub needed: Vec<Needed>,
    /// Event types no subscription can be made for, with the rule.
    pub warnings: Vec<String>,
}

/// Derives the subscriptions `rules` need.
pub fn derive<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> Derivation {
    let mut out = Derivation::default();
    let mut by_event: BTreeMap<&'static str, Vec<(&Rule, BTreeMap<_, _>)>> = BTreeMap::new();
    for rule in rules {
        for pattern in &rule.events {
            let matching: Vec<&'static EventInfo> = events::EVENTS
                .iter()
                .filter(|e| pattern.matches(e.event_type))
                .collect();
            if matching.is_empty() {
                let what = match pattern {
                    EventPattern::Exact(e) => format!("event type {e}"),
                    EventPattern::Prefix(_) => format!("pattern {}", pattern.as_written()),
                };
                out.warnings.push(format!(
                    "rule {:?}: no subscription for {what}: not an event type this tool knows",
                    rule.name
                ));
            }
            for info in matching {
                let filters = rule_filters(rule, info);
                let entry = by_event.entry(info.event_type).or_default();
                if !entry.iter().any(|(r, _)| r.name == rule.name) {
                    entry.push((rule, filters));
                }
            }
        }
    }
    for info in events::EVENTS {
        let Some(rules) = by_event.remove(info.event_type) else {
            continue;
        };
        let mut filters = rules.first().map(|(_, f)| f.clone()).unwrap_or_default();
        filters.retain(|input, value| rules.iter().all(|(_, f)| f.get(input) == Some(value)));
        out.needed.push(Needed {
            event: info,
            rules: rules.iter().map(|(r, _)| r.name.to_string()).collect(),
            filters,
        });
    }
    out
}

/// The filters one rule's `when` certainly implies for `info`.
fn rule_filters(rule: &Rule, info: &EventInfo) -> BTreeMap<&'static str, FilterValue> {
    let mut found: BTreeMap<&'static str, Option<FilterValue>> = BTreeMap::new();
    let Some(when) = &rule.when else {
        return BTreeMap::new();
    };
    let mut conjuncts = Vec::new();
    flatten_and(when.ast(), &mut conjuncts);
    for c in conjuncts {
        let Some((path, literal)) = field_equals_literal(c) else {
            continue;
        };
        let Some(filter) = info.filters.iter().find(|f| f.path == path.as_slice()) else {
            continue;
        };
        let Some(value) = convert(filter.convert, literal) else {
            continue;
        };
        // Two different values for one input (`ado.repository.id == "a"
        // && ado.repository.id == "b"`): take no filter rather than guess.
        found
            .entry(filter.input)
            .and_modify(|v| {
                if v.as_ref() != Some(&value) {
                    *v = None;
                }
            })
            .or_insert(Some(value));
    }
    found
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
}

fn flatten_and<'e>(e: &'e IdedExpr, out: &mut Vec<&'e IdedExpr>) {
    match &e.expr {
        Ast::Call(call) if call.func_name == operators::LOGICAL_AND && call.target.is_none() => {
            for arg in &call.args {
                flatten_and(arg, out);
            }
        }
        _ => out.push(e),
    }
}

/// `ado.a.b == literal` or `literal == ado.a.b`: the path below `ado` and
/// the literal.
fn field_equals_literal(e: &IdedExpr) -> Option<(Vec<&str>, &LiteralValue)> {
    let Ast::Call(call) = &e.expr else {
        return None;
    };
    if call.func_name != operators::EQUALS || call.target.is_some() || call.args.len() != 2 {
        return None;
    }
    let (a, b) = (&call.args[0], &call.args[1]);
    match (&a.expr, &b.expr) {
        (_, Ast::Literal(lit)) => Some((ado_path(a)?, lit)),
        (Ast::Literal(lit), _) => Some((ado_path(b)?, lit)),
        _ => None,
    }
}

/// `ado.a.b` as `["a", "b"]`; `None` for anything else (`has()` tests,
/// other variables, index access).
fn ado_path(e: &IdedExpr) -> Option<Vec<&str>> {
    let mut path = Vec::new();
    let mut cur = e;
    loop {
        match &cur.expr {
            Ast::Select(sel) if !sel.test => {
                path.push(sel.field.as_str());
                cur = &sel.operand;
            }
            Ast::Ident(name) if name == "ado" && !path.is_empty() => {
                path.reverse();
                return Some(path);
            }
            _ => return None,
        }
    }
}

fn convert(how: Convert, literal: &LiteralValue) -> Option<FilterValue> {
    let text = match literal {
        LiteralValue::String(s) => Some(s.inner()),
        _ => None,
    };
    let exact = |s: String| Some(FilterValue::Exact(s));
    match how {
        Convert::Text => exact(text?.to_owned()),
        Convert::RepositoryName => Some(FilterValue::RepositoryName(text?.to_owned())),
        Convert::Int => match literal {
            LiteralValue::Int(i) => exact(i.inner().to_string()),
            LiteralValue::UInt(u) => exact(u.inner().to_string()),
            _ => None,
        },
        Convert::OneOf(table) => table
            .iter()
            .find(|(view, _)| Some(*view) == text)
            .and_then(|(_, input)| exact((*input).to_owned())),
    }
}

#[cfg(test)]
#[path = "derive_tests.rs"]
mod tests;
