//! Signing a zone (RFC 4033–4035): the records a zone gains when it is signed — DNSKEY, CDS and
//! CDNSKEY at the apex, an NSEC chain, and an RRSIG over every RRset — computed from the zone and
//! its key by pure functions.
//!
//! Authenticated denial uses NSEC, not NSEC3. A mailbeacon zone holds only names every client
//! already knows (autoconfig., autodiscover., `_imaps._tcp`, `_mta-sts`, …), so zone walking
//! reveals nothing; NSEC answers are smaller, need no hashing, and RFC 9276 §3 recommends NSEC
//! where walking is no concern. Zones have no wildcards and no delegations (validation refuses
//! both), so every name with records is authoritative and is in the chain.

use std::collections::BTreeMap;

use hickory_proto::dnssec::TBS;
use hickory_proto::dnssec::rdata::sig::SigInput;
use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC, RRSIG};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use mailbeacon_model::Zone;

use super::key::{KeyError, ZoneKey, hickory_algorithm};
use super::rollover::ZoneKeys;

/// How long signatures stay valid, and when they are made again.
///
/// Time is cut into periods of [`Validity::PERIOD`]; every signature made in one period has the
/// same inception (an hour before the period starts, for clocks that lag) and expires
/// [`Validity::LIFETIME`] after the period starts. A zone is signed again at each period's start,
/// so a served signature always has at least `LIFETIME - PERIOD` (a week) to live — several
/// times any TTL mailbeacon publishes — and a restart within a period produces signatures with
/// the same window (and the same SOA serial).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Signature inception (seconds since the epoch).
    pub inception: u32,
    /// Signature expiration.
    pub expiration: u32,
    /// When the next period starts: the zone must be signed again by then.
    pub next_period: u32,
}

impl Validity {
    /// Length of a signing period: one week.
    pub const PERIOD: u32 = 7 * 86_400;
    /// Lifetime of a signature from its period's start: two weeks.
    pub const LIFETIME: u32 = 14 * 86_400;
    /// Backdating of the inception, for validators whose clocks are behind.
    pub const SKEW: u32 = 3_600;

    /// The window of signatures made at `now`.
    pub fn at(now: u32) -> Validity {
        let start = now - now % Validity::PERIOD;
        Validity {
            inception: start.saturating_sub(Validity::SKEW),
            expiration: start.saturating_add(Validity::LIFETIME),
            next_period: start.saturating_add(Validity::PERIOD),
        }
    }

    /// A short tag of the period, mixed into the zone's content hash: new signatures are new
    /// content, so the SOA serial moves and secondaries transfer them.
    pub fn stamp(&self) -> String {
        format!("signed {}-{}", self.inception, self.expiration)
    }
}

/// Why a zone could not be signed: the zone, and what failed (the key, or an RRset that would
/// not encode).
#[derive(Debug, thiserror::Error)]
#[error("{zone}: {reason}")]
pub struct SignError {
    /// The zone.
    pub zone: String,
    /// What failed.
    pub reason: String,
}

impl SignError {
    fn new(zone: &Name, reason: impl std::fmt::Display) -> SignError {
        SignError {
            zone: zone.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// The records `zone` gains when signed with `keys` for `validity`: a DNSKEY per key, CDS and
/// CDNSKEY for the keys the parent should trust, one NSEC per owner name, and RRSIGs — by the
/// active key over every RRset, and by every key over the DNSKEY RRset (so that during a rollover
/// it validates through the old DS and the new one alike).
pub fn sign_zone(
    zone: &Zone,
    keys: &ZoneKeys,
    validity: Validity,
) -> Result<Vec<Record>, SignError> {
    let origin = &zone.origin;
    let key_error = |e: KeyError| SignError::new(origin, e);
    let soa = zone.soa();
    let ttl = soa.ttl;
    // RFC 9077: NSEC records carry the negative-caching TTL, min(SOA TTL, SOA MINIMUM).
    let negative_ttl = match &soa.data {
        RData::SOA(s) => ttl.min(s.minimum),
        _ => ttl,
    };
    let mut added = Vec::new();
    for k in keys.all() {
        added.push(Record::from_rdata(
            origin.clone(),
            ttl,
            RData::DNSSEC(DNSSECRData::DNSKEY(k.key.dnskey().clone())),
        ));
    }
    for k in keys.parent_facing() {
        added.push(Record::from_rdata(
            origin.clone(),
            ttl,
            RData::DNSSEC(DNSSECRData::CDS(k.cds(origin).map_err(key_error)?)),
        ));
        added.push(Record::from_rdata(
            origin.clone(),
            ttl,
            RData::DNSSEC(DNSSECRData::CDNSKEY(k.cdnskey())),
        ));
    }
    let key = keys.active();
    // Owner → type → RRset, in canonical order (hickory's `Name` orders as RFC 4034 §6.1 says).
    let mut nodes: BTreeMap<Name, BTreeMap<RecordType, Vec<&Record>>> = BTreeMap::new();
    for r in zone.records().chain(&added) {
        nodes
            .entry(r.name.to_lowercase())
            .or_default()
            .entry(r.record_type())
            .or_default()
            .push(r);
    }
    let owners: Vec<&Name> = nodes.keys().collect();
    let mut nsecs = Vec::with_capacity(owners.len());
    for (i, owner) in owners.iter().enumerate() {
        // The last name points back at the apex (RFC 4034 §4.1.1).
        let next = owners.get(i + 1).copied().unwrap_or(origin);
        let types = nodes[*owner].keys().copied();
        nsecs.push(Record::from_rdata(
            (*owner).clone(),
            negative_ttl,
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new_cover_self(next.clone(), types))),
        ));
    }
    let mut signatures = Vec::new();
    for (owner, sets) in &nodes {
        for (rtype, rrset) in sets {
            if *rtype == RecordType::DNSKEY {
                for k in keys.all() {
                    signatures.push(sign_rrset(zone, &k.key, validity, owner, *rtype, rrset)?);
                }
            } else {
                signatures.push(sign_rrset(zone, key, validity, owner, *rtype, rrset)?);
            }
        }
    }
    for nsec in &nsecs {
        signatures.push(sign_rrset(
            zone,
            key,
            validity,
            &nsec.name,
            RecordType::NSEC,
            &[nsec],
        )?);
    }
    added.extend(nsecs);
    added.extend(signatures);
    Ok(added)
}

/// One RRSIG over `rrset` (owner `owner`, type `rtype`).
fn sign_rrset(
    zone: &Zone,
    key: &ZoneKey,
    validity: Validity,
    owner: &Name,
    rtype: RecordType,
    rrset: &[&Record],
) -> Result<Record, SignError> {
    // An RRset has one TTL (RFC 2181 §5.2); should extra records disagree, the smallest is the
    // one validators are told to trust.
    let ttl = rrset.iter().map(|r| r.ttl).min().unwrap_or(0);
    let input = SigInput {
        type_covered: rtype,
        algorithm: hickory_algorithm(key.algorithm()),
        num_labels: owner.num_labels(),
        original_ttl: ttl,
        sig_expiration: SerialNumber::new(validity.expiration),
        sig_inception: SerialNumber::new(validity.inception),
        key_tag: key.tag(),
        signer_name: zone.origin.clone(),
    };
    let tbs = TBS::from_input(owner, DNSClass::IN, &input, rrset.iter().copied())
        .map_err(|e| SignError::new(&zone.origin, format!("cannot sign {owner} {rtype}: {e}")))?;
    let signature = key
        .sign(&tbs)
        .map_err(|e| SignError::new(&zone.origin, e))?;
    Ok(Record::from_rdata(
        owner.clone(),
        ttl,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, signature))),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::dnssec::PublicKey as _;
    use mailbeacon_model::{DnssecAlgorithm, ZoneSet, check_str};

    fn zone() -> Zone {
        let text = r#"
[server]
ipv4 = ["192.0.2.10"]
[service.mail]
incoming = [{ protocol = "imap", host = "mail.example.com", port = 993, security = "tls" }]
outgoing = [{ protocol = "smtp", host = "mail.example.com", port = 465, security = "tls" }]
[[domain]]
name = "example.com"
name_servers = ["ns1.example.com", "ns2.example.com"]
dnssec = true
[hosts]
"mail.example.com" = ["192.0.2.1"]
"ns1.example.com" = ["192.0.2.2"]
"ns2.example.com" = ["198.51.100.2"]
"#;
        let checked = check_str(text, std::path::Path::new("t.toml")).unwrap();
        let zones: ZoneSet = checked.zones;
        (*zones.zones()[0]).clone()
    }

    #[test]
    fn validity_windows_follow_periods() {
        let v = Validity::at(Validity::PERIOD * 3000 + 5);
        assert_eq!(v.inception, Validity::PERIOD * 3000 - Validity::SKEW);
        assert_eq!(v.expiration, Validity::PERIOD * 3000 + Validity::LIFETIME);
        assert_eq!(v, Validity::at(Validity::PERIOD * 3001 - 1));
        assert_ne!(v, Validity::at(Validity::PERIOD * 3001));
    }

    #[test]
    fn every_rrset_is_signed_and_every_signature_verifies() {
        let zone = zone();
        assert_eq!(zone.dnssec, Some(DnssecAlgorithm::EcdsaP256Sha256));
        for alg in [DnssecAlgorithm::EcdsaP256Sha256, DnssecAlgorithm::Ed25519] {
            let key = ZoneKey::generate(alg).unwrap();
            let public = key.dnskey().public_key().clone();
            let keys = ZoneKeys::single(key, 0);
            let added = sign_zone(&zone, &keys, Validity::at(1_800_000_000)).unwrap();
            let all: Vec<&Record> = zone.records().chain(&added).collect();
            let mut sets: BTreeMap<(Name, RecordType), Vec<&Record>> = BTreeMap::new();
            for r in all.iter().filter(|r| r.record_type() != RecordType::RRSIG) {
                sets.entry((r.name.clone(), r.record_type()))
                    .or_default()
                    .push(r);
            }
            for ((owner, rtype), rrset) in &sets {
                let sigs: Vec<&RRSIG> = all
                    .iter()
                    .filter(|r| &r.name == owner)
                    .filter_map(|r| match &r.data {
                        RData::DNSSEC(DNSSECRData::RRSIG(s))
                            if s.input().type_covered == *rtype =>
                        {
                            Some(s)
                        }
                        _ => None,
                    })
                    .collect();
                assert_eq!(sigs.len(), 1, "{owner} {rtype}");
                let tbs =
                    TBS::from_input(owner, DNSClass::IN, sigs[0].input(), rrset.iter().copied())
                        .unwrap();
                public
                    .verify(tbs.as_ref(), sigs[0].sig())
                    .unwrap_or_else(|e| panic!("{owner} {rtype}: {e}"));
            }
            // The NSEC chain visits every owner once and closes at the apex.
            let nsecs: Vec<(&Name, &NSEC)> = added
                .iter()
                .filter_map(|r| match &r.data {
                    RData::DNSSEC(DNSSECRData::NSEC(n)) => Some((&r.name, n)),
                    _ => None,
                })
                .collect();
            let owners: std::collections::BTreeSet<&Name> = sets.keys().map(|(n, _)| n).collect();
            assert_eq!(nsecs.len(), owners.len());
            assert_eq!(nsecs.last().unwrap().1.next_domain_name(), &zone.origin);
            let apex = nsecs.iter().find(|(n, _)| **n == zone.origin).unwrap().1;
            let apex_types: Vec<RecordType> = apex.type_bit_maps().collect();
            for t in [
                RecordType::SOA,
                RecordType::NS,
                RecordType::DNSKEY,
                RecordType::CDS,
                RecordType::CDNSKEY,
                RecordType::NSEC,
                RecordType::RRSIG,
            ] {
                assert!(apex_types.contains(&t), "{t} missing at the apex");
            }
        }
    }
}
