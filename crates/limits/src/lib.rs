//! Connection budgets for the TCP listeners (DNS over TCP, HTTP, HTTPS).
//!
//! A server that holds a connection slot per client must bound three things or a few hostile
//! clients deny everyone else: how many connections one address may hold ([`ClientBudget`]), how
//! many the process holds in all ([`global_cap`], which follows the file-descriptor limit the way
//! Knot sizes `tcp-max-clients`), and how long each may live (each listener's own timeouts).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open connections per client address and refuses those over the cap.
#[derive(Debug)]
pub struct ClientBudget {
    per_client: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ClientBudget {
    /// A budget of `per_client` concurrent connections for each client address.
    pub fn new(per_client: usize) -> Arc<ClientBudget> {
        Arc::new(ClientBudget {
            per_client: per_client.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a new connection from `ip`, or `None` when that address already holds its
    /// share. The slot is given back when dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let ip = canonical(ip);
        // A poisoned lock only means another connection's task panicked while counting; the
        // map itself is still a valid count.
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.per_client {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            budget: self.clone(),
            ip,
        })
    }

    /// Connections `ip` holds now.
    pub fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&canonical(ip)).copied().unwrap_or(0)
    }
}

/// One admitted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct ClientSlot {
    budget: Arc<ClientBudget>,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.budget.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// IPv4-mapped IPv6 addresses count as the IPv4 client they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Raises the soft file-descriptor limit to the hard one (as NSD and Knot do at start), so that
/// the caps below can be generous; returns the limit now in force.
pub fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Err(e) => {
            tracing::warn!("cannot read the file-descriptor limit: {e}");
            1024
        }
    }
}

/// The current soft file-descriptor limit.
pub fn fd_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit};
    getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft)
}

/// How many connections one listener kind may hold: `share` of the descriptors left after a
/// reserve for sockets, files and the other listeners, never below `floor` or above `ceiling`.
pub fn global_cap(fd_limit: u64, share: f64, floor: usize, ceiling: usize) -> usize {
    const RESERVE: u64 = 128;
    let usable = fd_limit.saturating_sub(RESERVE) as f64;
    // Truncation is the intent: a share of a descriptor count.
    let cap = (usable * share) as usize;
    cap.clamp(floor, ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_share_and_slots_come_back() {
        let budget = ClientBudget::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let one = budget.admit(a).unwrap();
        let _two = budget.admit(a).unwrap();
        assert!(
            budget.admit(a).is_none(),
            "third connection from one address"
        );
        assert!(budget.admit(b).is_some(), "another address is not affected");
        drop(one);
        assert_eq!(budget.open(a), 1);
        assert!(budget.admit(a).is_some());
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(budget.open(mapped), 1, "mapped IPv4 counts as IPv4");
    }

    #[test]
    fn the_global_cap_follows_the_descriptor_limit() {
        assert_eq!(global_cap(1024, 0.5, 64, 16_384), 448);
        assert_eq!(global_cap(100, 0.5, 64, 16_384), 64);
        assert_eq!(global_cap(1 << 20, 0.5, 64, 16_384), 16_384);
    }
}
