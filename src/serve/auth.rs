//! API keys, access tokens and the clock in, verdicts out: who may exchange a key, which token is let through.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long an access token issued for an API key stays valid, unless
/// `--token-ttl-secs` says otherwise.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// What the emulator accepts, and the tokens it has issued.
///
/// Key exchange, in order:
/// 1. An empty key is refused.
/// 2. With `--api-key` given, only those keys are accepted.
/// 3. With only `--token` given, every key is refused: the operator fixed the
///    tokens, and an exchange would let anyone around them.
/// 4. With neither, any key is accepted.
///
/// A token is let through when, in order:
/// 1. it is not empty, and
/// 2. no `--api-key` and no `--token` were given (anything goes), or
/// 3. it is one of the `--token`s, or
/// 4. it was issued by an exchange and has not expired.
#[derive(Debug)]
pub struct Credentials {
    keys: Vec<String>,
    tokens: Vec<String>,
    lifetime: Duration,
    /// When each issued token expires; `None` is never, for a lifetime
    /// past what the clock can count.
    issued: HashMap<String, Option<Instant>>,
}

/// Why a key exchange was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the API key is empty")]
    EmptyKey,
    #[error("unknown API key")]
    UnknownKey,
    #[error("this emulator accepts only the access tokens it was started with; API keys are not exchanged")]
    TokensOnly,
}

impl Credentials {
    pub fn new(keys: Vec<String>, tokens: Vec<String>, lifetime: Duration) -> Credentials {
        Credentials {
            keys,
            tokens,
            lifetime,
            issued: HashMap::new(),
        }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn is_open(&self) -> bool {
        self.keys.is_empty() && self.tokens.is_empty()
    }

    /// Exchanges `key` for `token` (made by the caller, so this stays free of
    /// randomness) and remembers the token until it expires.
    pub fn exchange(&mut self, key: &str, token: String, now: Instant) -> Result<(), Refusal> {
        if key.is_empty() {
            return Err(Refusal::EmptyKey);
        }
        if self.keys.is_empty() && !self.tokens.is_empty() {
            return Err(Refusal::TokensOnly);
        }
        if !self.keys.is_empty() && !self.keys.iter().any(|k| k == key) {
            return Err(Refusal::UnknownKey);
        }
        // Forget expired tokens here, so the table stays as small as the
        // number of exchanges within one lifetime.
        self.issued
            .retain(|_, expires| expires.is_none_or(|at| at > now));
        self.issued.insert(token, now.checked_add(self.lifetime));
        Ok(())
    }

    pub fn admits(&self, token: &str, now: Instant) -> bool {
        if token.is_empty() {
            return false;
        }
        self.is_open()
            || self.tokens.iter().any(|t| t == token)
            || self
                .issued
                .get(token)
                .is_some_and(|expires| expires.is_none_or(|at| at > now))
    }
}

/// The token carried by an `Authorization` header: `Bearer TOKEN` (the
/// default `auth_scheme`) or a bare `TOKEN` (`auth_scheme = ""`). Any other
/// scheme gives `None`.
pub fn token_of(header: &str) -> Option<&str> {
    let header = header.trim();
    match header.split_once(char::is_whitespace) {
        // A scheme with no token is a client that lost its token, not a
        // token spelled "Bearer".
        None if header.eq_ignore_ascii_case("bearer") => Some(""),
        None => Some(header),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = rest.trim();
            (!token.contains(char::is_whitespace)).then_some(token)
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(keys: &[&str], tokens: &[&str]) -> Credentials {
        Credentials::new(
            keys.iter().map(|s| s.to_string()).collect(),
            tokens.iter().map(|s| s.to_string()).collect(),
            TOKEN_LIFETIME,
        )
    }

    /// (--api-key values, --token values, what is tried, the verdict)
    type Case<'a, T> = (&'a [&'a str], &'a [&'a str], &'a str, T);

    #[test]
    fn key_exchange() {
        let cases: [Case<Result<(), Refusal>>; 7] = [
            (&[], &[], "anything", Ok(())),
            (&[], &[], "", Err(Refusal::EmptyKey)),
            (&["k1", "k2"], &[], "k2", Ok(())),
            (&["k1"], &[], "k3", Err(Refusal::UnknownKey)),
            (&["k1"], &[], "", Err(Refusal::EmptyKey)),
            (&[], &["t"], "k1", Err(Refusal::TokensOnly)),
            (&["k1"], &["t"], "k1", Ok(())),
        ];
        let now = Instant::now();
        for (keys, tokens, key, want) in cases {
            let got = creds(keys, tokens).exchange(key, "issued".into(), now);
            assert_eq!(got, want, "keys {keys:?} tokens {tokens:?} key {key:?}");
        }
    }

    #[test]
    fn tokens_let_through() {
        let cases: [Case<bool>; 7] = [
            (&[], &[], "whatever", true),
            (&[], &[], "", false),
            (&[], &["good"], "good", true),
            (&[], &["good"], "bad", false),
            (&[], &["good"], "", false),
            (&["k"], &[], "whatever", false),
            (&["k"], &["good"], "good", true),
        ];
        let now = Instant::now();
        for (keys, tokens, token, want) in cases {
            assert_eq!(
                creds(keys, tokens).admits(token, now),
                want,
                "keys {keys:?} tokens {tokens:?} token {token:?}"
            );
        }
    }

    #[test]
    fn issued_tokens_expire() {
        let start = Instant::now();
        let mut c = creds(&["k"], &[]);
        c.exchange("k", "t1".into(), start).unwrap();
        assert!(c.admits("t1", start));
        assert!(c.admits("t1", start + TOKEN_LIFETIME - Duration::from_secs(1)));
        assert!(!c.admits("t1", start + TOKEN_LIFETIME));
        assert!(!c.admits("t2", start));

        // An exchange after expiry forgets the old token.
        c.exchange("k", "t2".into(), start + TOKEN_LIFETIME)
            .unwrap();
        assert_eq!(c.issued.len(), 1);
    }

    #[test]
    fn authorization_headers() {
        let cases = [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER   abc  ", Some("abc")),
            ("abc", Some("abc")),
            ("  abc ", Some("abc")),
            ("Bearer", Some("")),
            ("Bearer ", Some("")),
            ("Basic abc", None),
            ("Bearer a b", None),
            ("", Some("")),
        ];
        for (header, want) in cases {
            assert_eq!(token_of(header), want, "{header:?}");
        }
    }
}
