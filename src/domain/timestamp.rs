//! Timestamps in answers, written as chrono writes them (RFC 3339, UTC, `Z`, 0/3/6/9 fraction
//! digits) without going through `fmt`: a page of 100 tasks holds 300 of them, and chrono's
//! formatter was a tenth of a list's CPU.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serializer;

/// `serialize_with` for a `DateTime<Utc>`.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buffer = [0u8; 32];
    match write(at, &mut buffer) {
        Some(text) => serializer.serialize_str(text),
        None => serde::Serialize::serialize(at, serializer),
    }
}

/// `serialize_with` for an `Option<DateTime<Utc>>`.
pub fn serialize_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// Appends `at` as a JSON string, exactly as [`serialize`] writes it.
pub fn write_json(at: &DateTime<Utc>, json: &mut Vec<u8>) -> std::io::Result<()> {
    let mut buffer = [0u8; 32];
    match write(at, &mut buffer) {
        // RFC 3339 needs no escaping.
        Some(text) => {
            json.push(b'"');
            json.extend_from_slice(text.as_bytes());
            json.push(b'"');
            Ok(())
        }
        None => serde_json::to_writer(json, at).map_err(std::io::Error::from),
    }
}

/// Writes `at` into `buffer`; `None` for years outside 0..=9999 (left to chrono).
fn write<'b>(at: &DateTime<Utc>, buffer: &'b mut [u8; 32]) -> Option<&'b str> {
    // The naive UTC time, read once (a `DateTime`'s own getters add its offset each time).
    let at = at.naive_utc();
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    let mut put = |start: usize, value: u32, digits: usize| {
        let mut value = value;
        for i in (0..digits).rev() {
            buffer[start + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, year, 4);
    put(5, at.month(), 2);
    put(8, at.day(), 2);
    put(11, at.hour(), 2);
    put(14, at.minute(), 2);
    // A leap second is carried in the nanoseconds (>= 1e9); chrono writes it as second 60.
    let (second, nanos) = match at.nanosecond() {
        n if n >= 1_000_000_000 => (at.second() + 1, n - 1_000_000_000),
        n => (at.second(), n),
    };
    put(17, second, 2);
    let end = match nanos {
        0 => 19,
        n if n % 1_000_000 == 0 => {
            put(20, n / 1_000_000, 3);
            23
        }
        n if n % 1_000 == 0 => {
            put(20, n / 1_000, 6);
            26
        }
        n => {
            put(20, n, 9);
            29
        }
    };
    for (index, byte) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        buffer[index] = byte;
    }
    buffer[end] = b'Z';
    std::str::from_utf8(&buffer[..=end]).ok()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn timestamps_are_written_exactly_as_chrono_writes_them() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut samples = vec![
            Utc.timestamp_opt(0, 0).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 120_000_000).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 123_456_000).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 1).unwrap(),
            Utc.timestamp_opt(253_402_300_799, 999_999_999).unwrap(),
        ];
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let seconds = (seed % 253_402_300_799) as i64;
            let nanos = match seed % 4 {
                0 => 0,
                1 => (seed >> 20) as u32 % 1000 * 1_000_000,
                2 => (seed >> 20) as u32 % 1_000_000 * 1000,
                _ => (seed >> 20) as u32 % 1_000_000_000,
            };
            samples.push(Utc.timestamp_opt(seconds, nanos).unwrap());
        }
        for at in samples {
            let ours = serde_json::to_string(&Wrapper(at)).unwrap();
            let chrono = serde_json::to_string(&at).unwrap();
            assert_eq!(ours, chrono);
        }
    }

    struct Wrapper(DateTime<Utc>);

    impl serde::Serialize for Wrapper {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serialize(&self.0, serializer)
        }
    }
}
