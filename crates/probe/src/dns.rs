//! DNS as a client sees it: questions to a recursive resolver (the system's, or the one given),
//! with the DO bit so that the resolver's AD flag tells whether the answer was validated.
//!
//! hickory-proto builds and parses the messages; this module only moves them over UDP (TCP when
//! the answer is truncated) and keeps what a report needs: rcode, AD, the answer records.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Where questions go.
#[derive(Debug, Clone)]
pub struct Resolver {
    server: SocketAddr,
    timeout: Duration,
    /// Ask with RD (a recursive resolver) or without (an authoritative server, for NS checks).
    recursive: bool,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The response code.
    pub rcode: ResponseCode,
    /// The AD flag: the resolver validated the answer with DNSSEC.
    pub authenticated: bool,
    /// The AA flag (for questions to authoritative servers).
    pub authoritative: bool,
    /// The answer section.
    pub records: Vec<Record>,
    /// The authority section (referrals carry the delegation's NS records here).
    pub authority: Vec<Record>,
}

impl Answer {
    /// The records of type `t` in the answer section.
    pub fn of_type(&self, t: RecordType) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(move |r| r.record_type() == t)
    }

    /// The texts of the TXT records (each one's strings joined).
    pub fn texts(&self) -> Vec<String> {
        self.of_type(RecordType::TXT)
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()
    }

    /// Whether the name exists with data of the type asked (NOERROR and a record of that type).
    pub fn has(&self, t: RecordType) -> bool {
        self.rcode == ResponseCode::NoError && self.of_type(t).next().is_some()
    }
}

impl Resolver {
    /// A recursive resolver at `server`.
    pub fn new(server: SocketAddr) -> Resolver {
        Resolver {
            server,
            timeout: Duration::from_secs(5),
            recursive: true,
        }
    }

    /// The first `nameserver` of `/etc/resolv.conf` (127.0.0.1 when there is none).
    pub fn system() -> Resolver {
        let server = std::fs::read_to_string("/etc/resolv.conf")
            .ok()
            .and_then(|t| {
                t.lines()
                    .filter_map(|l| l.trim().strip_prefix("nameserver"))
                    .find_map(|a| a.trim().parse::<IpAddr>().ok())
            })
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Resolver::new(SocketAddr::new(server, 53))
    }

    /// An authoritative server at `server` (questions without RD).
    pub fn authoritative(server: SocketAddr) -> Resolver {
        Resolver {
            recursive: false,
            timeout: Duration::from_secs(2),
            ..Resolver::new(server)
        }
    }

    /// The server asked.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Asks `name`/`rtype`; `Err` when no usable answer came (timeout, unreachable, garbage).
    pub async fn ask(&self, name: &Name, rtype: RecordType) -> Result<Answer, String> {
        let id: u16 = rand_id();
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = self.recursive;
        m.add_query(Query::query(name.clone(), rtype));
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.set_dnssec_ok(true);
        m.edns = Some(edns);
        let query = m.to_vec().map_err(|e| e.to_string())?;
        let reply = tokio::time::timeout(self.timeout, self.exchange_udp(&query, id))
            .await
            .map_err(|_| format!("no answer from {} within {:?}", self.server, self.timeout))??;
        let reply = if reply.metadata.truncation {
            tokio::time::timeout(self.timeout, self.exchange_tcp(&query))
                .await
                .map_err(|_| format!("no TCP answer from {}", self.server))??
        } else {
            reply
        };
        Ok(Answer {
            rcode: reply.metadata.response_code,
            authenticated: reply.metadata.authentic_data,
            authoritative: reply.metadata.authoritative,
            records: reply.answers,
            authority: reply.authorities,
        })
    }

    async fn exchange_udp(&self, query: &[u8], id: u16) -> Result<Message, String> {
        let local: SocketAddr = if self.server.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let sock = tokio::net::UdpSocket::bind(local)
            .await
            .map_err(|e| e.to_string())?;
        sock.connect(self.server).await.map_err(|e| e.to_string())?;
        sock.send(query).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 65_535];
        loop {
            let n = sock.recv(&mut buf).await.map_err(|e| e.to_string())?;
            if let Ok(m) = Message::from_vec(&buf[..n])
                && m.metadata.id == id
            {
                return Ok(m);
            }
        }
    }

    async fn exchange_tcp(&self, query: &[u8]) -> Result<Message, String> {
        let mut s = tokio::net::TcpStream::connect(self.server)
            .await
            .map_err(|e| e.to_string())?;
        let len = u16::try_from(query.len()).map_err(|e| e.to_string())?;
        s.write_all(&len.to_be_bytes())
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(query).await.map_err(|e| e.to_string())?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        Message::from_vec(&buf).map_err(|e| e.to_string())
    }

    /// The addresses of `host` (A, then AAAA), following CNAMEs as the resolver did.
    pub async fn addresses(&self, host: &Name) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for t in [RecordType::A, RecordType::AAAA] {
            if let Ok(a) = self.ask(host, t).await {
                for r in &a.records {
                    match &r.data {
                        RData::A(a) => out.push(IpAddr::V4(a.0)),
                        RData::AAAA(a) => out.push(IpAddr::V6(a.0)),
                        _ => {}
                    }
                }
            }
        }
        out
    }
}

/// A message id: std's per-process random SipHash keys over a counter (not cryptographic; a
/// probe only needs ids its own replies match).
fn rand_id() -> u16 {
    use std::hash::{BuildHasher as _, Hasher as _};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    (h.finish() & 0xFFFF) as u16
}
