//! `If-Match` and `If-None-Match` as RFC 9110 §13.1 defines them: `*` or a list of entity tags.
//!
//! A well-formed tag that names no current version is simply a tag that does not match (412 for
//! `If-Match`, a 200 for `If-None-Match`); only a header that is not `*` or a list of entity tags
//! is a 400. `If-Match` compares strongly (a weak tag never matches), `If-None-Match` weakly.

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderName};
use actix_web::{FromRequest, HttpRequest};

use crate::error::ApiError;

/// An entity tag (RFC 9110 §8.8.3): `"xyz"` or, weak, `W/"xyz"`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct EntityTag {
    weak: bool,
    /// Between the quotes.
    opaque: Vec<u8>,
}

impl EntityTag {
    /// One tag, alone: `[W/] DQUOTE *etagc DQUOTE` (etagc: `!`, `#`..`~`, and obs-text). A bare
    /// run of digits is read as a strong quoted tag: clients that drop the quotes are common
    /// enough to meet halfway (`3` is `"3"`).
    fn parse(raw: &[u8]) -> Option<Self> {
        if !raw.is_empty() && raw.len() <= 9 && raw.iter().all(u8::is_ascii_digit) {
            return Some(Self {
                weak: false,
                opaque: raw.to_vec(),
            });
        }
        let (weak, quoted) = match raw.strip_prefix(b"W/") {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let opaque = quoted.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        let etagc = |b: &u8| *b == 0x21 || (0x23..=0x7e).contains(b) || *b >= 0x80;
        opaque.iter().all(etagc).then(|| Self {
            weak,
            opaque: opaque.to_vec(),
        })
    }

    /// Weak comparison: the same opaque tag, whatever their weakness.
    fn weak_eq(&self, other: &Self) -> bool {
        self.opaque == other.opaque
    }
}

/// What a precondition header holds.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Condition {
    /// `*`: any current representation.
    Any,
    /// One or more entity tags.
    Tags(Vec<EntityTag>),
}

impl Condition {
    /// Every field line of `name`, combined as one list (RFC 9110 §5.3); `None` when absent.
    /// Empty list elements are skipped, as §5.6.1 asks of recipients.
    fn from_request(req: &HttpRequest, name: HeaderName) -> Result<Option<Self>, ()> {
        let lines: Vec<&[u8]> = req
            .headers()
            .get_all(name)
            .map(|value| value.as_bytes())
            .collect();
        if lines.is_empty() {
            return Ok(None);
        }
        Self::parse(&lines).map(Some)
    }

    fn parse(lines: &[&[u8]]) -> Result<Self, ()> {
        let mut elements = Vec::new();
        for line in lines {
            elements.extend(split_list(line)?);
        }
        match elements.as_slice() {
            [] => Err(()),
            [star] if *star == b"*" => Ok(Self::Any),
            _ => elements
                .into_iter()
                .map(|element| EntityTag::parse(element).ok_or(()))
                .collect::<Result<_, _>>()
                .map(Self::Tags),
        }
    }
}

/// The non-empty elements of a comma-separated list, trimmed of whitespace. A comma inside a
/// quoted tag (`"a,b"` is one tag) does not separate; an unterminated quote is an error.
fn split_list(line: &[u8]) -> Result<Vec<&[u8]>, ()> {
    let mut elements = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (at, byte) in line.iter().enumerate() {
        match byte {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                elements.push(&line[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(());
    }
    elements.push(&line[start..]);
    Ok(elements
        .into_iter()
        .map(|element| element.trim_ascii())
        .filter(|element| !element.is_empty())
        .collect())
}

fn invalid(name: &str) -> ApiError {
    ApiError::field(
        format!("/header/{name}"),
        "must be `*` or a comma-separated list of entity tags, such as \"3\" or W/\"3\"",
    )
}

/// What the documented `If-Match` and `If-None-Match` values look like (the server also takes
/// tags with obs-text and tabs around commas, as RFC 9110 allows).
const TAG_LIST_PATTERN: &str =
    r#"^(\*|((W/)?"[!#-~]*"|[0-9]{1,9})( *, *((W/)?"[!#-~]*"|[0-9]{1,9}))*)$"#;

fn tag_list_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(TAG_LIST_PATTERN))
        .build()
}

/// The `If-Match` header of a conditional write.
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatch {
    /// The `ETag` of a previous read (`"3"`; `3` is read the same), a list of them (the write
    /// happens if any is current), or `*`. Otherwise the answer is 412: a weak tag never matches
    /// (strong comparison, RFC 9110 §13.1.1).
    #[param(rename = "If-Match", schema_with = tag_list_schema, required = false)]
    condition: Option<Condition>,
}

impl IfMatch {
    /// The versions a write of a versioned resource (`ETag: "<version>"`) is conditional on:
    /// `None` when any will do (no header, or `*`), else those the strong tags name, which may
    /// be none at all (then the write is refused with 412, or 404 if there is nothing to write).
    pub fn versions(&self) -> Option<Vec<i32>> {
        let Some(Condition::Tags(tags)) = &self.condition else {
            return None;
        };
        let versions = tags
            .iter()
            .filter(|tag| !tag.weak)
            .filter_map(|tag| {
                let text = std::str::from_utf8(&tag.opaque).ok()?;
                let version: i32 = text.parse().ok()?;
                // Strong comparison is character for character: `"03"` is not version 3.
                (version.to_string() == text).then_some(version)
            })
            .collect();
        Some(versions)
    }
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let condition = Condition::from_request(req, header::IF_MATCH);
        std::future::ready(
            condition
                .map(|condition| Self { condition })
                .map_err(|()| invalid("If-Match")),
        )
    }
}

/// The `If-None-Match` header of a conditional read: the entity tags a client already holds,
/// or `*`.
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfNoneMatch {
    /// `ETag`s of earlier answers (or `*`): when one still matches, the answer is 304 with no
    /// body. Compared weakly, as RFC 9110 says for `If-None-Match`.
    #[param(rename = "If-None-Match", schema_with = tag_list_schema, required = false)]
    condition: Option<Condition>,
}

impl IfNoneMatch {
    /// Whether the request holds any tag at all.
    pub fn is_present(&self) -> bool {
        self.condition.is_some()
    }

    /// Whether the header is `*` (matches any current representation, none of a missing one).
    pub fn is_any(&self) -> bool {
        self.condition == Some(Condition::Any)
    }

    /// Whether `etag` matches one of the tags (weak comparison: `W/"x"` matches `"x"`).
    pub fn matches(&self, etag: &str) -> bool {
        let Some(current) = EntityTag::parse(etag.as_bytes()) else {
            return false;
        };
        match &self.condition {
            None => false,
            Some(Condition::Any) => true,
            Some(Condition::Tags(tags)) => tags.iter().any(|tag| tag.weak_eq(&current)),
        }
    }
}

impl FromRequest for IfNoneMatch {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let condition = Condition::from_request(req, header::IF_NONE_MATCH);
        std::future::ready(
            condition
                .map(|condition| Self { condition })
                .map_err(|()| invalid("If-None-Match")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Condition, ()> {
        Condition::parse(&[value.as_bytes()])
    }

    fn if_match(value: &str) -> IfMatch {
        IfMatch {
            condition: Some(parse(value).unwrap()),
        }
    }

    fn if_none_match(value: &str) -> IfNoneMatch {
        IfNoneMatch {
            condition: Some(parse(value).unwrap()),
        }
    }

    #[test]
    fn lists_of_tags_star_and_empty_elements_parse_and_anything_else_is_refused() {
        assert_eq!(parse("*"), Ok(Condition::Any));
        for good in [
            r#""3""#,
            r#"W/"3""#,
            r#""""#,
            r#""definitely-stale""#,
            r#""a,b""#,
            r#""3", "4""#,
            r#""3",W/"4" ,  , "5""#,
            "3",
            "\"caf\u{e9}\"",
        ] {
            assert!(matches!(parse(good), Ok(Condition::Tags(_))), "{good:?}");
        }
        for bad in [
            "",
            " ",
            ",",
            "W/3",
            "null",
            "\"3",
            "3\"",
            "w/\"3\"",
            "*, \"3\"",
            "\"a\"b\"",
            "\"a b\"",
            "1234567890",
            "\"3\" \"4\"",
        ] {
            assert_eq!(parse(bad), Err(()), "{bad:?}");
        }
        assert_eq!(
            Condition::parse(&[b"\"1\"", b"W/\"2\""]),
            parse(r#""1", W/"2""#)
        );
    }

    #[test]
    fn if_match_names_the_versions_of_its_strong_tags_character_for_character() {
        assert_eq!(if_match("*").versions(), None);
        assert_eq!(IfMatch::default().versions(), None);
        assert_eq!(if_match(r#""3", "4""#).versions(), Some(vec![3, 4]));
        assert_eq!(if_match("3").versions(), Some(vec![3]));
        assert_eq!(if_match(r#"W/"3""#).versions(), Some(vec![]));
        assert_eq!(if_match(r#""03", "+3", "x""#).versions(), Some(vec![]));
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_star() {
        assert!(if_none_match(r#""3""#).matches(r#""3""#));
        assert!(if_none_match(r#"W/"3""#).matches(r#""3""#));
        assert!(if_none_match(r#""3""#).matches(r#"W/"3""#));
        assert!(if_none_match(r#""1", W/"3""#).matches(r#""3""#));
        assert!(if_none_match("*").matches(r#""9""#));
        assert!(!if_none_match(r#""4""#).matches(r#""3""#));
        assert!(!if_none_match(r#""33""#).matches(r#""3""#));
        assert!(!IfNoneMatch::default().matches(r#""3""#));
    }
}
