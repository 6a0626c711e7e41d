//! SOA serials that increase exactly when a zone's content changes.
//!
//! The book remembers, per zone, the content hash and serial last published. It is kept as a small
//! text file in the state directory (one `zone serial hash` line per zone) so that a restart keeps
//! serials stable and secondaries (NSD, Knot, BIND) only transfer when something changed.

use std::collections::HashMap;
use std::fmt::Write;

/// Last published serial and content hash of every zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SerialBook {
    /// Zone → (serial, content hash). Looked up once per zone on every load; written in name
    /// order.
    entries: HashMap<String, (u32, String)>,
    changed: bool,
}

impl SerialBook {
    /// Reads the book's text form; unreadable lines are skipped (they only cost a serial bump).
    pub fn parse(text: &str) -> SerialBook {
        let mut entries = HashMap::new();
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            if let (Some(zone), Some(serial), Some(hash)) =
                (parts.next(), parts.next(), parts.next())
                && let Ok(serial) = serial.parse::<u32>()
            {
                entries.insert(zone.to_owned(), (serial, hash.to_owned()));
            }
        }
        SerialBook {
            entries,
            changed: false,
        }
    }

    /// The text form.
    pub fn render(&self) -> String {
        let mut zones: Vec<(&String, &(u32, String))> = self.entries.iter().collect();
        zones.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut text = String::with_capacity(zones.len() * 64);
        for (z, (s, h)) in zones {
            // Writing to a String cannot fail.
            let _ = writeln!(text, "{z} {s} {h}");
        }
        text
    }

    /// Whether any serial was assigned anew since the book was read (or last saved).
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// Records that the book as it is now has been saved: [`SerialBook::changed`] is false
    /// until a serial moves again.
    pub fn mark_saved(&mut self) {
        self.changed = false;
    }

    /// The serial for `zone` with content `hash` at unix time `now`: the remembered one if the content
    /// is the same, else the larger of `now` and the remembered serial + 1.
    pub fn serial_for(&mut self, zone: &str, hash: &str, now: u32) -> u32 {
        if let Some((serial, h)) = self.entries.get(zone)
            && h == hash
        {
            return *serial;
        }
        let next = match self.entries.get(zone) {
            Some((prev, _)) => now.max(prev.wrapping_add(1)),
            None => now.max(1),
        };
        self.entries
            .insert(zone.to_owned(), (next, hash.to_owned()));
        self.changed = true;
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_changes_only_with_content() {
        let mut book = SerialBook::default();
        assert_eq!(book.serial_for("a.test", "h1", 1000), 1000);
        assert_eq!(book.serial_for("a.test", "h1", 2000), 1000);
        assert_eq!(book.serial_for("a.test", "h2", 1000), 1001);
        assert_eq!(book.serial_for("a.test", "h3", 5000), 5000);
        let again = SerialBook::parse(&book.render());
        assert_eq!(again.entries, book.entries);
        assert!(!again.changed());
    }
}
