//! Outgoing DNS NOTIFY (RFC 1996): when a zone's serial changes, its secondaries are told at once,
//! so they transfer the new zone instead of waiting for the SOA refresh timer (hours by default).
//!
//! Which zones to announce and the messages themselves are pure ([`notices`], [`message`],
//! [`acknowledgement`]); [`send`] is the thin UDP shell around them.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType, TSigner};
use mailbeacon_model::{NotifyTarget, ZoneSerials, ZoneSet};

use crate::tsig::TsigKeys;

/// Attempts per secondary; the wait doubles after each (1 s, 2 s, 4 s, 8 s, 16 s: about half a
/// minute in all, like BIND's and Knot's few retries, far shorter than any refresh timer).
const ATTEMPTS: u32 = 5;
/// Wait for the first acknowledgement.
const FIRST_WAIT: Duration = Duration::from_secs(1);

/// One zone to announce, and to whom.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The zone's apex.
    pub zone: Name,
    /// The secondaries to tell (each with the TSIG key to sign with, if any).
    pub targets: Vec<NotifyTarget>,
    soa: Record,
}

impl Notice {
    /// The serial announced: the one in the SOA record the NOTIFY carries.
    pub fn serial(&self) -> u32 {
        match &self.soa.data {
            RData::SOA(soa) => soa.serial,
            _ => 0,
        }
    }
}

/// The zones of `new` that have NOTIFY targets and whose serial differs from the zone of the same
/// origin in `old` (every such zone when there is no `old`: at start a secondary may have missed
/// changes made while we were down, and a NOTIFY for an unchanged serial costs it one SOA query).
pub fn notices(old: Option<&ZoneSerials>, new: &ZoneSet) -> Vec<Notice> {
    new.zones()
        .iter()
        .filter(|z| !z.notify.is_empty())
        .filter(|z| {
            old.and_then(|o| o.get(&z.origin))
                .is_none_or(|before| before != z.serial())
        })
        .map(|z| Notice {
            zone: z.origin.clone(),
            targets: z.notify.clone(),
            soa: z.soa().clone(),
        })
        .collect()
}

/// The NOTIFY message with `id`: opcode NOTIFY, AA set, the zone's SOA as the question and, as
/// RFC 1996 §3.7 allows, the current SOA in the answer section (a hint of the new serial).
/// With `signer`, the message carries a TSIG record made at `now` (RFC 8945; secondaries that
/// only accept signed NOTIFY from us check it).
pub fn message(notice: &Notice, id: u16, signer: Option<&TSigner>, now: u64) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.add_query(Query::query(notice.zone.clone(), RecordType::SOA));
    m.add_answer(notice.soa.clone());
    if let Some(signer) = signer
        && let Ok((tsig, _)) = signer.sign_message(&m, now)
    {
        m.signature = Some(tsig);
    }
    // An SOA record of our own zone always encodes; an empty message would only be refused.
    m.to_vec().unwrap_or_default()
}

/// Why a reply does not acknowledge our NOTIFY.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAcknowledged {
    /// Not a DNS message, not a response, or not for this NOTIFY (id, opcode or zone differ).
    #[error("an unrelated or malformed reply")]
    Unrelated,
    /// The secondary answered with an error code (NOTAUTH or REFUSED: it does not accept our
    /// NOTIFY for this zone, usually an ACL on its side).
    #[error("the secondary answered {0}")]
    Refused(ResponseCode),
}

/// Checks that `reply` is the response to the NOTIFY with `id` for `zone`, with NOERROR.
pub fn acknowledgement(reply: &[u8], id: u16, zone: &Name) -> Result<(), NotAcknowledged> {
    let m = Message::from_vec(reply).map_err(|_| NotAcknowledged::Unrelated)?;
    let ours = m.metadata.id == id
        && m.metadata.message_type == MessageType::Response
        && m.metadata.op_code == OpCode::Notify
        // RFC 1996 §4.7: the response's question echoes ours; some servers send none.
        && m.queries.first().is_none_or(|q| q.name() == zone);
    if !ours {
        return Err(NotAcknowledged::Unrelated);
    }
    match m.metadata.response_code {
        ResponseCode::NoError => Ok(()),
        code => Err(NotAcknowledged::Refused(code)),
    }
}

/// Sends every notice to each of its targets in the background, retrying until acknowledged.
/// Results are logged: an acknowledgement at `info`, a target that never acknowledged at `warn`.
/// Must be called inside a tokio runtime.
/// NOTIFY to targets with a key is signed with that key from `keys`. Each outcome (acknowledged
/// or not) is also reported to `outcome`, when given (metrics).
pub fn send(notices: Vec<Notice>, keys: &TsigKeys, outcome: Option<OutcomeHook>) {
    for notice in notices {
        for t in &notice.targets {
            let notice = notice.clone();
            let target = t.addr;
            let signer = t.key.as_ref().and_then(|k| keys.signer(k)).cloned();
            let outcome = outcome.clone();
            tokio::spawn(async move {
                let result = notify_one(&notice, target, signer.as_ref()).await;
                if let Some(hook) = &outcome {
                    hook(result.is_ok());
                }
                match result {
                    Ok(()) => tracing::info!(
                        "NOTIFY {} serial {} to {target}: acknowledged",
                        notice.zone,
                        notice.serial()
                    ),
                    Err(why) => tracing::warn!(
                        "NOTIFY {} serial {} to {target}: {why}",
                        notice.zone,
                        notice.serial()
                    ),
                }
            });
        }
    }
}

/// Told whether each NOTIFY was acknowledged.
pub type OutcomeHook = std::sync::Arc<dyn Fn(bool) + Send + Sync>;

/// One secondary: send, wait, resend with a doubled wait, until acknowledged or out of attempts.
async fn notify_one(
    notice: &Notice,
    target: SocketAddr,
    signer: Option<&TSigner>,
) -> Result<(), String> {
    let local: SocketAddr = if target.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = tokio::net::UdpSocket::bind(local)
        .await
        .map_err(|e| format!("cannot open a socket: {e}"))?;
    // Connected, so that only the target's datagrams (and its ICMP errors) reach us.
    sock.connect(target)
        .await
        .map_err(|e| format!("cannot reach: {e}"))?;
    let id = random_id();
    let packet = message(notice, id, signer, crate::tsig::unix_now());
    let mut wait = FIRST_WAIT;
    let mut last = String::from("no answer");
    let mut buf = [0u8; 4096];
    for _ in 0..ATTEMPTS {
        let deadline = tokio::time::Instant::now() + wait;
        match sock.send(&packet).await {
            Err(e) => last = e.to_string(),
            // Unrelated datagrams (a late reply to nothing, garbage) do not end the wait.
            Ok(_) => loop {
                match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                    Err(_) => break,
                    Ok(Err(e)) => {
                        last = e.to_string();
                        break;
                    }
                    Ok(Ok(n)) => match acknowledgement(&buf[..n], id, &notice.zone) {
                        Ok(()) => return Ok(()),
                        Err(NotAcknowledged::Unrelated) => continue,
                        Err(refused) => return Err(refused.to_string()),
                    },
                }
            },
        }
        // Errors (a failed send, an ICMP error) surface at once; wait out the interval anyway.
        tokio::time::sleep_until(deadline).await;
        wait *= 2;
    }
    Err(format!(
        "not acknowledged after {ATTEMPTS} attempts ({last})"
    ))
}

/// A message id nobody on the path can guess from the previous one: std's per-instance random
/// SipHash keys, hashed over nothing. Not cryptographic, and it need not be: a forged
/// acknowledgement only stops our retries early.
fn random_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let hash = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (hash & 0xFFFF) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
[server]
ipv4 = ["192.0.2.1"]

[service.mail]
incoming = [{ protocol = "imap", host = "mail.{domain}" }]
outgoing = [{ host = "mail.{domain}" }]

[[domain]]
name = "example.net"
aliases = ["alias.example"]
notify = ["192.0.2.53", "[2001:db8::53]:5300"]

[[domain]]
name = "quiet.example"
"#;

    fn zones(text: &str, serial: u32) -> ZoneSet {
        let model =
            mailbeacon_model::load_str(text, std::path::Path::new("test.toml")).expect("valid");
        let mut zones = ZoneSet::derive(&model);
        let mut book = mailbeacon_model::SerialBook::default();
        zones.assign_serials(&mut book, serial);
        zones
    }

    #[test]
    fn every_zone_with_targets_at_start_and_only_changed_ones_later() {
        let first = zones(CONFIG, 100);
        let all = notices(None, &first);
        let names: Vec<String> = all.iter().map(|n| n.zone.to_string()).collect();
        assert_eq!(names, ["example.net.", "alias.example."]);
        let addrs: Vec<SocketAddr> = all[0].targets.iter().map(|t| t.addr).collect();
        assert_eq!(
            addrs,
            [
                "192.0.2.53:53".parse::<SocketAddr>().unwrap(),
                "[2001:db8::53]:5300".parse().unwrap()
            ]
        );
        assert!(all[0].targets.iter().all(|t| t.key.is_none()));
        assert_eq!(all[0].serial(), 100);

        assert!(
            notices(Some(&first.serials()), &first).is_empty(),
            "nothing changed"
        );

        let changed = zones(
            &CONFIG.replace(
                "name = \"example.net\"",
                "name = \"example.net\"\nspf = \"v=spf1 -all\"",
            ),
            200,
        );
        let later = notices(Some(&first.serials()), &changed);
        assert!(later.iter().all(|n| n.serial() == 200), "{later:?}");
        assert_eq!(later.len(), 2, "the alias zone carries the SPF record too");
    }

    #[test]
    fn the_message_is_a_notify_for_the_zone_with_its_soa() {
        let all = notices(None, &zones(CONFIG, 7));
        let m = Message::from_vec(&message(&all[0], 0x1234, None, 0)).expect("decodes");
        assert_eq!(m.metadata.id, 0x1234);
        assert_eq!(m.metadata.op_code, OpCode::Notify);
        assert_eq!(m.metadata.message_type, MessageType::Query);
        assert!(m.metadata.authoritative);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].name().to_string(), "example.net.");
        assert_eq!(m.queries[0].query_type(), RecordType::SOA);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].record_type(), RecordType::SOA);
    }

    #[test]
    fn only_a_matching_noerror_response_acknowledges() {
        let all = notices(None, &zones(CONFIG, 7));
        let zone = &all[0].zone;
        let reply = |id: u16, kind: MessageType, op: OpCode, rcode: ResponseCode, name: &Name| {
            let mut m = Message::new(id, kind, op);
            m.metadata.response_code = rcode;
            m.add_query(Query::query(name.clone(), RecordType::SOA));
            m.to_vec().expect("encodes")
        };
        let ok = reply(
            9,
            MessageType::Response,
            OpCode::Notify,
            ResponseCode::NoError,
            zone,
        );
        assert_eq!(acknowledgement(&ok, 9, zone), Ok(()));
        assert_eq!(
            acknowledgement(&ok, 10, zone),
            Err(NotAcknowledged::Unrelated)
        );
        let query = reply(
            9,
            MessageType::Query,
            OpCode::Notify,
            ResponseCode::NoError,
            zone,
        );
        assert_eq!(
            acknowledgement(&query, 9, zone),
            Err(NotAcknowledged::Unrelated)
        );
        let other_op = reply(
            9,
            MessageType::Response,
            OpCode::Query,
            ResponseCode::NoError,
            zone,
        );
        assert_eq!(
            acknowledgement(&other_op, 9, zone),
            Err(NotAcknowledged::Unrelated)
        );
        let other_zone = Name::from_ascii("other.example.").expect("name");
        let wrong = reply(
            9,
            MessageType::Response,
            OpCode::Notify,
            ResponseCode::NoError,
            &other_zone,
        );
        assert_eq!(
            acknowledgement(&wrong, 9, zone),
            Err(NotAcknowledged::Unrelated)
        );
        let refused = reply(
            9,
            MessageType::Response,
            OpCode::Notify,
            ResponseCode::NotAuth,
            zone,
        );
        assert_eq!(
            acknowledgement(&refused, 9, zone),
            Err(NotAcknowledged::Refused(ResponseCode::NotAuth))
        );
        assert_eq!(
            acknowledgement(&[1, 2, 3], 9, zone),
            Err(NotAcknowledged::Unrelated)
        );
    }
}
