//! `${{ expr }}` templates inside rule values.
//!
//! A string that is exactly one `${{ expr }}` takes the expression's value
//! and type (object, list, number ...). Any other string with `${{ }}` parts
//! is text with the parts' values spliced in. Objects and lists are walked.
//! Every expression is compiled once, when the rule file loads.

use cel::{
    Context, IdedExpr, Program,
    common::ast::{EntryExpr, Expr as Ast, IdedEntryExpr, LiteralValue, operators},
};
use serde_json::{Map, Value};

use super::celval::{Fields, to_json, to_text};

/// A compiled CEL expression with its source, for error messages.
pub struct Expr {
    /// Source text.
    pub source: String,
    program: Program,
    /// Whether it holds a comprehension (see [`Expr::iterates`]).
    iterates: bool,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// Longest expression accepted.
const MAX_EXPR_LEN: usize = 4096;
/// Deepest nesting of comprehensions (`all`, `exists`, `map`, `filter` ...)
/// accepted: each level multiplies the work by a list's length.
pub const MAX_COMPREHENSION_DEPTH: usize = 2;

/// The expressions directly below `e`.
pub(crate) fn children(e: &IdedExpr) -> Vec<&IdedExpr> {
    fn entries(entries: &[IdedEntryExpr]) -> Vec<&IdedExpr> {
        entries
            .iter()
            .flat_map(|en| match &en.expr {
                EntryExpr::MapEntry(me) => vec![&me.key, &me.value],
                EntryExpr::StructField(sf) => vec![&sf.value],
            })
            .collect()
    }
    match &e.expr {
        Ast::Call(call) => call
            .target
            .iter()
            .map(|t| &**t)
            .chain(call.args.iter())
            .collect(),
        Ast::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Ast::List(list) => list.elements.iter().collect(),
        Ast::Map(m) => entries(&m.entries),
        Ast::Struct(st) => entries(&st.entries),
        Ast::Select(sel) => vec![&*sel.operand],
        Ast::Unspecified | Ast::Ident(_) | Ast::Literal(_) => vec![],
    }
}

/// The variable and the fields a chain of selections reads, outermost
/// field first: `("ado", ["commit", "message"])` for `ado.commit.message`,
/// `("ado", [])` for `ado` itself; `None` for anything but an identifier
/// under selections.
pub(crate) fn select_path(e: &IdedExpr) -> Option<(&str, Vec<&str>)> {
    match &e.expr {
        Ast::Ident(name) => Some((name, vec![])),
        Ast::Select(sel) => {
            let (var, mut fields) = select_path(&sel.operand)?;
            fields.push(&sel.field);
            Some((var, fields))
        }
        _ => None,
    }
}

/// How deeply comprehensions nest inside each other's bodies.
fn comprehension_depth(e: &IdedExpr) -> usize {
    let max = |items: Vec<&IdedExpr>| {
        items
            .into_iter()
            .map(comprehension_depth)
            .max()
            .unwrap_or(0)
    };
    match &e.expr {
        Ast::Comprehension(c) => {
            let body = vec![&c.loop_cond, &c.loop_step, &c.result];
            max(vec![&c.iter_range, &c.accu_init]).max(1 + max(body))
        }
        _ => max(children(e)),
    }
}

/// Adds the top-level fields of variable `var` that `e` reads to `fields`
/// (`ado.branch` reads `branch`); `true` when it reads `var` any other way
/// (whole, or indexed), which takes every field.
fn var_fields<'e>(e: &'e IdedExpr, var: &str, fields: &mut Vec<&'e str>) -> bool {
    match &e.expr {
        Ast::Select(sel) if matches!(&sel.operand.expr, Ast::Ident(n) if n == var) => {
            fields.push(&sel.field);
            false
        }
        Ast::Ident(name) => name == var,
        _ => children(e).into_iter().any(|c| var_fields(c, var, fields)),
    }
}

impl Expr {
    /// Compiles `source`, or says why not.
    pub fn compile(source: &str) -> Result<Self, String> {
        let trimmed = source.trim();
        if trimmed.is_empty() {
            return Err("empty expression".into());
        }
        if trimmed.len() > MAX_EXPR_LEN {
            return Err(format!("expression longer than {MAX_EXPR_LEN} characters"));
        }
        let program = Program::compile(trimmed).map_err(|e| {
            let msg = e.to_string().replace('\n', "; ");
            format!("CEL syntax error in `{trimmed}`: {msg}")
        })?;
        let depth = comprehension_depth(program.expression());
        if depth > MAX_COMPREHENSION_DEPTH {
            return Err(format!(
                "`{trimmed}` nests comprehensions more than {MAX_COMPREHENSION_DEPTH} deep"
            ));
        }
        Ok(Self {
            source: trimmed.to_owned(),
            program,
            iterates: depth > 0,
        })
    }

    /// Whether it holds a comprehension (`all`, `exists`, `map` ...), the
    /// only construct of CEL's standard library whose work can grow faster
    /// than the delivery: without one, evaluating visits each node of the
    /// expression once, and no function it can call does more than a pass
    /// over its arguments.
    pub fn iterates(&self) -> bool {
        self.iterates
    }

    /// Evaluates against `ctx`.
    pub fn eval(&self, ctx: &Context) -> Result<cel::Value, String> {
        self.program
            .execute(ctx)
            .map_err(|e| format!("`{}`: {e}", self.source))
    }

    /// The parsed expression.
    pub fn ast(&self) -> &IdedExpr {
        self.program.expression()
    }

    /// The top-level fields of variable `var` (those of `table`) it reads.
    pub fn fields_of(&self, var: &str, table: &[&str]) -> Fields {
        let mut fields = Vec::new();
        if var_fields(self.ast(), var, &mut fields) {
            Fields::ALL
        } else {
            Fields::of(table, fields)
        }
    }

    /// The comparison this expression must pass first, when it has one
    /// that can be checked against the JSON without CEL (see [`Guard`]).
    pub fn guard(&self) -> Option<Guard> {
        let mut e = self.ast();
        // The leftmost operand of a chain of `&&`: evaluated first, and
        // when false, the whole chain is false whatever the rest would be.
        while let Ast::Call(c) = &e.expr
            && c.func_name == operators::LOGICAL_AND
            && c.target.is_none()
            && c.args.len() == 2
        {
            e = &c.args[0];
        }
        let Ast::Call(c) = &e.expr else { return None };
        let text = |e: &IdedExpr| match &e.expr {
            Ast::Literal(LiteralValue::String(s)) => Some(s.inner().to_owned()),
            _ => None,
        };
        let (path, test) = match (c.func_name.as_str(), c.target.as_deref(), &c.args[..]) {
            (operators::EQUALS, None, [a, b]) => match (text(a), text(b)) {
                (None, Some(t)) => (a, GuardTest::Equals(t)),
                (Some(t), None) => (b, GuardTest::Equals(t)),
                _ => return None,
            },
            ("startsWith", Some(target), [prefix]) => {
                (target, GuardTest::StartsWith(text(prefix)?))
            }
            (operators::IN, None, [a, b]) => match &b.expr {
                Ast::List(list) => (
                    a,
                    GuardTest::In(list.elements.iter().map(text).collect::<Option<_>>()?),
                ),
                _ => return None,
            },
            _ => return None,
        };
        // `has(ado.f)` is a selection too, one that tests presence.
        if matches!(&path.expr, Ast::Select(sel) if sel.test) {
            return None;
        }
        let (var, fields) = select_path(path)?;
        let var = match var {
            "ado" => GuardVar::Ado,
            "event" => GuardVar::Event,
            _ => return None,
        };
        if fields.is_empty() {
            return None;
        }
        let fields = fields.into_iter().map(str::to_owned).collect();
        Some(Guard { var, fields, test })
    }

    /// Variables this expression reads at the top level.
    pub fn variables(&self) -> Vec<String> {
        self.program
            .references()
            .variables()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}

/// A test of a field path of `ado` or `event` against text
/// (`ado.f.g == "text"`, either side; `ado.f.startsWith("text")`;
/// `ado.f in ["a", "b"]`) as the first operand of an expression's `&&`
/// chain. CEL evaluates that operand first, and when it is false the whole
/// expression is false, whatever the other operands would give. So when
/// the JSON holds a string at that path that fails the test, the
/// expression is false without running CEL: a delivery rules out most
/// rules of a large rule set this way, by one lookup each. Anything else
/// (the path missing, `null`, a number, a string that passes) leaves the
/// decision to CEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// The variable whose field it tests.
    pub var: GuardVar,
    /// The fields selected, outermost first.
    pub fields: Vec<String>,
    /// What the string there must pass.
    pub test: GuardTest,
}

/// What a [`Guard`] asks of the string at its path, as CEL would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardTest {
    /// `==` this text.
    Equals(String),
    /// `startsWith` this text.
    StartsWith(String),
    /// `in` this list of texts.
    In(Vec<String>),
}

/// The variables a [`Guard`] may compare a field of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardVar {
    /// The normalized view.
    Ado,
    /// The envelope as sent.
    Event,
}

impl Guard {
    /// Whether the delivery `vars` hold makes the comparison false.
    pub fn rules_out_in(&self, vars: &super::Variables<'_>) -> bool {
        self.rules_out(match self.var {
            GuardVar::Ado => vars.ado,
            GuardVar::Event => vars.event,
        })
    }

    /// Whether `root` (the variable's JSON) makes the comparison false.
    pub fn rules_out(&self, root: &Value) -> bool {
        let found = self
            .fields
            .iter()
            .try_fold(root, |v, field| v.as_object()?.get(field));
        let Some(Value::String(s)) = found else {
            return false;
        };
        match &self.test {
            GuardTest::Equals(text) => s != text,
            GuardTest::StartsWith(prefix) => !s.starts_with(prefix.as_str()),
            GuardTest::In(texts) => !texts.contains(s),
        }
    }
}

/// A compiled template value.
#[derive(Debug)]
pub enum Template {
    /// No `${{ }}` anywhere: used as written.
    Literal(Value),
    /// Exactly one `${{ expr }}`: the expression's typed value.
    Whole(Expr),
    /// Text with `${{ }}` parts.
    Text(Vec<Part>),
    /// A list of templates.
    List(Vec<Template>),
    /// An object of templates.
    Object(Vec<(String, Template)>),
}

/// A piece of a text template.
#[derive(Debug)]
pub enum Part {
    /// Plain text.
    Lit(String),
    /// A spliced expression.
    Expr(Expr),
}

/// Whether `null` may be spliced into text (as an empty string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NullText {
    /// `null` renders as `""`.
    Empty,
    /// `null` is an error: used for workflow ids and names.
    Error,
}

impl Template {
    /// Compiles a JSON value from a rule file.
    pub fn compile(value: &Value) -> Result<Self, String> {
        Ok(match value {
            Value::String(s) => Self::compile_str(s)?,
            Value::Array(items) => {
                let compiled: Result<Vec<_>, _> = items.iter().map(Self::compile).collect();
                let compiled = compiled?;
                if compiled.iter().all(|t| matches!(t, Template::Literal(_))) {
                    Template::Literal(value.clone())
                } else {
                    Template::List(compiled)
                }
            }
            Value::Object(obj) => {
                let mut fields = Vec::with_capacity(obj.len());
                for (k, v) in obj {
                    fields.push((
                        k.clone(),
                        Self::compile(v).map_err(|e| format!("{k}: {e}"))?,
                    ));
                }
                if fields
                    .iter()
                    .all(|(_, t)| matches!(t, Template::Literal(_)))
                {
                    Template::Literal(value.clone())
                } else {
                    Template::Object(fields)
                }
            }
            other => Template::Literal(other.clone()),
        })
    }

    /// Compiles a string template.
    pub fn compile_str(s: &str) -> Result<Self, String> {
        let parts = split(s)?;
        Ok(match parts.as_slice() {
            [] => Template::Literal(Value::String(String::new())),
            [Piece::Text(t)] => Template::Literal(Value::String(t.clone())),
            [Piece::Expr(e)] => Template::Whole(Expr::compile(e)?),
            _ => Template::Text(
                parts
                    .into_iter()
                    .map(|p| match p {
                        Piece::Text(t) => Ok(Part::Lit(t)),
                        Piece::Expr(e) => Expr::compile(&e).map(Part::Expr),
                    })
                    .collect::<Result<_, String>>()?,
            ),
        })
    }

    /// Renders to JSON.
    pub fn render(&self, ctx: &Context, nulls: NullText) -> Result<Value, String> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Whole(e) => to_json(&e.eval(ctx)?)?,
            Template::Text(parts) => Value::String(render_text(parts, ctx, nulls)?),
            Template::List(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.render(ctx, nulls))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (k, t) in fields {
                    out.insert(k.clone(), t.render(ctx, nulls)?);
                }
                Value::Object(out)
            }
        })
    }

    /// Renders to a non-empty string (workflow ids, types, queues, names).
    pub fn render_name(&self, ctx: &Context) -> Result<String, String> {
        let out = match self {
            Template::Text(parts) => render_text(parts, ctx, NullText::Error)?,
            other => match other.render(ctx, NullText::Error)? {
                Value::String(s) => s,
                Value::Null => return Err("evaluated to null".into()),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                v => return Err(format!("must be a string, got {v}")),
            },
        };
        if out.trim().is_empty() {
            return Err("evaluated to an empty string".into());
        }
        if out.len() > 1000 {
            return Err("longer than 1000 characters".into());
        }
        Ok(out)
    }

    /// Every expression in this template.
    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            Template::Literal(_) => vec![],
            Template::Whole(e) => vec![e],
            Template::Text(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    Part::Expr(e) => Some(e),
                    Part::Lit(_) => None,
                })
                .collect(),
            Template::List(items) => items.iter().flat_map(Template::exprs).collect(),
            Template::Object(fields) => fields.iter().flat_map(|(_, t)| t.exprs()).collect(),
        }
    }
}

fn render_text(parts: &[Part], ctx: &Context, nulls: NullText) -> Result<String, String> {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Lit(t) => out.push_str(t),
            Part::Expr(e) => match to_text(&e.eval(ctx)?)? {
                Some(t) => out.push_str(&t),
                None if nulls == NullText::Empty => {}
                None => return Err(format!("`{}` evaluated to null", e.source)),
            },
        }
    }
    Ok(out)
}

#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    Expr(String),
}

/// Splits `s` into text and `${{ ... }}` expressions. The closing `}}` is
/// found outside string literals and balanced braces, so map literals such
/// as `${{ {"a": {"b": 1}} }}` work.
fn split(s: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_owned()));
        }
        let body = &rest[start + 3..];
        let end = closing(body).ok_or_else(|| format!("unterminated `${{{{` in {s:?}"))?;
        pieces.push(Piece::Expr(body[..end].to_owned()));
        rest = &body[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

fn closing(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'{' => depth += 1,
                b'}' if depth > 0 => depth -= 1,
                b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::celval::to_cel;
    use serde_json::json;

    fn ctx() -> Context<'static, 'static> {
        let mut c = Context::default();
        c.add_variable_from_value(
            "ado",
            to_cel(&json!({"repo": "api", "id": 7, "commits": [{"id": "a"}], "none": null})),
        );
        c
    }

    #[test]
    fn splits_text_and_expressions() {
        assert_eq!(
            split("deploy-${{ ado.repo }}-${{ {'a': {'b': '}}'}}.a.b }}").ok(),
            Some(vec![
                Piece::Text("deploy-".into()),
                Piece::Expr(" ado.repo ".into()),
                Piece::Text("-".into()),
                Piece::Expr(" {'a': {'b': '}}'}}.a.b ".into()),
            ])
        );
        assert!(split("x-${{ ado.repo").is_err());
    }

    #[test]
    fn whole_expressions_keep_their_type() {
        let t = Template::compile(&json!("${{ ado.commits }}")).expect("compiles");
        assert_eq!(t.render(&ctx(), NullText::Empty), Ok(json!([{"id": "a"}])));
        let t = Template::compile(&json!("${{ ado.id }}")).expect("compiles");
        assert_eq!(t.render(&ctx(), NullText::Empty), Ok(json!(7)));
    }

    #[test]
    fn text_templates_splice_values() {
        let t = Template::compile(&json!({"w": "deploy-${{ ado.repo }}-${{ ado.id }}", "n": [1]}))
            .expect("compiles");
        assert_eq!(
            t.render(&ctx(), NullText::Empty),
            Ok(json!({"w": "deploy-api-7", "n": [1]}))
        );
    }

    #[test]
    fn names_refuse_null_and_empty() {
        let t = Template::compile_str("build-${{ ado.none }}").expect("compiles");
        assert!(t.render_name(&ctx()).is_err());
        assert_eq!(
            t.render(&ctx(), NullText::Empty),
            Ok(json!("build-")),
            "elsewhere null splices as empty text"
        );
        let t = Template::compile_str("${{ ado.none }}").expect("compiles");
        assert!(t.render_name(&ctx()).is_err());
    }

    #[test]
    fn compile_errors_name_the_expression() {
        let err = Template::compile_str("x-${{ ado.repo + }}").expect_err("bad");
        assert!(err.contains("ado.repo +"), "{err}");
    }

    #[test]
    fn deeply_nested_comprehensions_are_refused() {
        assert!(Expr::compile("ado.commits.all(a, ado.commits.exists(b, a.id == b.id))").is_ok());
        let err = Expr::compile("ado.commits.all(a, ado.commits.all(b, ado.commits.all(c, true)))")
            .expect_err("three deep");
        assert!(err.contains("nests comprehensions"), "{err}");
        assert!(Expr::compile(&"1 + ".repeat(2000)).is_err());
    }

    #[test]
    fn evaluation_errors_name_the_expression() {
        let t = Template::compile_str("${{ ado.missing.field }}").expect("compiles");
        let err = t.render(&ctx(), NullText::Empty).expect_err("no such key");
        assert!(err.contains("ado.missing.field"), "{err}");
    }
}
