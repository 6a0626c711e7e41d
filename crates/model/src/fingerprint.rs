//! A zone's content hash (what its serial follows) and the size of its records on the wire.
//!
//! Both come from one pass over the records' uncompressed wire form. The names, which are most of
//! the bytes, are written here: hickory's encoder keeps a copy of every label suffix it writes for
//! later compression, even with compression off, and that bookkeeping was a third of deriving a
//! zone. Every other part of a record is written by hickory. The bytes are exactly hickory's
//! uncompressed encoding (a test compares them), so content hashes, and serials, do not move.

use hickory_proto::rr::{Name, RData, Record, RecordData};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use sha2::{Digest, Sha256};

/// SHA-256 over the sorted wire form of every record (the SOA serial being 0 at this point), and
/// the size of that form. (Wire form rather than presentation text: formatting every record of
/// 100,000 zones as text was a tenth of start-up time. Uncompressed, and into one buffer: the size
/// is then each record's size in any message, and there is one allocation per zone rather than
/// one per record.) A record that does not encode is hashed as its zone-file line and counted as
/// 65,536 octets, so that the size check looks at such a zone closely.
pub(crate) fn fingerprint<'r>(
    origin: &Name,
    records: impl Iterator<Item = &'r Record>,
) -> (String, usize) {
    let mut wire = Vec::with_capacity(2048);
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(32);
    let mut unencodable: Vec<Vec<u8>> = Vec::new();
    let mut scratch = Vec::new();
    for r in records {
        let start = wire.len();
        if write_record(r, &mut wire, &mut scratch).is_none() {
            wire.truncate(start);
            unencodable.push(crate::zonefile::record_line(r, origin).into_bytes());
            continue;
        }
        spans.push((start, wire.len()));
    }
    let octets = wire.len() + unencodable.len() * 65_536;
    let mut encoded: Vec<&[u8]> = spans.iter().map(|&(a, b)| &wire[a..b]).collect();
    encoded.extend(unencodable.iter().map(Vec::as_slice));
    encoded.sort_unstable();
    let mut h = Sha256::new();
    for e in &encoded {
        h.update((e.len() as u32).to_be_bytes());
        h.update(e);
    }
    let hash = h
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    (hash, octets)
}

/// Appends `r`'s uncompressed wire form; `None` when it does not encode.
fn write_record(r: &Record, wire: &mut Vec<u8>, scratch: &mut Vec<u8>) -> Option<()> {
    write_name(&r.name, wire)?;
    wire.extend_from_slice(&u16::from(r.record_type()).to_be_bytes());
    wire.extend_from_slice(&u16::from(r.dns_class).to_be_bytes());
    wire.extend_from_slice(&r.ttl.to_be_bytes());
    let length_at = wire.len();
    wire.extend_from_slice(&[0, 0]);
    match &r.data {
        RData::MX(mx) => {
            wire.extend_from_slice(&mx.preference.to_be_bytes());
            write_name(&mx.exchange, wire)?;
        }
        RData::SRV(srv) => {
            for n in [srv.priority, srv.weight, srv.port] {
                wire.extend_from_slice(&n.to_be_bytes());
            }
            write_name(&srv.target, wire)?;
        }
        RData::NS(ns) => write_name(&ns.0, wire)?,
        RData::CNAME(cname) => write_name(&cname.0, wire)?,
        RData::SOA(soa) => {
            write_name(&soa.mname, wire)?;
            write_name(&soa.rname, wire)?;
            wire.extend_from_slice(&soa.serial.to_be_bytes());
            for n in [soa.refresh, soa.retry, soa.expire] {
                wire.extend_from_slice(&n.to_be_bytes());
            }
            wire.extend_from_slice(&soa.minimum.to_be_bytes());
        }
        data if data.is_update() => {}
        data => {
            // Everything without names: hickory's encoding, written apart and appended.
            scratch.clear();
            let mut enc = BinEncoder::new(scratch);
            enc.set_name_encoding(NameEncoding::Uncompressed);
            data.emit(&mut enc).ok()?;
            wire.extend_from_slice(scratch);
        }
    }
    let length = u16::try_from(wire.len() - length_at - 2).ok()?;
    wire[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
    Some(())
}

/// Appends `name` uncompressed, labels as stored (letter case kept, as hickory's encoder does).
fn write_name(name: &Name, wire: &mut Vec<u8>) -> Option<()> {
    let start = wire.len();
    for label in name.iter() {
        let length = u8::try_from(label.len()).ok().filter(|&l| l <= 63)?;
        wire.push(length);
        wire.extend_from_slice(label);
    }
    wire.push(0);
    (wire.len() - start <= 255).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes hashed are hickory's own uncompressed encoding, record by record.
    #[test]
    fn records_are_written_as_hickory_writes_them() {
        let text = r#"
[server]
ipv4 = ["192.0.2.1"]
ipv6 = ["2001:db8::1"]
[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }, { protocol = "pop3", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]
[[domain]]
name = "Example.TEST"
mx = ["10 mx1.example.test", "20 backup.example.net"]
spf = "v=spf1 mx -all"
dmarc = "v=DMARC1; p=none"
caa = ["0 issue \"letsencrypt.org\""]
records = """
www CNAME example.test.
host A 192.0.2.9
host AAAA 2001:db8::9
_xmpp._tcp SRV 5 0 5222 host.example.test.
long TXT "a" "b c"
ptr PTR host.example.test.
"#;
        let text = format!("{text}\"\"\"\n");
        let model = match crate::load_str(&text, std::path::Path::new("t.toml")) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        };
        let zones = crate::ZoneSet::derive(&model);
        let mut checked = 0;
        for zone in zones.zones() {
            for r in zone.records() {
                let mut ours = Vec::new();
                let mut scratch = Vec::new();
                assert!(write_record(r, &mut ours, &mut scratch).is_some(), "{r}");
                let mut theirs = Vec::new();
                let mut enc = BinEncoder::new(&mut theirs);
                enc.set_name_encoding(NameEncoding::Uncompressed);
                assert!(r.emit(&mut enc).is_ok(), "{r}");
                assert_eq!(ours, theirs, "{r}");
                checked += 1;
            }
        }
        assert!(checked > 20, "{checked} records");
    }
}
