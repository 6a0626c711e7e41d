//! Response rate limiting for UDP (RRL), with NSD's and Knot's semantics.
//!
//! UDP source addresses can be forged, so an authoritative server can be made to send its answers
//! to a victim. RRL bounds that: answers of one kind to one client network are counted per second
//! and those over the rate are dropped, except every `slip`-th, which goes out empty with TC set —
//! a real client behind the address then retries over TCP, which cannot be forged.
//!
//! Counts live in a fixed table of atomics indexed by a keyed hash (no allocation, no lock on the
//! hot path); a collision merely shares a count, as in NSD. The key is the client network plus,
//! for a positive answer, the question name and type, or for any other outcome, the rcode alone
//! (so that floods of random names count as one kind).

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use mailbeacon_model::Rrl;

use crate::wire::question_end;

/// Number of counters (a power of two).
const BUCKETS: usize = 1 << 16;

/// What to do with one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Send,
    /// Over the rate: send nothing.
    Drop,
    /// Over the rate: send an empty truncated answer instead.
    Slip,
}

/// The rate limiter shared by every UDP worker.
pub struct RateLimiter {
    settings: ArcSwap<Rrl>,
    hasher: std::collections::hash_map::RandomState,
    /// Per bucket: the second (since `epoch`) in the high half, the count in the low half.
    buckets: Box<[AtomicU64]>,
    epoch: Instant,
    limited: AtomicU64,
    slipped: AtomicU64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("settings", &self.settings.load())
            .field("limited", &self.limited)
            .field("slipped", &self.slipped)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter with `settings` (a rate of 0 lets everything through).
    pub fn new(settings: Rrl) -> RateLimiter {
        RateLimiter {
            settings: ArcSwap::from_pointee(settings),
            hasher: std::collections::hash_map::RandomState::new(),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            epoch: Instant::now(),
            limited: AtomicU64::new(0),
            slipped: AtomicU64::new(0),
        }
    }

    /// Takes new settings (a reload); counts carry over.
    pub fn reconfigure(&self, settings: Rrl) {
        if **self.settings.load() != settings {
            self.settings.store(std::sync::Arc::new(settings));
        }
    }

    /// Answers limited so far, and how many of them were sent truncated.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.limited.load(Ordering::Relaxed),
            self.slipped.load(Ordering::Relaxed),
        )
    }

    /// Counts `reply` (to `query` from `peer`) and says whether it may go out.
    pub fn judge(&self, peer: IpAddr, query: &[u8], reply: &[u8]) -> Verdict {
        let s = self.settings.load();
        if s.rate == 0 || reply.len() < 12 || s.exempt.iter().any(|n| n.contains(&peer)) {
            return Verdict::Send;
        }
        let now = u32::try_from(self.epoch.elapsed().as_secs()).unwrap_or(u32::MAX);
        let index = self.key(&s, peer, query, reply) as usize & (BUCKETS - 1);
        let bucket = &self.buckets[index];
        // Races between workers may lose an increment; the limit stays approximately right.
        let old = bucket.load(Ordering::Relaxed);
        let count = if (old >> 32) as u32 == now {
            (old as u32).saturating_add(1)
        } else {
            1
        };
        bucket.store((u64::from(now) << 32) | u64::from(count), Ordering::Relaxed);
        if count <= s.rate {
            return Verdict::Send;
        }
        self.limited.fetch_add(1, Ordering::Relaxed);
        if s.slip > 0 && (count - s.rate).is_multiple_of(s.slip) {
            self.slipped.fetch_add(1, Ordering::Relaxed);
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }

    fn key(&self, s: &Rrl, peer: IpAddr, query: &[u8], reply: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        match peer {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(s.ipv4_prefix))
                    .unwrap_or(0);
                h.write_u32(u32::from(v4) & mask);
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(s.ipv6_prefix))
                    .unwrap_or(0);
                h.write_u128(u128::from(v6) & mask);
            }
        }
        let rcode = reply[3] & 0x0f;
        h.write_u8(rcode);
        let answers = u16::from_be_bytes([reply[6], reply[7]]);
        if rcode == 0 && answers > 0 {
            // Question name (lower-cased) and type.
            if let Some(end) = question_end(query) {
                for b in &query[12..end - 4] {
                    h.write_u8(b.to_ascii_lowercase());
                }
                h.write(&query[end - 4..end - 2]);
            }
        } else {
            h.write_u16(answers);
        }
        h.finish()
    }
}

/// Rewrites `reply` into the empty, truncated answer a slip sends: header (TC set, no records)
/// and the question, never larger than the query, so nothing is amplified.
pub fn truncate(reply: &mut Vec<u8>, query: &[u8]) {
    let Some(end) = question_end(query) else {
        reply.truncate(12.min(reply.len()));
        return;
    };
    if reply.len() < 12 {
        return;
    }
    let header: [u8; 12] = {
        let mut h = [0u8; 12];
        h.copy_from_slice(&reply[..12]);
        h[2] |= 0x02; // TC
        h[4..6].copy_from_slice(&1u16.to_be_bytes());
        h[6..12].fill(0);
        h
    };
    reply.clear();
    reply.extend_from_slice(&header);
    reply.extend_from_slice(&query[12..end]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        q
    }

    fn answer(q: &[u8], rcode: u8, answers: u16) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2] |= 0x84;
        r[3] = rcode;
        r[6..8].copy_from_slice(&answers.to_be_bytes());
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        r
    }

    fn limiter(rate: u32, slip: u32) -> RateLimiter {
        RateLimiter::new(Rrl {
            rate,
            slip,
            exempt: vec!["192.0.2.99/32".parse().unwrap()],
            ..Rrl::default()
        })
    }

    #[test]
    fn over_the_rate_answers_are_dropped_and_every_slip_th_truncated() {
        let rrl = limiter(5, 2);
        let peer: IpAddr = "198.51.100.7".parse().unwrap();
        let q = query("www.example.test");
        let a = answer(&q, 0, 1);
        let verdicts: Vec<Verdict> = (0..11).map(|_| rrl.judge(peer, &q, &a)).collect();
        assert!(verdicts[..5].iter().all(|v| *v == Verdict::Send));
        assert_eq!(
            &verdicts[5..],
            [
                Verdict::Drop,
                Verdict::Slip,
                Verdict::Drop,
                Verdict::Slip,
                Verdict::Drop,
                Verdict::Slip
            ]
        );
        assert_eq!(rrl.counts(), (6, 3));
        // The same network shares the count; another network and another name do not.
        let neighbour: IpAddr = "198.51.100.200".parse().unwrap();
        assert_ne!(rrl.judge(neighbour, &q, &a), Verdict::Send);
        let other: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(rrl.judge(other, &q, &a), Verdict::Send);
        let q2 = query("mail.example.test");
        assert_eq!(rrl.judge(peer, &q2, &answer(&q2, 0, 1)), Verdict::Send);
        // Exempt networks and a rate of 0 are never limited.
        let exempt: IpAddr = "192.0.2.99".parse().unwrap();
        assert!((0..20).all(|_| rrl.judge(exempt, &q, &a) == Verdict::Send));
        let off = limiter(0, 2);
        assert!((0..1000).all(|_| off.judge(peer, &q, &a) == Verdict::Send));
    }

    #[test]
    fn nxdomain_for_random_names_counts_as_one_kind() {
        let rrl = limiter(3, 0);
        let peer: IpAddr = "198.51.100.7".parse().unwrap();
        let verdicts: Vec<Verdict> = (0..6)
            .map(|i| {
                let q = query(&format!("r{i}.example.test"));
                rrl.judge(peer, &q, &answer(&q, 3, 0))
            })
            .collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Send).count(), 3);
        assert!(!verdicts.contains(&Verdict::Slip), "slip 0 never truncates");
    }

    #[test]
    fn a_slip_is_never_larger_than_the_query() {
        let q = query("www.example.test");
        let mut r = answer(&q, 0, 1);
        truncate(&mut r, &q);
        assert_eq!(r.len(), q.len());
        assert_eq!(r[2] & 0x02, 0x02, "TC");
        assert_eq!(&r[6..12], &[0; 6]);
        assert_eq!(&r[12..], &q[12..]);
    }
}
