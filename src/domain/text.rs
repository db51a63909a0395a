//! Validated text newtypes: a value of these types has passed its rules, so storage and handlers
//! never re-check. Each `parse` returns the reason a client can act on.

use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};

/// Characters no one-line text accepts: the C0 and C1 controls (Rust's `char::is_control`).
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";
/// Controls refused in multi-line text: all but tab, line feed and carriage return.
const MULTILINE_CONTROL: &str = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F";
/// Blank characters besides controls: exactly ECMAScript's `\s`, so that the patterns published
/// in the OpenAPI document and [`is_blank`] agree on every string.
const BLANK: &str = r" \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF";

fn is_blank(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}'
                    | '\u{2028}'
                    | '\u{2029}'
                    | '\u{202f}'
                    | '\u{205f}'
                    | '\u{3000}'
                    | '\u{feff}'
        )
}

/// OpenAPI schema of one-line, non-blank text of 1 to `max` characters.
fn one_line_schema(max: usize, nullable: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(string_type(nullable))
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(format!(
            "^[^{CONTROL}]*[^{CONTROL}{BLANK}][^{CONTROL}]*$"
        )))
        .build()
}

fn string_type(nullable: bool) -> SchemaType {
    if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    }
}

pub fn title_schema() -> Object {
    one_line_schema(TaskTitle::MAX_CHARS, false)
}

/// In a PATCH, null is the same as leaving the field out.
pub fn title_patch_schema() -> Object {
    one_line_schema(TaskTitle::MAX_CHARS, true)
}

pub fn name_schema() -> Object {
    one_line_schema(Name::MAX_CHARS, false)
}

pub fn worker_id_schema() -> Object {
    one_line_schema(WorkerId::MAX_CHARS, false)
}

pub fn name_patch_schema() -> Object {
    one_line_schema(Name::MAX_CHARS, true)
}

pub fn label_schema() -> Object {
    one_line_schema(Label::MAX_CHARS, false)
}

/// Labels: up to 50, each one-line text; null is the same as absent.
pub fn labels_schema() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(label_schema())
        .max_items(Some(Label::MAX_PER_TASK))
        .build()
}

/// A description, or null for none.
pub fn description_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(string_type(true))
        .max_length(Some(Description::MAX_CHARS))
        .pattern(Some(format!("^[^{MULTILINE_CONTROL}]*$")))
        .build()
}

/// Common rules for free text: PostgreSQL `text` cannot hold NUL, and other control characters
/// (except tab and line breaks in long text) are refused as almost always a client bug.
fn check_text(value: &str, min: usize, max: usize, multiline: bool) -> Result<(), String> {
    let chars = value.chars().count();
    if chars < min || chars > max {
        return Err(if min == max {
            format!("must be {min} characters")
        } else if min == 0 {
            format!("must be at most {max} characters")
        } else {
            format!("must be {min} to {max} characters")
        });
    }
    let allowed_control = |c: char| multiline && matches!(c, '\t' | '\n' | '\r');
    if value.chars().any(|c| c.is_control() && !allowed_control(c)) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

fn check_not_blank(value: &str) -> Result<(), String> {
    if value.chars().all(is_blank) {
        Err("must not be empty or only whitespace".into())
    } else {
        Ok(())
    }
}

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

text_newtype!(
    /// A task title: 1 to 500 characters, not blank, one line.
    TaskTitle
);
impl TaskTitle {
    pub const MAX_CHARS: usize = 500;
    pub fn parse(value: String) -> Result<Self, String> {
        check_text(&value, 1, Self::MAX_CHARS, false)?;
        check_not_blank(&value)?;
        Ok(Self(value))
    }
}

text_newtype!(
    /// Free-form description: at most 20 000 characters; tabs and line breaks allowed.
    Description
);
impl Description {
    pub const MAX_CHARS: usize = 20_000;
    pub fn parse(value: String) -> Result<Self, String> {
        check_text(&value, 0, Self::MAX_CHARS, true)?;
        Ok(Self(value))
    }
}

text_newtype!(
    /// A client's idempotency key for a task, unique per project, such as
    /// `wf-123:create_tasks:0`: 1 to 255 printable ASCII characters, no spaces.
    ExternalId
);
impl ExternalId {
    pub const MAX_CHARS: usize = 255;
    pub fn parse(value: String) -> Result<Self, String> {
        if value.is_empty() || value.len() > Self::MAX_CHARS {
            return Err(format!("must be 1 to {} characters", Self::MAX_CHARS));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be printable ASCII without spaces".into());
        }
        Ok(Self(value))
    }
}

text_newtype!(
    /// A display name of a project or milestone: 1 to 200 characters, not blank, one line.
    Name
);
impl Name {
    pub const MAX_CHARS: usize = 200;
    pub fn parse(value: String) -> Result<Self, String> {
        check_text(&value, 1, Self::MAX_CHARS, false)?;
        check_not_blank(&value)?;
        Ok(Self(value))
    }
}

text_newtype!(
    /// Who holds a claim: an agent's own name for itself, 1 to 255 characters, not blank, one
    /// line.
    WorkerId
);
impl WorkerId {
    pub const MAX_CHARS: usize = 255;
    pub fn parse(value: String) -> Result<Self, String> {
        check_text(&value, 1, Self::MAX_CHARS, false)?;
        check_not_blank(&value)?;
        Ok(Self(value))
    }
}

text_newtype!(
    /// A URL-friendly identifier: 1 to 100 of `a-z`, `0-9` and `-`.
    Slug
);
impl Slug {
    pub const MAX_CHARS: usize = 100;
    pub fn parse(value: String) -> Result<Self, String> {
        if value.is_empty() || value.len() > Self::MAX_CHARS {
            return Err(format!("must be 1 to {} characters", Self::MAX_CHARS));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("must match ^[a-z0-9-]+$".into());
        }
        Ok(Self(value))
    }
}

text_newtype!(
    /// A task label: 1 to 100 characters, not blank, one line.
    Label
);
impl Label {
    pub const MAX_CHARS: usize = 100;
    /// Most labels one task may carry.
    pub const MAX_PER_TASK: usize = 50;
    pub fn parse(value: String) -> Result<Self, String> {
        check_text(&value, 1, Self::MAX_CHARS, false)?;
        check_not_blank(&value)?;
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_must_be_non_blank_single_line_and_at_most_500_chars() {
        assert!(TaskTitle::parse("Fix the build".into()).is_ok());
        assert!(TaskTitle::parse("é".repeat(500)).is_ok());
        for bad in [
            "",
            "   ",
            "\u{3000}\u{feff}",
            "a\nb",
            "nul\0byte",
            "c1\u{85}",
        ] {
            assert!(TaskTitle::parse(bad.into()).is_err(), "{bad:?} accepted");
        }
        assert!(TaskTitle::parse("x".repeat(501)).is_err());
    }

    #[test]
    fn external_ids_are_printable_ascii_up_to_255_bytes() {
        assert!(ExternalId::parse("wf-123:create_tasks:0".into()).is_ok());
        assert!(ExternalId::parse("x".repeat(255)).is_ok());
        for bad in ["", "has space", "tab\t", "ünï", "nul\0"] {
            assert!(ExternalId::parse(bad.into()).is_err(), "{bad:?} accepted");
        }
        assert!(ExternalId::parse("x".repeat(256)).is_err());
    }

    #[test]
    fn slugs_are_lowercase_digits_and_dashes() {
        assert!(Slug::parse("my-project-2".into()).is_ok());
        for bad in ["", "My-Project", "a_b", "a b", "ä"] {
            assert!(Slug::parse(bad.into()).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn descriptions_allow_line_breaks_but_not_other_control_characters() {
        assert!(Description::parse("line 1\nline 2\ttabbed".into()).is_ok());
        assert!(Description::parse(String::new()).is_ok());
        assert!(Description::parse("bell\u{7}".into()).is_err());
    }
}
