//! Domain types. Request bodies deserialise into loose `*Input` types; `validate` turns them into
//! the validated types storage accepts, collecting *every* problem with its JSON pointer.

mod project;
mod task;
mod text;

pub use project::*;
pub use task::*;
pub use text::*;

use crate::error::FieldError;

/// Collects field errors under a JSON pointer prefix (`""` for a body, `/tasks/3` for an item).
pub struct Validator<'a> {
    prefix: String,
    errors: &'a mut Vec<FieldError>,
}

impl<'a> Validator<'a> {
    pub fn new(prefix: impl Into<String>, errors: &'a mut Vec<FieldError>) -> Self {
        Self {
            prefix: prefix.into(),
            errors,
        }
    }

    /// Records the error of `result`, if any, against `field`.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|detail| self.fail(field, detail)).ok()
    }

    /// Like [`Validator::check`], for a field that may be absent.
    pub fn check_optional<T, U>(
        &mut self,
        field: &str,
        value: Option<T>,
        parse: impl FnOnce(T) -> Result<U, String>,
    ) -> Option<Option<U>> {
        match value {
            None => Some(None),
            Some(value) => self.check(field, parse(value)).map(Some),
        }
    }

    pub fn fail(&mut self, field: &str, detail: impl Into<String>) {
        self.errors
            .push(FieldError::new(format!("{}/{field}", self.prefix), detail));
    }
}

/// An integer in a JSON body. JSON Schema counts `3.0` as the integer 3, and so do we; `3.5`,
/// strings and values beyond i64 are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonInteger(pub i64);

impl<'de> serde::Deserialize<'de> for JsonInteger {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        if let Some(value) = number.as_i64() {
            return Ok(Self(value));
        }
        match number.as_f64() {
            // 2^63 as f64: anything at or beyond it does not fit i64.
            Some(value) if value.fract() == 0.0 && value.abs() < 9_223_372_036_854_775_808.0 => {
                Ok(Self(value as i64))
            }
            _ => Err(serde::de::Error::custom(format!(
                "expected an integer between -2^63 and 2^63, got {number}"
            ))),
        }
    }
}

/// Checks that an id taken from a request body can name a row (ids are positive).
pub fn parse_id(value: i64) -> Result<i64, String> {
    if value > 0 {
        Ok(value)
    } else {
        Err("must be a positive id".into())
    }
}
