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
// A page and the row that tells whether another follows fit what a page's statement returns.
const _: () = assert!(MAX_LIMIT < crate::storage::MAX_PAGE_ROWS);

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

/// An item of a page that [`PageWriter`] writes.
pub trait PageItem {
    /// Appends the item's JSON.
    fn write_json(&self, json: &mut Vec<u8>) -> std::io::Result<()>;
    /// The cursor of the page that starts after this item.
    fn cursor(&self) -> Cursor;
}

/// A page's JSON, `{"data":[…],"next_cursor":…}` (what a page struct of `data` and
/// `next_cursor` serialises to), written item by item as the rows arrive, so that the answer is
/// nearly written when the last row comes in. Takes up to `limit` items; one more tells that
/// another page follows.
pub struct PageWriter {
    json: Vec<u8>,
    limit: usize,
    written: usize,
    more: bool,
    next: Option<Cursor>,
    error: Option<std::io::Error>,
}

impl PageWriter {
    /// `item_size`: a guess of one item's JSON, to allocate the page once.
    pub fn new(limit: i64, item_size: usize) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let mut json = Vec::with_capacity(32 + limit.min(MAX_LIMIT as usize) * item_size);
        json.extend_from_slice(br#"{"data":["#);
        Self {
            json,
            limit,
            written: 0,
            more: false,
            next: None,
            error: None,
        }
    }

    pub fn push(&mut self, item: &impl PageItem) {
        if self.written == self.limit {
            self.more = true;
            return;
        }
        if self.written > 0 {
            self.json.push(b',');
        }
        if let Err(error) = item.write_json(&mut self.json) {
            self.error.get_or_insert(error);
        }
        self.written += 1;
        if self.written == self.limit {
            self.next = Some(item.cursor());
        }
    }

    /// The page's JSON.
    pub fn finish(mut self) -> std::io::Result<Vec<u8>> {
        if let Some(error) = self.error {
            return Err(error);
        }
        self.json.extend_from_slice(br#"],"next_cursor":"#);
        let next = self
            .next
            .filter(|_| self.more)
            .map(|cursor| cursor.encode());
        serde_json::to_writer(&mut self.json, &next)?;
        self.json.push(b'}');
        Ok(self.json)
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

    #[derive(Serialize)]
    struct Page {
        data: Vec<Item>,
        next_cursor: Option<String>,
    }

    #[derive(Clone, Serialize)]
    struct Item {
        id: i64,
        name: String,
    }

    impl PageItem for Item {
        fn write_json(&self, json: &mut Vec<u8>) -> std::io::Result<()> {
            Ok(serde_json::to_writer(json, self)?)
        }
        fn cursor(&self) -> Cursor {
            Cursor::Id { id: self.id }
        }
    }

    fn written(limit: i64, items: &[Item]) -> Vec<u8> {
        let mut page = PageWriter::new(limit, 16);
        for item in items {
            page.push(item);
        }
        page.finish().unwrap()
    }

    #[test]
    fn a_written_page_is_byte_for_byte_the_serialised_page() {
        let items: Vec<Item> = (1..=3)
            .map(|id| Item {
                id,
                name: format!("n\"{id}\u{e9}"),
            })
            .collect();
        let cursor = Cursor::Id { id: 2 }.encode();
        for (limit, data, next_cursor) in [
            (5, items.clone(), None),
            (3, items.clone(), None),
            (2, items[..2].to_vec(), Some(cursor)),
            (1, Vec::new(), None),
        ] {
            let given = if limit == 1 { &[][..] } else { &items[..] };
            let expected = serde_json::to_vec(&Page { data, next_cursor }).unwrap();
            assert_eq!(
                String::from_utf8(written(limit, given)).unwrap(),
                String::from_utf8(expected).unwrap(),
                "limit {limit}"
            );
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
