//! Any datagram through the responder: never a panic, and the precomputed fast path answers
//! exactly when the general path does, with the same DNS data (header, question and sections
//! compared as parsed records, not bytes).

#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;

use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;
use mailbeacon_dns::responder::respond_general;
use mailbeacon_dns::{Responder, Transport};
use mailbeacon_model::{DEFAULT_CONFIG, ZoneSet, load_str};

static RESPONDER: LazyLock<Responder> = LazyLock::new(|| {
    let model = load_str(DEFAULT_CONFIG, "default.toml".as_ref()).expect("default config");
    Responder::new(&ZoneSet::derive(&model))
});

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fuzz_target!(|query: &[u8]| {
    let responder = &*RESPONDER;
    let mut fast = Vec::new();
    let answered = responder.respond_udp(query, PEER, &mut fast);
    let general = respond_general(responder.authority(), query, Transport::Udp, PEER);
    assert_eq!(
        answered,
        !general.is_empty(),
        "fast path and general path disagree on answering"
    );
    if let Some(reply) = general.first() {
        // Same DNS data: header, question, every section and EDNS, as parsed records. A reply
        // hickory cannot parse (an echo of a damaged question) must then be the same bytes.
        match (Message::from_vec(&fast), Message::from_vec(reply)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            _ => assert_eq!(&fast, reply),
        }
    }
    let _ = respond_general(responder.authority(), query, Transport::Tcp, PEER);
});
