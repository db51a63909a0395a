//! Branch names: what git accepts in a ref name, one character at a time.

use serde::Serialize;

/// A git branch name: 1 to 255 characters, without whitespace, control characters or the
/// characters git refuses in ref names (`~ ^ : ? * [ \`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct BranchName(String);

impl BranchName {
    pub const MAX_CHARS: usize = 255;
    /// The same rule as [`BranchName::parse`], for the spec.
    pub(super) const PATTERN: &str = r"^[^\u0000-\u0020\u007F-\u009F~^:?*\[\\]+$";

    pub fn parse(value: String) -> Result<Self, String> {
        let chars = value.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(format!("must be 1 to {} characters", Self::MAX_CHARS));
        }
        let refused = |c: char| c <= ' ' || c.is_control() || "~^:?*[\\".contains(c);
        if value.chars().any(refused) {
            return Err("must not contain spaces, control characters or ~ ^ : ? * [ \\".into());
        }
        Ok(Self(value))
    }

    pub fn main() -> Self {
        Self("main".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_refuse_what_git_refuses_in_one_character() {
        for good in ["main", "release/1.2", "feature/ümlaut", "a-b_c.d"] {
            assert!(BranchName::parse(good.into()).is_ok(), "{good}");
        }
        for bad in [
            "", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "tab\t", "\u{85}",
        ] {
            assert!(BranchName::parse(bad.into()).is_err(), "{bad:?} accepted");
        }
        assert!(BranchName::parse("x".repeat(256)).is_err());
    }
}
