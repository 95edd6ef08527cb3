//! `${VAR}` expansion inside configuration values.
//!
//! Expansion happens while a value is deserialized, so errors keep the file's
//! line and column and no expanded secret can break the YAML syntax around it.

use std::{fmt, marker::PhantomData, str::FromStr};

use serde::{Deserialize, Deserializer, de};

/// Expands `${NAME}` references in `input` using `lookup`. `$${` is a literal `${`.
pub fn expand_with(input: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| format!("unterminated `${{` in {input:?}"))?;
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid environment variable name {name:?}"));
            }
            let value =
                lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands `${NAME}` from the process environment.
pub fn expand(input: &str) -> Result<String, String> {
    expand_with(input, |name| std::env::var(name).ok())
}

/// A configuration value written as a string (or a plain scalar) that may
/// contain `${VAR}` references, parsed into `T` after expansion.
#[derive(Clone, Debug, PartialEq)]
pub struct Env<T>(pub T);

impl<'de, T> Deserialize<'de> for Env<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor<T>(PhantomData<T>);

        impl<T> ScalarVisitor<T>
        where
            T: FromStr,
            T::Err: fmt::Display,
        {
            fn parse<E: de::Error>(raw: &str) -> Result<Env<T>, E> {
                let expanded = expand(raw).map_err(E::custom)?;
                expanded.parse::<T>().map(Env).map_err(E::custom)
            }
        }

        impl<T> de::Visitor<'_> for ScalarVisitor<T>
        where
            T: FromStr,
            T::Err: fmt::Display,
        {
            type Value = Env<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or scalar value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Self::parse(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Self::parse(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Self::parse(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Self::parse(&v.to_string())
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Self::parse(&v.to_string())
            }
        }

        deserializer.deserialize_any(ScalarVisitor(PhantomData))
    }
}

/// A duration written like `30s`, `500ms` or `2m`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HumanDuration(pub std::time::Duration);

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s.trim())
            .map(HumanDuration)
            .map_err(|e| format!("invalid duration {s:?} ({e}); write e.g. 500ms, 30s, 5m"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "PW" => Some("p#ss: word".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_known_variables() {
        assert_eq!(expand_with("x-${A}-y", lookup).as_deref(), Ok("x-alpha-y"));
        assert_eq!(expand_with("${PW}", lookup).as_deref(), Ok("p#ss: word"));
        assert_eq!(
            expand_with("no vars $ here", lookup).as_deref(),
            Ok("no vars $ here")
        );
    }

    #[test]
    fn escaped_dollar_is_literal() {
        assert_eq!(expand_with("$${A}", lookup).as_deref(), Ok("${A}"));
    }

    #[test]
    fn missing_or_bad_variables_are_errors_naming_them() {
        let err = expand_with("${NOPE}", lookup).expect_err("unset");
        assert!(err.contains("NOPE"), "{err}");
        assert!(expand_with("${A", lookup).is_err());
        assert!(expand_with("${A-B}", lookup).is_err());
    }

    #[test]
    fn scalars_are_accepted_and_parsed_after_expansion() {
        #[derive(Deserialize)]
        struct C {
            port: Env<u16>,
            name: Env<String>,
        }
        let c: C = serde_yaml_ng::from_str("port: 8080\nname: plain").expect("parses");
        assert_eq!(c.port.0, 8080);
        assert_eq!(c.name.0, "plain");
        let err = serde_yaml_ng::from_str::<C>("port: ${ATB_SURELY_UNSET_VAR}\nname: x")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("ATB_SURELY_UNSET_VAR") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(
            "250ms".parse::<HumanDuration>().map(|d| d.0.as_millis()),
            Ok(250)
        );
        assert!("soon".parse::<HumanDuration>().is_err());
    }
}
