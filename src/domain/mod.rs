//! Domain types. Request bodies deserialise into loose `*Input` types; [`Validate::validate`]
//! turns them into the validated types storage accepts, collecting *every* problem with its
//! JSON pointer. One module per resource; text rules in `text`, bulk rules in `bulk`.

mod api_key;
mod artifact;
mod bulk;
mod change;
mod claim;
mod counts;
mod dependencies;
mod milestone;
mod project;
mod repository;
mod run;
mod run_event;
mod task;
mod task_update;
mod task_view;
mod text;
pub mod timestamp;

pub use api_key::*;
pub use artifact::*;
pub use bulk::*;
pub use change::*;
pub use claim::*;
pub use counts::*;
pub use dependencies::*;
pub use milestone::*;
pub use project::*;
pub use repository::*;
pub use run::*;
pub use run_event::*;
pub use task::*;
pub use task_update::*;
pub use task_view::*;
pub use text::*;

use crate::error::{ApiError, FieldError};

/// Collects field errors under a JSON pointer prefix (`""` for a body, `/tasks/3` for an item).
#[derive(Default)]
pub struct Validator {
    prefix: String,
    errors: Vec<FieldError>,
}

impl Validator {
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

    /// Checks that a required field is present.
    pub fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.fail(field, "is required");
        }
        value
    }

    /// A list of at most `max` items (else "at most {max} {noun}"), each parsed (a failure
    /// names `field/<index>`), duplicates dropped in order.
    pub fn check_distinct<T: PartialEq, U>(
        &mut self,
        field: &str,
        raw: Vec<U>,
        (max, noun): (usize, &str),
        parse: impl Fn(U) -> Result<T, String>,
    ) -> Option<Vec<T>> {
        if raw.len() > max {
            self.fail(field, format!("at most {max} {noun}"));
            return None;
        }
        let mut items: Vec<T> = Vec::with_capacity(raw.len());
        let mut valid = true;
        for (index, item) in raw.into_iter().enumerate() {
            match self.check(&format!("{field}/{index}"), parse(item)) {
                Some(item) if !items.contains(&item) => items.push(item),
                Some(_) => {}
                None => valid = false,
            }
        }
        valid.then_some(items)
    }

    pub fn fail(&mut self, field: &str, detail: impl Into<String>) {
        self.errors
            .push(FieldError::new(format!("{}/{field}", self.prefix), detail));
    }

    /// The validated value, or a 400 listing every problem recorded.
    fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ => Err(ApiError::Validation(self.errors)),
        }
    }
}

/// What a request body or query turns into once every rule has passed.
pub trait Validate: Sized {
    type Valid;
    /// Where this input's fields are in the request: `""` for a body, `/query` for a query.
    const POINTER: &'static str = "";

    /// Checks every field, recording each problem in `v`; `None` when any failed.
    fn validate_into(self, v: &mut Validator) -> Option<Self::Valid>;

    /// The validated value, or a 400 listing every invalid field with its JSON pointer.
    fn validate(self) -> Result<Self::Valid, ApiError> {
        let mut v = Validator {
            prefix: Self::POINTER.to_owned(),
            errors: Vec::new(),
        };
        let valid = self.validate_into(&mut v);
        v.finish(valid)
    }
}

/// Validates the items of a list found at `pointer` (`/tasks`), each under its own index
/// (`/tasks/3/title`): every item, or one 400 listing the problems of all of them.
pub fn validate_items<T: Validate>(
    pointer: &str,
    items: Vec<T>,
) -> Result<Vec<T::Valid>, ApiError> {
    let mut v = Validator::default();
    let mut valid = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        v.prefix = format!("{pointer}/{index}");
        valid.push(item.validate_into(&mut v));
    }
    let all: Option<Vec<_>> = valid.into_iter().collect();
    v.finish(all)
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
