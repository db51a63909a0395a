//! The values of a list's rows, read from PostgreSQL's binary format directly: sqlx's
//! per-value decoding (a type descriptor cloned, the value's format and width looked up, a
//! `DateTime` built by adding a `Duration` to an epoch) was a fifth of a list's CPU. The
//! statement's column types are checked once per page beforehand (see `PageReader`), so each
//! value is known to be in the type read here; a value of the wrong width is still an error,
//! never a panic.

use chrono::{DateTime, Utc};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgRow, PgValueRef};
use sqlx::{Decode, Row, ValueRef};

use crate::domain::TaskStatus;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A value from its binary form.
pub trait FromBinary<'r>: Sized {
    fn from_binary(value: PgValueRef<'r>) -> Result<Self, BoxDynError>;
}

/// Column `index` of `row` as a `T`.
pub fn binary<'r, T: FromBinary<'r>>(row: &'r PgRow, index: usize) -> sqlx::Result<T> {
    T::from_binary(row.try_get_raw(index)?).map_err(|source| sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source,
    })
}

fn fixed<const N: usize>(value: PgValueRef<'_>) -> Result<[u8; N], BoxDynError> {
    let bytes = value.as_bytes()?;
    bytes
        .try_into()
        .map_err(|_| format!("{} bytes where {N} were expected", bytes.len()).into())
}

impl FromBinary<'_> for i64 {
    fn from_binary(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(i64::from_be_bytes(fixed(value)?))
    }
}

impl FromBinary<'_> for i32 {
    fn from_binary(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(i32::from_be_bytes(fixed(value)?))
    }
}

impl<'r> FromBinary<'r> for &'r str {
    fn from_binary(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(std::str::from_utf8(value.as_bytes()?)?)
    }
}

/// `timestamptz`: microseconds since 2000-01-01 UTC.
impl FromBinary<'_> for DateTime<Utc> {
    fn from_binary(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        let micros = i64::from_be_bytes(fixed(value)?);
        micros
            .checked_add(POSTGRES_EPOCH_MICROS)
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(|| format!("timestamp out of range: {micros}").into())
    }
}

impl<'r, T: FromBinary<'r>> FromBinary<'r> for Option<T> {
    fn from_binary(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.is_null() {
            return Ok(None);
        }
        T::from_binary(value).map(Some)
    }
}

/// Arrays and statuses are few per row: sqlx decodes them.
macro_rules! by_sqlx {
    ($($type:ty),*) => {$(
        impl<'r> FromBinary<'r> for $type {
            fn from_binary(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                <$type as Decode<'r, sqlx::Postgres>>::decode(value)
            }
        }
    )*};
}
by_sqlx!(TaskStatus, Vec<String>, Vec<i64>);
