//! Keyset pagination: `limit` and an opaque `cursor` that encodes the sort keys of the last row
//! served. A task cursor carries the task's keys for every order, so it means "after this task"
//! whatever `sort` it is used with; anything that is not a cursor we issued is a 400. An empty
//! cursor (`cursor=`) is no cursor: the first page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// The position after which the next page starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case", deny_unknown_fields)]
pub enum Cursor {
    /// Lists ordered by id (projects, milestones).
    Id { id: i64 },
    /// A task's position: priority, created_at, updated_at and id.
    Task {
        p: i32,
        c: DateTime<Utc>,
        u: DateTime<Utc>,
        id: i64,
    },
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursor serialises"))
    }

    pub fn decode(raw: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::field("/query/cursor", "not a cursor this API issued");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }
}

/// Validated `limit` and `cursor`.
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<Cursor>,
}

impl PageRequest {
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::field(
                "/query/limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = cursor
            .filter(|cursor| !cursor.is_empty())
            .map(Cursor::decode)
            .transpose()?;
        Ok(Self { limit, after })
    }

    /// Splits one row too many (fetched to learn whether another page exists) off `rows`
    /// and returns the cursor for the next page.
    pub fn finish<T>(&self, rows: &mut Vec<T>, cursor_of: impl Fn(&T) -> Cursor) -> Option<String> {
        if rows.len() as i64 <= self.limit {
            return None;
        }
        rows.truncate(self.limit as usize);
        rows.last().map(|row| cursor_of(row).encode())
    }
}

pub fn wrong_cursor() -> ApiError {
    ApiError::field(
        "/query/cursor",
        "the cursor was made for another sort order",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_tampered_ones_are_refused() {
        let cursor = Cursor::Task {
            p: 5,
            c: Utc::now(),
            u: Utc::now(),
            id: 9,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        let encoded = cursor.encode();
        for bad in ["", "!!!", "eyJrIjoiaWQifQ", &encoded[..encoded.len() - 3]] {
            assert!(Cursor::decode(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn an_empty_cursor_is_the_first_page() {
        assert_eq!(PageRequest::parse(None, Some("")).unwrap().after, None);
    }

    #[test]
    fn limits_outside_1_to_1000_are_refused() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 100);
        for bad in [0, -1, 1001] {
            assert!(PageRequest::parse(Some(bad), None).is_err());
        }
    }
}
