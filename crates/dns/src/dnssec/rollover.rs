//! A zone's keys over time: the key that signs, and during a rollover the one coming in or going
//! out — and the three steps that move a zone from one key to the next (RFC 6781 §4.1.2, RFC 7583
//! §3.3, for a combined signing key):
//!
//! 1. **start**: a new key is made and *pre-published*: its DNSKEY joins the apex, the DNSKEY
//!    RRset is signed by both keys, and CDS/CDNSKEY list both, so the parent can add the new DS
//!    beside the old one. Everything else is still signed by the old key. Validators trusting
//!    either DS accept the zone: the DNSKEY RRset validates through either key, and then every key
//!    in it may sign data.
//! 2. **switch** (once the new DNSKEY is in every cache and the parent serves the new DS): the new
//!    key signs everything; the old one stays published and keeps signing the DNSKEY RRset, so
//!    signatures still cached from it validate; CDS/CDNSKEY list only the new key, so the parent
//!    drops the old DS.
//! 3. **finish** (once old signatures and the old DS have expired from caches): the old key is
//!    removed.
//!
//! The waits between steps come from the zone's TTLs ([`Rollover::earliest`]); whether the
//! parent serves the new DS is for the operator to check (or the parent's CDS scan to bring about).

use hickory_proto::rr::Name;

use super::key::ZoneKey;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs every RRset.
    Active,
    /// Pre-published during a rollover: in the DNSKEY RRset (which it signs too) and in CDS.
    Incoming,
    /// After the switch: still in the DNSKEY RRset (which it signs too), until `finish`.
    Outgoing,
}

impl KeyState {
    /// The name stored in key files.
    pub fn name(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Incoming => "incoming",
            KeyState::Outgoing => "outgoing",
        }
    }

    /// The state named `text`.
    pub fn parse(text: &str) -> Option<KeyState> {
        [KeyState::Active, KeyState::Incoming, KeyState::Outgoing]
            .into_iter()
            .find(|s| s.name() == text)
    }
}

/// One key of a zone and its state.
#[derive(Debug)]
pub struct StateKey {
    /// The key.
    pub key: ZoneKey,
    /// Its state.
    pub state: KeyState,
    /// When it entered that state (seconds since the epoch).
    pub since: u64,
    /// When it was made.
    pub created: u64,
}

/// A zone's keys: exactly one active, at most one incoming or outgoing.
#[derive(Debug)]
pub struct ZoneKeys {
    keys: Vec<StateKey>,
}

/// A rollover step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollover {
    /// Pre-publish a new key.
    Start,
    /// Sign with the new key.
    Switch,
    /// Remove the old key.
    Finish,
}

/// Why a step cannot be taken now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolloverError {
    /// The zone is not at the right point for this step.
    #[error("{0}")]
    OutOfOrder(String),
    /// Caches may still hold what the step would make invalid.
    #[error(
        "too early: {why}; possible from {at} (in {wait} s), or now with --force if you know better"
    )]
    TooEarly {
        /// What must expire first.
        why: String,
        /// The earliest time (seconds since the epoch).
        at: u64,
        /// Seconds from now.
        wait: u64,
    },
}

impl ZoneKeys {
    /// A zone with one active key.
    pub fn single(key: ZoneKey, now: u64) -> ZoneKeys {
        ZoneKeys {
            keys: vec![StateKey {
                key,
                state: KeyState::Active,
                since: now,
                created: now,
            }],
        }
    }

    /// Keys as stored; `Err` when they are not exactly one active plus at most one other.
    pub fn from_parts(keys: Vec<StateKey>) -> Result<ZoneKeys, String> {
        let active = keys.iter().filter(|k| k.state == KeyState::Active).count();
        if active != 1 || keys.len() > 2 {
            let states: Vec<&str> = keys.iter().map(|k| k.state.name()).collect();
            return Err(format!(
                "holds keys in states [{}]; a zone has exactly one active key and at most one \
                 incoming or outgoing",
                states.join(", ")
            ));
        }
        Ok(ZoneKeys { keys })
    }

    /// Every key with its state.
    pub fn all(&self) -> &[StateKey] {
        &self.keys
    }

    /// The key that signs every RRset.
    pub fn active(&self) -> &ZoneKey {
        // `from_parts` and the steps keep exactly one active key.
        &self
            .keys
            .iter()
            .find(|k| k.state == KeyState::Active)
            .unwrap_or(&self.keys[0])
            .key
    }

    /// The keys the parent should have a DS for (CDS/CDNSKEY): the active key, and an incoming one.
    pub fn parent_facing(&self) -> impl Iterator<Item = &ZoneKey> {
        self.keys
            .iter()
            .filter(|k| k.state != KeyState::Outgoing)
            .map(|k| &k.key)
    }

    /// The step the zone is ready for (by order, not by time).
    pub fn next_step(&self) -> Rollover {
        match self.keys.iter().find(|k| k.state != KeyState::Active) {
            None => Rollover::Start,
            Some(k) if k.state == KeyState::Incoming => Rollover::Switch,
            Some(_) => Rollover::Finish,
        }
    }

    /// When `step` may be taken: `max_ttl` is the largest TTL in the zone (DNSKEY included).
    /// Before switch, the new DNSKEY must have reached every cache (two DNSKEY TTLs after start,
    /// one for propagation and one for safety, RFC 7583 §3.3.2); before finish, every signature
    /// made by the old key must have expired from caches (two maximum TTLs after the switch).
    pub fn earliest(&self, step: Rollover, max_ttl: u32) -> u64 {
        let since = self
            .keys
            .iter()
            .find(|k| k.state != KeyState::Active)
            .map_or(0, |k| k.since);
        match step {
            Rollover::Start => 0,
            Rollover::Switch | Rollover::Finish => since.saturating_add(2 * u64::from(max_ttl)),
        }
    }

    /// Takes `step` at `now` (`new_key` is the key a start brings in). Unless `force`, a step
    /// earlier than [`ZoneKeys::earliest`] is refused.
    pub fn step(
        &mut self,
        step: Rollover,
        new_key: Option<ZoneKey>,
        now: u64,
        max_ttl: u32,
        force: bool,
        zone: &Name,
    ) -> Result<(), RolloverError> {
        let expected = self.next_step();
        if step != expected {
            let hint = match expected {
                Rollover::Start => "no rollover is in progress: `start` one",
                Rollover::Switch => "a new key is pre-published: the next step is `switch`",
                Rollover::Finish => "the new key signs: the next step is `finish`",
            };
            return Err(RolloverError::OutOfOrder(format!("{zone}: {hint}")));
        }
        let at = self.earliest(step, max_ttl);
        if !force && now < at {
            let why = match step {
                Rollover::Switch => format!(
                    "the new DNSKEY must reach every resolver's cache first (2 × TTL {max_ttl} s \
                     after start), and the parent must serve the new DS (check `dig DS {zone}`)"
                ),
                _ => format!(
                    "signatures of the old key may be cached for up to {max_ttl} s after the \
                     switch (waiting twice that), and the parent must have dropped the old DS"
                ),
            };
            return Err(RolloverError::TooEarly {
                why,
                at,
                wait: at - now,
            });
        }
        match step {
            Rollover::Start => {
                let Some(key) = new_key else {
                    return Err(RolloverError::OutOfOrder(format!(
                        "{zone}: no new key given"
                    )));
                };
                self.keys.push(StateKey {
                    key,
                    state: KeyState::Incoming,
                    since: now,
                    created: now,
                });
            }
            Rollover::Switch => {
                for k in &mut self.keys {
                    k.state = match k.state {
                        KeyState::Active => KeyState::Outgoing,
                        _ => KeyState::Active,
                    };
                    k.since = now;
                }
            }
            Rollover::Finish => self.keys.retain(|k| k.state == KeyState::Active),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailbeacon_model::DnssecAlgorithm;

    fn key() -> ZoneKey {
        ZoneKey::generate(DnssecAlgorithm::EcdsaP256Sha256).unwrap()
    }

    #[test]
    fn steps_go_in_order_and_wait_for_caches() {
        let zone = Name::from_ascii("example.net.").unwrap();
        let old = key();
        let old_tag = old.tag();
        let mut keys = ZoneKeys::single(old, 1000);
        assert_eq!(keys.next_step(), Rollover::Start);
        assert!(matches!(
            keys.step(Rollover::Switch, None, 1000, 3600, false, &zone),
            Err(RolloverError::OutOfOrder(_))
        ));
        let new = key();
        let new_tag = new.tag();
        keys.step(Rollover::Start, Some(new), 2000, 3600, false, &zone)
            .unwrap();
        assert_eq!(keys.active().tag(), old_tag);
        assert_eq!(keys.parent_facing().count(), 2);
        // Too early for the switch: two DNSKEY TTLs after the start.
        let err = keys
            .step(Rollover::Switch, None, 2000 + 7199, 3600, false, &zone)
            .unwrap_err();
        assert!(
            matches!(
                err,
                RolloverError::TooEarly {
                    at: 9200,
                    wait: 1,
                    ..
                }
            ),
            "{err}"
        );
        keys.step(Rollover::Switch, None, 9200, 3600, false, &zone)
            .unwrap();
        assert_eq!(keys.active().tag(), new_tag);
        let facing: Vec<u16> = keys.parent_facing().map(ZoneKey::tag).collect();
        assert_eq!(facing, [new_tag]);
        assert_eq!(keys.all().len(), 2);
        // --force skips the wait, not the order.
        keys.step(Rollover::Finish, None, 9201, 3600, true, &zone)
            .unwrap();
        assert_eq!(keys.all().len(), 1);
        assert_eq!(keys.active().tag(), new_tag);
        assert_eq!(keys.next_step(), Rollover::Start);
    }
}
