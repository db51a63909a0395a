//! Repository URLs: the forms accepted (one pattern, published in the spec and checked here)
//! and the normalised form that makes every spelling of one remote one repository.

use std::sync::LazyLock;

// The URL forms accepted, as one pattern: published in the spec and checked by the server, so
// both agree on every string. Everything it matches parses as a URL (the `url` crate then
// normalises it): hosts are names whose last label starts with a letter, or IPv4 addresses;
// no password, query or fragment.
macro_rules! user {
    () => {
        "(?:[A-Za-z0-9._~-]+@)?"
    };
}
macro_rules! host {
    () => {
        concat!(
            "(?:(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\\.)*[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*",
            "|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}",
            "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))"
        )
    };
}
macro_rules! port {
    () => {
        "(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0))?"
    };
}
/// A path: a first character that is not `/`, then any path characters.
macro_rules! path {
    () => {
        concat!(
            "(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})",
            "(?:[A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*"
        )
    };
}

/// `http(s)://`, `ssh://`, `git://` or `git+ssh://` URLs with a path, or scp-style
/// `[user@]host:path` as git accepts it.
pub const REPOSITORY_URL_PATTERN: &str = concat!(
    "^(?:(?:https?|ssh|git|git\\+ssh)://",
    user!(),
    host!(),
    port!(),
    "/",
    path!(),
    "|",
    user!(),
    host!(),
    ":/?",
    path!(),
    ")$"
);

static URL_FORMS: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(REPOSITORY_URL_PATTERN).expect("the URL pattern compiles"));

/// A repository URL that passed the rules, with its normalised form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryUrl {
    pub given: String,
    pub normalized: String,
}

impl RepositoryUrl {
    pub const MAX_CHARS: usize = 2048;

    pub fn parse(given: String) -> Result<Self, String> {
        let invalid = || {
            "must be a git remote: an http(s)://, ssh://, git:// or git+ssh:// URL with a path, \
             or scp-style user@host:path (no password, query or fragment)"
                .to_owned()
        };
        if given.len() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if !URL_FORMS.is_match(&given) {
            return Err(invalid());
        }
        // scp-style is ssh: `git@host:org/repo` is `ssh://git@host/org/repo`. (The pattern
        // keeps an scp-style path from starting with `//`, so a scheme prefix tells them apart.)
        let schemes = ["https://", "http://", "ssh://", "git://", "git+ssh://"];
        let url = if schemes.iter().any(|scheme| given.starts_with(scheme)) {
            url::Url::parse(&given)
        } else {
            let (authority, path) = given.split_once(':').ok_or_else(invalid)?;
            let path = path.strip_prefix('/').unwrap_or(path);
            url::Url::parse(&format!("ssh://{authority}/{path}"))
        }
        .map_err(|_| invalid())?;
        let host = url.host_str().ok_or_else(invalid)?.to_ascii_lowercase();
        let default_port = match url.scheme() {
            "ssh" | "git+ssh" => Some(22),
            "git" => Some(9418),
            _ => None, // http(s): the url crate already drops the default port
        };
        let port = match url.port() {
            Some(port) if Some(port) != default_port => format!(":{port}"),
            _ => String::new(),
        };
        let path = url.path().trim_end_matches('/');
        let path = path
            .strip_suffix(".git")
            .unwrap_or(path)
            .trim_end_matches('/');
        Ok(Self {
            normalized: format!("{host}{port}{path}"),
            given,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(url: &str) -> String {
        RepositoryUrl::parse(url.into())
            .unwrap_or_else(|e| panic!("{url}: {e}"))
            .normalized
    }

    #[test]
    fn spellings_of_one_repository_normalise_alike() {
        for url in [
            "https://github.com/acme/uploader",
            "https://github.com/acme/uploader.git",
            "https://github.com/acme/uploader/",
            "https://github.com/acme/uploader.git/",
            "http://GitHub.COM/acme/uploader",
            "https://github.com:443/acme/uploader",
            "https://bot@github.com/acme/uploader",
            "git@github.com:acme/uploader.git",
            "git@GitHub.com:/acme/uploader",
            "github.com:acme/uploader",
            "ssh://git@github.com/acme/uploader.git",
            "ssh://git@github.com:22/acme/uploader.git",
            "git+ssh://git@github.com/acme/uploader",
            "git://github.com/acme/uploader.git",
            "https://github.com/acme/./x/../uploader",
            "ssh://git@github.com/acme/uploader/.git",
        ] {
            assert_eq!(normalized(url), "github.com/acme/uploader", "{url}");
        }
    }

    #[test]
    fn paths_keep_their_case_and_ports_other_than_the_default_count() {
        assert_eq!(normalized("https://h.io/Acme/Repo"), "h.io/Acme/Repo");
        assert_eq!(normalized("ssh://git@h.io:2222/a/b"), "h.io:2222/a/b");
        assert_eq!(normalized("https://h.io:8443/a/b"), "h.io:8443/a/b");
        assert_eq!(normalized("git@10.0.0.5:a/b.git"), "10.0.0.5/a/b");
        assert_eq!(normalized("https://10.0.0.5/a/b"), "10.0.0.5/a/b");
    }

    #[test]
    fn what_is_not_a_git_remote_is_refused() {
        for bad in [
            "",
            "github.com/acme/uploader",
            "https://github.com",
            "https://github.com/",
            "ftp://github.com/acme/uploader",
            "file:///srv/git/uploader.git",
            "/srv/git/uploader.git",
            "https://user:secret@github.com/acme/uploader",
            "https://github.com/acme/uploader?ref=main",
            "https://github.com/acme/uploader#main",
            "https://github.com/acme upload",
            " https://github.com/acme/uploader",
            "https://999.1.1.1/a",
            "https://github.123/a",
            "https://github.com:99999/a",
            "git@github.com:",
            "HTTPS://github.com/acme/uploader",
        ] {
            assert!(
                RepositoryUrl::parse(bad.into()).is_err(),
                "{bad:?} accepted"
            );
        }
        let long = format!("https://h.io/{}", "a".repeat(2048));
        assert!(RepositoryUrl::parse(long).is_err());
    }

    /// The published pattern and the parser agree: every string the pattern accepts parses.
    #[test]
    fn every_url_the_pattern_accepts_parses() {
        // Each position picks one of its `|`-separated pieces (some empty, some invalid).
        let pieces = [
            "https://|http://|ssh://|git://|git+ssh://|ftp://||HTTP://",
            "|git@|a.b~c-d@|u:p@|@",
            "github.com|GitHub.COM|h|a-b.c1|10.0.0.5|256.1.1.1|x.1|a--b.io|-a.io|",
            "|:22|:2222|:0|:65535|:65536|:|:443",
            "/|:|:/|//|",
            "org/repo.git|repo/|.git|..|a/../..|%2e%2E/x|a:b@c|~u/r|%zz|a b|a?b|a#b|/x|://x|x//y",
        ]
        .map(|choices| choices.split('|').collect::<Vec<_>>());
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut accepted = 0;
        for _ in 0..50_000 {
            let mut url = String::new();
            for choices in &pieces {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                url.push_str(choices[(seed % choices.len() as u64) as usize]);
            }
            let matches = URL_FORMS.is_match(&url);
            let parsed = RepositoryUrl::parse(url.clone());
            assert_eq!(matches, parsed.is_ok(), "{url}: {parsed:?}");
            accepted += usize::from(matches);
        }
        assert!(
            accepted > 2_000,
            "the generator should reach valid URLs: {accepted}"
        );
    }
}
