//! Request parameters, from a JSON object or a form-encoded body (GitLab's API
//! takes both), read with strict types: a wrong type is a 400, not a guess.

use serde_json::{Map, Value};

use crate::error::{CoreError, Result};

/// A parameter as sent: absent, explicitly null (clear it), or a value.
pub type Field<T> = Option<Option<T>>;

#[derive(Debug, Default)]
pub struct Params {
    map: Map<String, Value>,
}

fn invalid(name: &str) -> CoreError {
    CoreError::BadRequest(format!("{name} is invalid"))
}

impl Params {
    /// Parses a request body. JSON when the content type says so or the body
    /// looks like an object; form-encoded otherwise.
    pub fn from_body(content_type: Option<&str>, body: &[u8]) -> Result<Self> {
        let content_type = content_type.unwrap_or("").to_ascii_lowercase();
        let trimmed = body.iter().position(|b| !b.is_ascii_whitespace());
        let Some(start) = trimmed else {
            return Ok(Params::default());
        };
        if content_type.starts_with("application/x-www-form-urlencoded") {
            return Ok(Self::from_form(body));
        }
        if content_type.contains("json") || body[start] == b'{' || body[start] == b'[' {
            let value: Value = serde_json::from_slice(body).map_err(|e| {
                CoreError::BadRequest(format!("Request body is not valid JSON: {e}"))
            })?;
            return match value {
                Value::Object(map) => Ok(Params { map }),
                _ => Err(CoreError::BadRequest(
                    "Request body must be a JSON object".into(),
                )),
            };
        }
        Ok(Self::from_form(body))
    }

    /// Form or query-string parameters; `key[]=a&key[]=b` makes a list.
    pub fn from_form(encoded: &[u8]) -> Self {
        let mut map = Map::new();
        for (key, value) in url::form_urlencoded::parse(encoded) {
            if let Some(list_key) = key.strip_suffix("[]") {
                let entry = map
                    .entry(list_key.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = entry {
                    items.push(Value::String(value.into_owned()));
                }
            } else {
                map.insert(key.into_owned(), Value::String(value.into_owned()));
            }
        }
        Params { map }
    }

    /// Refuses parameters the endpoint does not know, so that a typo such as
    /// `target_projet_id` is reported instead of silently ignored.
    pub fn reject_unknown(&self, allowed: &[&str]) -> Result<()> {
        let mut unknown: Vec<&str> = self
            .map
            .keys()
            .map(String::as_str)
            .filter(|k| !allowed.contains(k))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort_unstable();
        Err(CoreError::BadRequest(format!(
            "Unknown parameter(s): {}",
            unknown.join(", ")
        )))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// A string parameter. NUL and other control characters are refused
    /// (except tab and newlines, which descriptions may carry).
    pub fn string(&self, name: &str) -> Result<Field<String>> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(no_controls(name, s)?.to_owned()))),
            Some(_) => Err(invalid(name)),
        }
    }

    /// A string parameter where blank means absent (GitLab treats "" as nil).
    pub fn non_blank_string(&self, name: &str) -> Result<Field<String>> {
        Ok(self
            .string(name)?
            .map(|v| v.filter(|s| !s.trim().is_empty())))
    }

    /// An integer parameter: a JSON integer, or a string of digits (what a
    /// form or query string sends).
    pub fn integer(&self, name: &str) -> Result<Field<i64>> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(|v| Some(Some(v)))
                .ok_or_else(|| invalid(name)),
            Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
            Some(Value::String(s)) => {
                let digits = s.strip_prefix('-').unwrap_or(s);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(name));
                }
                s.parse().map(|v| Some(Some(v))).map_err(|_| invalid(name))
            }
            Some(_) => Err(invalid(name)),
        }
    }

    /// A boolean: JSON `true`/`false`, or the strings `true`/`false` (what a
    /// form or query string sends).
    pub fn boolean(&self, name: &str) -> Result<Field<bool>> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::Bool(b)) => Ok(Some(Some(*b))),
            Some(Value::String(s)) if s == "true" => Ok(Some(Some(true))),
            Some(Value::String(s)) if s == "false" => Ok(Some(Some(false))),
            Some(_) => Err(invalid(name)),
        }
    }

    /// A list of strings: a JSON array of strings, or repeated `name[]` form
    /// fields, or one comma-separated string.
    pub fn string_list(&self, name: &str) -> Result<Field<Vec<String>>> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v.as_str() {
                    Some(s) => no_controls(name, s).map(str::to_owned),
                    None => Err(invalid(name)),
                })
                .collect::<Result<Vec<_>>>()
                .map(|v| Some(Some(v))),
            Some(Value::String(s)) => Ok(Some(Some(
                no_controls(name, s)?
                    .split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect(),
            ))),
            Some(_) => Err(invalid(name)),
        }
    }
}

/// NUL and other control characters are refused (except tab and
/// newlines, which descriptions may carry).
fn no_controls<'s>(name: &str, s: &'s str) -> Result<&'s str> {
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(CoreError::BadRequest(format!(
            "{name} contains control characters"
        )));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_form_bodies_read_alike() {
        let json = Params::from_body(
            Some("application/json"),
            br#"{"name":"a","n":5,"s":["x","y"]}"#,
        )
        .unwrap();
        let form = Params::from_body(
            Some("application/x-www-form-urlencoded"),
            b"name=a&n=5&s[]=x&s[]=y",
        )
        .unwrap();
        for p in [json, form] {
            assert_eq!(p.string("name").unwrap(), Some(Some("a".into())));
            assert_eq!(p.integer("n").unwrap(), Some(Some(5)));
            assert_eq!(
                p.string_list("s").unwrap(),
                Some(Some(vec!["x".into(), "y".into()]))
            );
            assert_eq!(p.string("absent").unwrap(), None);
        }
    }

    #[test]
    fn wrong_types_are_bad_requests() {
        let p = Params::from_body(
            None,
            br#"{"name":5,"n":"5x","f":1.5,"o":{},"nul":"a\u0000b"}"#,
        )
        .unwrap();
        assert!(matches!(p.string("name"), Err(CoreError::BadRequest(_))));
        assert!(matches!(p.integer("n"), Err(CoreError::BadRequest(_))));
        assert!(matches!(p.integer("f"), Err(CoreError::BadRequest(_))));
        assert!(matches!(p.integer("o"), Err(CoreError::BadRequest(_))));
        assert!(matches!(p.string("nul"), Err(CoreError::BadRequest(_))));
        assert!(matches!(
            Params::from_body(None, b"[1]"),
            Err(CoreError::BadRequest(_))
        ));
        assert!(matches!(
            Params::from_body(Some("application/json"), b"{"),
            Err(CoreError::BadRequest(_))
        ));
        assert!(
            matches!(p.reject_unknown(&["name"]), Err(CoreError::BadRequest(m)) if m.contains("nul"))
        );
    }

    #[test]
    fn null_and_blank_mean_clear() {
        let p = Params::from_body(None, br#"{"a":null,"b":"  ","c":""}"#).unwrap();
        assert_eq!(p.string("a").unwrap(), Some(None));
        assert_eq!(p.non_blank_string("b").unwrap(), Some(None));
        assert_eq!(p.integer("c").unwrap(), Some(None));
    }
}
