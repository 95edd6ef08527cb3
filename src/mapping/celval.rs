//! Conversions between JSON and CEL values, and the variables rules see.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock},
};

use cel::{
    Context, Env, Value as Cel,
    common::{
        types::{
            CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
        },
        value::Val,
    },
};
use serde_json::{Map, Number, Value};

use super::Needs;

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

impl<'a> Variables<'a> {
    /// A CEL context holding these variables and the standard library. The
    /// variables borrow the JSON they come from: strings and keys are not
    /// copied.
    pub fn context(&self) -> Context<'a, 'a> {
        self.context_reading(&Needs::ALL)
    }

    /// [`Variables::context`] with only the variables, and of `ado` and
    /// `event` only the top-level fields, the rules read (`needs`):
    /// turning the whole envelope into CEL values is wasted on rules that
    /// only read `ado`.
    pub fn context_reading(&self, needs: &Needs) -> Context<'a, 'a> {
        // `Context::default()` builds the standard library's function table
        // anew, which cost more than converting a whole delivery; the table
        // never changes, so every delivery shares one.
        static STDLIB: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));
        let reads = needs.reads;
        let mut ctx = Context::with_env(Arc::clone(&STDLIB));
        if reads.has("event") {
            ctx.add_variable_as_val("event", to_val_only(self.event, EVENT_FIELDS, needs.event));
        }
        if reads.has("ado") {
            ctx.add_variable_as_val("ado", to_val_only(self.ado, ADO_FIELDS, needs.ado));
        }
        if reads.has("headers") {
            let headers: HashMap<CelMapKey<'a>, Box<dyn Val + 'a>> = self
                .headers
                .iter()
                .map(|(k, v)| (CelMapKey::from(k.as_str()), to_val(v)))
                .collect();
            ctx.add_variable_as_val("headers", Box::new(CelMap::from(headers)));
        }
        if reads.has("source") {
            ctx.add_variable_as_val("source", Box::new(CelString::from(self.source)));
        }
        if reads.has("correlationId") {
            ctx.add_variable_as_val(
                "correlationId",
                Box::new(CelString::from(self.correlation_id)),
            );
        }
        ctx
    }
}

/// Converts JSON straight to the interpreter's values, borrowing strings.
/// Same result as [`to_cel`], without building a [`Cel`] tree first and
/// converting (and copying) it again.
fn to_val(v: &Value) -> Box<dyn Val + '_> {
    match v {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            (None, None) => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => Box::new(CelString::from(s.as_str())),
        Value::Array(items) => {
            Box::new(CelList::from(items.iter().map(to_val).collect::<Vec<_>>()))
        }
        Value::Object(obj) => Box::new(CelMap::from(
            obj.iter()
                .map(|(k, v)| (CelMapKey::from(k.as_str()), to_val(v)))
                .collect::<HashMap<_, _>>(),
        )),
    }
}

/// The top-level fields of a JSON variable (`ado`, `event`) some
/// expressions read: a bit each, by place in the variable's field table
/// ([`ADO_FIELDS`], [`EVENT_FIELDS`]), or all of them. A delivery converts
/// only those.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fields(u64);

impl Fields {
    /// Every field.
    pub const ALL: Self = Self(u64::MAX);

    /// The fields of `table` among `names`; a name the table lacks takes
    /// every field.
    pub fn of<'n>(table: &[&str], names: impl IntoIterator<Item = &'n str>) -> Self {
        names
            .into_iter()
            .fold(Self(0), |f, n| f.and(Self::bit(table, n)))
    }

    /// What either reads.
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether field `name` of `table` is read.
    pub fn has(self, table: &[&str], name: &str) -> bool {
        table
            .iter()
            .position(|f| *f == name)
            .map_or(self == Self::ALL, |i| self.has_index(i))
    }

    /// The names of the fields of `table` read (of [`Fields::ALL`], all).
    pub fn names<'t>(self, table: &[&'t str]) -> impl Iterator<Item = &'t str> {
        table
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.has_index(*i))
            .map(|(_, name)| *name)
    }

    /// Whether the field at place `i` of its table is read.
    fn has_index(self, i: usize) -> bool {
        self == Self::ALL || (i < 64 && self.0 & (1 << i) != 0)
    }

    /// `name`'s bit; every field for a name `table` lacks (or past what
    /// the bits can tell apart).
    fn bit(table: &[&str], name: &str) -> Self {
        match table.iter().position(|f| *f == name) {
            Some(i) if i < 64 => Self(1 << i),
            _ => Self::ALL,
        }
    }
}

/// The `ado` view's top-level fields, as rules see them.
pub const ADO_FIELDS: &[&str] = &[
    "eventType",
    "organization",
    "project",
    "repository",
    "ref",
    "branch",
    "commit",
    "commits",
    "build",
    "pullRequest",
    "release",
    "environment",
    "approval",
    "pipeline",
    "run",
    "stage",
    "actor",
    "tags",
];

/// The envelope's top-level fields, as ADO sends them.
pub const EVENT_FIELDS: &[&str] = &[
    "subscriptionId",
    "notificationId",
    "id",
    "eventType",
    "publisherId",
    "message",
    "detailedMessage",
    "resource",
    "resourceVersion",
    "resourceContainers",
    "createdDate",
];

/// `v` as CEL; of an object, only the `fields` of `table` (looked up by
/// name: a delivery's rules read a few of them).
fn to_val_only<'v>(v: &'v Value, table: &[&str], fields: Fields) -> Box<dyn Val + 'v> {
    match v {
        Value::Object(obj) if fields != Fields::ALL => Box::new(CelMap::from(
            fields
                .names(table)
                .filter_map(|name| obj.get_key_value(name))
                .map(|(k, v)| (CelMapKey::from(k.as_str()), to_val(v)))
                .collect::<HashMap<_, _>>(),
        )),
        other => to_val(other),
    }
}

/// Names rules may reference at the top level.
pub const VARIABLE_NAMES: &[&str] = &["event", "ado", "headers", "source", "correlationId"];

/// Which of [`VARIABLE_NAMES`] some expressions read (a bit each, in that
/// order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reads(u8);

impl Reads {
    /// Every variable.
    pub const ALL: Self = Self(u8::MAX);

    /// The variables among `names` (other names, such as a comprehension's
    /// own variable, are not variables rules get).
    pub fn of<'n>(names: impl IntoIterator<Item = &'n str>) -> Self {
        Self(names.into_iter().fold(0, |bits, n| bits | Self::bit(n)))
    }

    /// What either reads.
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether `name` is read.
    pub fn has(self, name: &str) -> bool {
        self.0 & Self::bit(name) != 0
    }

    fn bit(name: &str) -> u8 {
        VARIABLE_NAMES
            .iter()
            .position(|v| *v == name)
            .map_or(0, |i| 1 << i)
    }
}

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
    fn context_variables_are_the_json_they_come_from() {
        let event = json!({"a": [1, -2, 2.5, "x", true, null], "b": {"c": 18446744073709551615u64, "d": {}}});
        let ado = json!({"branch": "main", "build": {"id": 42}});
        let headers = Map::from_iter([("x-h".to_owned(), json!("v"))]);
        let vars = Variables {
            event: &event,
            ado: &ado,
            headers: &headers,
            source: "s",
            correlation_id: "c",
        };
        let ctx = vars.context();
        let eval = |src: &str| {
            cel::Program::compile(src)
                .expect("compiles")
                .execute(&ctx)
                .map(|v| to_json(&v))
        };
        assert_eq!(eval("event"), Ok(Ok(event.clone())));
        assert_eq!(eval("ado"), Ok(Ok(ado.clone())));
        assert_eq!(
            eval("headers['x-h'] + source + correlationId"),
            Ok(Ok(json!("vsc")))
        );
        assert_eq!(
            eval("ado.build.id == 42 && event.b.c > 1u && event.a[2] == 2.5"),
            Ok(Ok(json!(true)))
        );
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
