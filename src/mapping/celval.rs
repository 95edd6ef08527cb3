//! Conversions between JSON and CEL values, and the variables rules see.

use std::{collections::HashMap, sync::Arc};

use cel::{Context, Value as Cel};
use serde_json::{Map, Number, Value};

/// Converts JSON to CEL. Integers become `int` when they fit (so rules can
/// write `ado.build.id == 42`), otherwise `uint`.
pub fn to_cel(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => number_to_cel(n),
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => Cel::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(obj) => {
            let map: HashMap<String, Cel> =
                obj.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            Cel::from(map)
        }
    }
}

fn number_to_cel(n: &Number) -> Cel {
    if let Some(i) = n.as_i64() {
        Cel::Int(i)
    } else if let Some(u) = n.as_u64() {
        Cel::UInt(u)
    } else {
        Cel::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Converts a CEL result to JSON. Types JSON lacks (timestamps, durations,
/// bytes) become strings.
pub fn to_json(v: &Cel) -> Result<Value, String> {
    v.json()
        .map_err(|e| format!("result cannot be represented as JSON: {e:?}"))
}

/// Renders a CEL value inside a string: strings as-is, scalars as text,
/// lists and maps as JSON. `None` for `null`.
pub fn to_text(v: &Cel) -> Result<Option<String>, String> {
    Ok(match v {
        Cel::Null => None,
        Cel::String(s) => Some(s.to_string()),
        Cel::Int(i) => Some(i.to_string()),
        Cel::UInt(u) => Some(u.to_string()),
        Cel::Float(f) => Some(f.to_string()),
        Cel::Bool(b) => Some(b.to_string()),
        other => Some(to_json(other)?.to_string()),
    })
}

/// The variables every rule expression sees.
pub struct Variables<'a> {
    /// The whole envelope.
    pub event: &'a Value,
    /// The normalized view.
    pub ado: &'a Value,
    /// Request headers, lower-cased, without credentials.
    pub headers: &'a Map<String, Value>,
    /// Source name.
    pub source: &'a str,
    /// Correlation id.
    pub correlation_id: &'a str,
}

impl Variables<'_> {
    /// A CEL context holding these variables and the standard library.
    pub fn context(&self) -> Context<'static, 'static> {
        let mut ctx = Context::default();
        ctx.add_variable_from_value("event", to_cel(self.event));
        ctx.add_variable_from_value("ado", to_cel(self.ado));
        let headers: HashMap<String, Cel> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), to_cel(v)))
            .collect();
        ctx.add_variable_from_value("headers", Cel::from(headers));
        ctx.add_variable_from_value("source", Cel::String(Arc::new(self.source.to_owned())));
        ctx.add_variable_from_value(
            "correlationId",
            Cel::String(Arc::new(self.correlation_id.to_owned())),
        );
        ctx
    }
}

/// Names rules may reference at the top level.
pub const VARIABLE_NAMES: &[&str] = &["event", "ado", "headers", "source", "correlationId"];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_cel() {
        let v = json!({"a": [1, -2, 2.5, "x", true, null], "b": {"c": 18446744073709551615u64}});
        assert_eq!(to_json(&to_cel(&v)).ok(), Some(v));
    }

    #[test]
    fn integers_compare_with_int_literals() {
        let program = cel::Program::compile("x.id == 42 && x.id > 7").expect("compiles");
        let mut ctx = Context::default();
        ctx.add_variable_from_value("x", to_cel(&json!({"id": 42})));
        assert_eq!(program.execute(&ctx), Ok(Cel::Bool(true)));
    }

    #[test]
    fn text_rendering() {
        assert_eq!(to_text(&Cel::Int(5)), Ok(Some("5".into())));
        assert_eq!(to_text(&Cel::Null), Ok(None));
        assert_eq!(
            to_text(&to_cel(&json!(["a", 1]))),
            Ok(Some("[\"a\",1]".into()))
        );
    }
}
