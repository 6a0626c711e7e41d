//! The access log of `serve`: one line per request, formatted on the request's thread without
//! tracing's per-event machinery, handed to a background thread that writes whole batches to
//! standard error (one `write` for as many lines as have queued up). Lines look exactly like
//! tracing's (`<time>  INFO mailbeacon::access: <fields>`), so readers see one format either way.
//!
//! A full queue drops lines rather than stalling requests; how many is counted.

use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

/// Lines that may wait for the writer.
const QUEUE: usize = 65_536;

/// The writer's end of the access log.
pub struct AccessLog {
    tx: SyncSender<String>,
    dropped: AtomicU64,
    /// The current second, formatted (`2026-12-02T09:05:35`), and which second it is.
    second: Mutex<(u64, String)>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl AccessLog {
    /// An access log written to standard error by a thread of its own.
    pub fn to_stderr() -> AccessLog {
        let (tx, rx) = sync_channel(QUEUE);
        // Nothing to do if the thread cannot start: lines are then dropped and counted.
        let _ = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_batches(rx));
        AccessLog {
            tx,
            dropped: AtomicU64::new(0),
            second: Mutex::new((0, String::new())),
        }
    }

    /// Queues one line (the fields after the target).
    pub fn log(&self, fields: std::fmt::Arguments<'_>) {
        use std::fmt::Write as _;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = String::with_capacity(160);
        {
            let mut second = self.second.lock().unwrap_or_else(|p| p.into_inner());
            if second.0 != now.as_secs() || second.1.is_empty() {
                *second = (now.as_secs(), format_second(now.as_secs()));
            }
            line.push_str(&second.1);
        }
        let _ = writeln!(
            line,
            ".{:06}Z  INFO mailbeacon::access: {fields}",
            now.subsec_micros()
        );
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of `secs` since the epoch.
fn format_second(secs: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Takes a line, then every line already waiting, and writes them with one call.
fn write_batches(rx: Receiver<String>) {
    let mut batch = String::with_capacity(64 * 1024);
    while let Ok(first) = rx.recv() {
        batch.clear();
        batch.push_str(&first);
        while batch.len() < 60 * 1024
            && let Ok(more) = rx.try_recv()
        {
            batch.push_str(&more);
        }
        let _ = std::io::stderr().lock().write_all(batch.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::format_second;

    #[test]
    fn seconds_format_like_tracing() {
        assert_eq!(format_second(1_796_198_400), "2026-12-02T08:00:00");
        assert_eq!(format_second(0), "1970-01-01T00:00:00");
    }
}
