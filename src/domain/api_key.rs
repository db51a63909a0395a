//! What an API key may do.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An API key's scope: `read` keys may read (GET, event streams, stream tokens); `write` keys
/// may do everything. Spelled once, here, by the derives (serde, sqlx, strum for `FromStr`).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
    sqlx::Type,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether a key of this scope may do what `needed` allows.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn write_keys_may_do_what_read_keys_may_and_not_the_other_way_round() {
        assert!(Scope::Write.allows(Scope::Read));
        assert!(Scope::Write.allows(Scope::Write));
        assert!(Scope::Read.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Write));
        assert_eq!("read".parse(), Ok(Scope::Read));
        assert!("admin".parse::<Scope>().is_err());
    }
}
