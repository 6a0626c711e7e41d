//! `tlsa = [...]`: DANE TLSA records (RFC 6698, RFC 7672 for SMTP) computed from the mail servers'
//! certificate files, so that they follow the certificate when it is renewed and mailbeacon is
//! reloaded.
//!
//! Only `3 1 1` is published (DANE-EE, the certificate's public key, SHA-256): RFC 7671 §5.1 names
//! it the usage for servers that hold their own key, and it survives renewals that keep the key
//! (certbot's `--reuse-key`). A renewal with a new key needs the new record published a few TTLs
//! before the switch: list the next certificate too.

use std::path::Path;

use hickory_proto::rr::rdata::TLSA;
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_proto::rr::{Name, RData, Record};
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::Diagnostics;
use crate::config::TlsaSection;

/// The TLSA records of `entries` for the zone `domain`; every problem is reported against the
/// entry (a file that cannot be read or holds no certificate, a host outside the zone, a port out
/// of range, DANE without DNSSEC).
pub(super) fn tlsa(
    entries: Option<(&Vec<Spanned<TlsaSection>>, String)>,
    domain: &Name,
    signed: bool,
    ttl: u32,
    base: &Path,
    diags: &mut Diagnostics,
) -> Vec<Record> {
    let Some((entries, key)) = entries else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let key = format!("{key}[{i}]");
        if !signed {
            diags.push(
                Some(entry.span()),
                key,
                "TLSA records need dnssec = true: senders ignore DANE in unsigned zones (RFC 7672 §2.2)",
            );
            return Vec::new();
        }
        let e = entry.get_ref();
        let host_text = crate::placeholder::expand(e.host.get_ref(), domain);
        let host = match Name::from_ascii(host_text.trim_end_matches('.')).map(|mut n| {
            n.set_fqdn(true);
            n.to_lowercase()
        }) {
            Ok(h) if domain.zone_of(&h) => h,
            Ok(_) => {
                diags.push(
                    Some(e.host.span()),
                    format!("{key}.host"),
                    format!(
                        "{host_text} is not inside {domain}: its TLSA records belong in that host's own zone"
                    ),
                );
                continue;
            }
            Err(_) => {
                diags.push(
                    Some(e.host.span()),
                    format!("{key}.host"),
                    format!("`{host_text}` is not a host name"),
                );
                continue;
            }
        };
        let path = base.join(e.cert.get_ref());
        let digest = match spki_sha256(&path) {
            Ok(d) => d,
            Err(why) => {
                diags.push(Some(e.cert.span()), format!("{key}.cert"), why);
                continue;
            }
        };
        let ports: Vec<u16> = match &e.ports {
            None => vec![25],
            Some(list) => list
                .iter()
                .enumerate()
                .filter_map(|(j, p)| {
                    super::int_in::<u16>(p, 1, 65535, &format!("{key}.ports[{j}]"), "port", diags)
                })
                .collect(),
        };
        for port in ports {
            let Ok(owner) =
                Name::from_ascii(format!("_{port}._tcp")).and_then(|n| n.append_domain(&host))
            else {
                continue;
            };
            out.push(Record::from_rdata(
                owner,
                ttl,
                RData::TLSA(TLSA::new(
                    CertUsage::DaneEe,
                    Selector::Spki,
                    Matching::Sha256,
                    digest.clone(),
                )),
            ));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// SHA-256 of the SubjectPublicKeyInfo of the first certificate in the PEM file at `path`.
fn spki_sha256(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&bytes).map_err(|_| {
        format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )
    })?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("{}: not an X.509 certificate: {e}", path.display()))?;
    Ok(Sha256::digest(cert.public_key().raw).to_vec())
}
