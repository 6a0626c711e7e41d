//! MTA-STS (RFC 8461): the policy text and the `id` published in `_mta-sts` TXT.

use sha2::{Digest, Sha256};

/// Largest `max_age` RFC 8461 allows (one year).
pub const MAX_AGE_LIMIT: u32 = 31_557_600;

/// Policy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtaStsMode {
    /// Senders must use TLS with a valid certificate for a listed MX.
    Enforce,
    /// Senders deliver anyway and report failures.
    Testing,
    /// The policy is withdrawn.
    None,
}

impl MtaStsMode {
    /// Parses `enforce`, `testing` or `none`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enforce" => Some(MtaStsMode::Enforce),
            "testing" => Some(MtaStsMode::Testing),
            "none" => Some(MtaStsMode::None),
            _ => None,
        }
    }

    /// The policy-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MtaStsMode::Enforce => "enforce",
            MtaStsMode::Testing => "testing",
            MtaStsMode::None => "none",
        }
    }
}

/// A domain's MTA-STS policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtaStsPolicy {
    /// Mode.
    pub mode: MtaStsMode,
    /// Cache lifetime in seconds.
    pub max_age: u32,
    /// MX patterns (`mx.example.net`, `*.example.net`), without trailing dots.
    pub mx: Vec<String>,
}

impl MtaStsPolicy {
    /// The policy file served at `https://mta-sts.<domain>/.well-known/mta-sts.txt`: `version` first,
    /// CRLF line endings as RFC 8461 §3.2 specifies.
    pub fn text(&self) -> String {
        let mut s = format!("version: STSv1\r\nmode: {}\r\n", self.mode.as_str());
        for mx in &self.mx {
            s.push_str("mx: ");
            s.push_str(mx);
            s.push_str("\r\n");
        }
        s.push_str(&format!("max_age: {}\r\n", self.max_age));
        s
    }

    /// The policy id: 32 hex digits of SHA-256 over [`Self::text`], so it changes exactly when the
    /// served policy does (RFC 8461 allows 1–32 alphanumerics).
    pub fn id(&self) -> String {
        let digest = Sha256::digest(self.text().as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// The `_mta-sts` TXT record value.
    pub fn txt_record(&self) -> String {
        format!("v=STSv1; id={}", self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: MtaStsMode) -> MtaStsPolicy {
        MtaStsPolicy {
            mode,
            max_age: 604_800,
            mx: vec!["mx1.example.net".into(), "*.example.org".into()],
        }
    }

    #[test]
    fn text_is_rfc8461_shaped() {
        assert_eq!(
            policy(MtaStsMode::Enforce).text(),
            "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.net\r\nmx: *.example.org\r\nmax_age: 604800\r\n"
        );
    }

    #[test]
    fn id_changes_exactly_when_the_policy_does() {
        let a = policy(MtaStsMode::Enforce);
        assert_eq!(a.id(), policy(MtaStsMode::Enforce).id());
        assert_ne!(a.id(), policy(MtaStsMode::Testing).id());
        let mut longer = a.clone();
        longer.max_age += 1;
        assert_ne!(a.id(), longer.id());
        assert_eq!(a.id().len(), 32);
        assert!(a.id().chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(a.txt_record().starts_with("v=STSv1; id="));
    }
}
