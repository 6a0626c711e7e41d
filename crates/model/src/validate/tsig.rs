//! `[tsig.NAME]`: TSIG keys (RFC 8945), and the `key NAME` part of `axfr` and `notify` entries.

use std::collections::BTreeMap;
use std::path::Path;

use hickory_proto::rr::Name;
use toml::Spanned;

use super::Diagnostics;
use crate::config::TsigSection;
use crate::model::{TsigAlgorithm, TsigKey};

/// Shortest secret accepted: RFC 8945 §6 asks for keys at least as long as the MAC (32 octets for
/// HMAC-SHA256); 16 is the floor below which a key is refused outright as guessable.
const MIN_SECRET: usize = 16;

/// Every configured key; each problem (bad name, unknown algorithm, secret that is not base64 or
/// cannot be read) is reported against its key.
pub(super) fn keys(
    sections: &BTreeMap<String, Spanned<TsigSection>>,
    base: &Path,
    diags: &mut Diagnostics,
) -> Vec<TsigKey> {
    let mut out = Vec::new();
    for (name, section) in sections {
        let key = format!("tsig.{name}");
        let span = section.span();
        let s = section.get_ref();
        let Ok(key_name) = Name::from_ascii(name).map(|n| {
            let mut n = n.to_lowercase();
            n.set_fqdn(true);
            n
        }) else {
            diags.push(Some(span), key, format!("`{name}` is not a valid key name (a domain name such as `xfr` or `transfer.example.net`)"));
            continue;
        };
        let algorithm = match s.algorithm.as_ref() {
            None => TsigAlgorithm::HmacSha256,
            Some(a) => match a.get_ref().to_ascii_lowercase().as_str() {
                "hmac-sha256" => TsigAlgorithm::HmacSha256,
                "hmac-sha512" => TsigAlgorithm::HmacSha512,
                other => {
                    diags.push(
                        Some(a.span()),
                        format!("{key}.algorithm"),
                        super::wording::unknown(
                            "algorithm",
                            other,
                            &["hmac-sha256", "hmac-sha512"],
                        ),
                    );
                    continue;
                }
            },
        };
        let (text, where_, value_span) = match (&s.secret, &s.secret_file) {
            (Some(secret), None) => (
                secret.get_ref().clone(),
                format!("{key}.secret"),
                secret.span(),
            ),
            (None, Some(file)) => {
                let path = base.join(file.get_ref());
                match std::fs::read_to_string(&path) {
                    Ok(t) => (t, format!("{key}.secret_file"), file.span()),
                    Err(e) => {
                        diags.push(
                            Some(file.span()),
                            format!("{key}.secret_file"),
                            format!("cannot read {}: {e}", path.display()),
                        );
                        continue;
                    }
                }
            }
            (Some(secret), Some(_)) => {
                diags.push(
                    Some(secret.span()),
                    key,
                    "set either `secret` or `secret_file`, not both",
                );
                continue;
            }
            (None, None) => {
                diags.push(Some(span), key, "needs `secret` (base64) or `secret_file`");
                continue;
            }
        };
        let cleaned: String = text.split_whitespace().collect();
        let secret = match data_encoding::BASE64.decode(cleaned.as_bytes()) {
            Ok(b) => b,
            Err(e) => {
                diags.push(
                    Some(value_span),
                    where_,
                    format!("the secret is not base64 ({e}); `tsig-keygen` or `openssl rand -base64 32` make one"),
                );
                continue;
            }
        };
        if secret.len() < MIN_SECRET {
            diags.push(
                Some(value_span),
                where_,
                format!(
                    "the secret is {} octets; use at least 32 (`openssl rand -base64 32`)",
                    secret.len()
                ),
            );
            continue;
        }
        out.push(TsigKey {
            name: key_name,
            algorithm,
            secret,
        });
    }
    out
}

/// Splits an `axfr`/`notify` entry into its address part and the key it names: `ADDR`,
/// `key NAME` or `ADDR key NAME`. `Err` with what is wrong.
pub(super) fn split_entry(raw: &str) -> Result<(Option<&str>, Option<&str>), String> {
    let words: Vec<&str> = raw.split_whitespace().collect();
    match words.as_slice() {
        [addr] => Ok((Some(addr), None)),
        ["key", name] => Ok((None, Some(name))),
        [addr, "key", name] => Ok((Some(addr), Some(name))),
        _ => Err(format!(
            "`{raw}` is not `ADDRESS`, `key NAME` or `ADDRESS key NAME`"
        )),
    }
}

/// The configured key called `name`, or a message naming the ones there are.
pub(super) fn find(keys: &[TsigKey], name: &str) -> Result<Name, String> {
    let wanted = Name::from_ascii(name).ok().map(|n| {
        let mut n = n.to_lowercase();
        n.set_fqdn(true);
        n
    });
    if let Some(k) = keys.iter().find(|k| Some(&k.name) == wanted.as_ref()) {
        return Ok(k.name.clone());
    }
    let known: Vec<String> = keys
        .iter()
        .map(|k| k.name.to_string().trim_end_matches('.').to_owned())
        .collect();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    if known.is_empty() {
        return Err(format!(
            "no TSIG key `{name}`: define it in a [tsig.{name}] section"
        ));
    }
    Err(super::wording::unknown("TSIG key", name, &known))
}
