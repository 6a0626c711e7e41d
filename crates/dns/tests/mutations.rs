//! Hostile datagrams: valid queries, dressed as real clients dress them, then damaged at random
//! (bytes overwritten, bits flipped, cut short, extended, counts changed). For every one of them the
//! responder must not panic, and the fast path must change nothing a client could see: it answers
//! exactly when the general path does, with the same message.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RecordType};
use mailbeacon_dns::Responder;
use mailbeacon_model::{DEFAULT_CONFIG, ZoneSet, load_str};

/// xorshift64*: deterministic, so a failure reproduces; no dependency for a test's dice.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn seeds(zones: &ZoneSet) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut names: Vec<Name> = zones
        .zones()
        .iter()
        .flat_map(|z| z.records())
        .map(|r| r.name.clone())
        .collect();
    names.push(Name::from_ascii("nx.example.test.").expect("name"));
    names.push(Name::from_ascii("elsewhere.invalid.").expect("name"));
    names.dedup();
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::MX,
        RecordType::SRV,
        RecordType::TXT,
        RecordType::SOA,
        RecordType::ANY,
        RecordType::AXFR,
    ];
    for (i, name) in names.iter().enumerate() {
        let qtype = types[i % types.len()];
        for dress in 0..4 {
            let mut m = Message::new(i as u16, MessageType::Query, OpCode::Query);
            m.queries.push(Query::query(name.clone(), qtype));
            if dress > 0 {
                let mut e = Edns::new();
                e.set_max_payload(if dress == 1 { 512 } else { 1232 });
                if dress == 2 {
                    e.set_dnssec_ok(true);
                    e.options_mut().insert(EdnsOption::Unknown(10, vec![7; 8]));
                }
                if dress == 3 {
                    let subnet = ClientSubnet::new(Ipv4Addr::new(198, 51, 100, 0).into(), 24, 0);
                    e.options_mut().insert(EdnsOption::Subnet(subnet));
                }
                m.edns = Some(e);
            }
            out.push(m.to_vec().expect("seed query encodes"));
        }
    }
    out
}

fn damage(dice: &mut Dice, mut q: Vec<u8>) -> Vec<u8> {
    for _ in 0..=dice.below(3) {
        match dice.below(7) {
            0 if !q.is_empty() => {
                let i = dice.below(q.len());
                q[i] = dice.next() as u8;
            }
            1 if !q.is_empty() => {
                let i = dice.below(q.len());
                q[i] ^= 1 << dice.below(8);
            }
            2 => {
                let keep = dice.below(q.len() + 1);
                q.truncate(keep);
            }
            3 => {
                for _ in 0..=dice.below(16) {
                    q.push(dice.next() as u8);
                }
            }
            // Section counts: the header fields most likely to confuse a parser.
            4 if q.len() >= 12 => {
                let field = 4 + 2 * dice.below(4);
                q[field] = if dice.below(2) == 0 { 0 } else { 0xFF };
                q[field + 1] = dice.below(3) as u8;
            }
            // Header flags, opcode, rcode.
            5 if q.len() >= 4 => {
                q[2 + dice.below(2)] = dice.next() as u8;
            }
            // A label length byte pointing elsewhere (compression pointer, over-long label).
            _ if q.len() > 12 => {
                let i = 12 + dice.below(q.len() - 12);
                q[i] = [0xC0, 0x3F, 0x40, 0xFF, 0x00][dice.below(5)];
            }
            _ => {}
        }
    }
    q
}

#[test]
fn damaged_queries_never_panic_and_the_fast_path_agrees_with_the_general_path() {
    let model = load_str(DEFAULT_CONFIG, "default.toml".as_ref()).expect("default config");
    let zones = ZoneSet::derive(&model);
    let general = Responder::general_only(&zones);
    // Precomputed at start, and built on first use in a cache small enough to evict constantly.
    for fast in [Responder::new(&zones), general.with_lazy_prepared(128)] {
        compare(&zones, &fast, &general);
    }
}

fn compare(zones: &ZoneSet, fast: &Responder, general: &Responder) {
    let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let seeds = seeds(zones);
    let mut dice = Dice(0x6186_8314_1996_7766);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut answered = 0;
    for round in 0..40_000 {
        let seed = &seeds[dice.below(seeds.len())];
        // Every tenth query goes in undamaged, so the comparison also covers the common case.
        let q = if round % 10 == 0 {
            seed.clone()
        } else {
            damage(&mut dice, seed.clone())
        };
        let fast_sent = fast.respond_udp(&q, peer, &mut a);
        let general_sent = general.respond_udp(&q, peer, &mut b);
        assert_eq!(fast_sent, general_sent, "round {round}: {q:02x?}");
        if !fast_sent {
            continue;
        }
        answered += 1;
        assert!(
            a.len() >= 12,
            "round {round}: a reply shorter than a header"
        );
        assert_eq!(a[..2], q[..2], "round {round}: the ID is echoed");
        match (Message::from_vec(&a), Message::from_vec(&b)) {
            (Ok(x), Ok(y)) => assert_eq!(x, y, "round {round}: {q:02x?}"),
            _ => assert_eq!(a, b, "round {round}: {q:02x?}"),
        }
    }
    assert!(answered > 20_000, "only {answered} answered");
}
