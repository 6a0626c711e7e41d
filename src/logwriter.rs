//! The log writer: lines are appended to a shared buffer and a background thread writes what has
//! gathered to standard error every few milliseconds.
//!
//! Why not tracing-appender's non-blocking writer: it hands each line to its thread through a
//! channel, which wakes that thread once per line; under load (an access line per request) the
//! wake-ups were the largest single cost in a profile. Here nobody is woken: a request's thread
//! takes a mutex held only for a copy, and the writer thread sleeps on a timer.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often gathered lines are written.
const FLUSH_EVERY: Duration = Duration::from_millis(5);

/// Most bytes waiting to be written; lines beyond are dropped (and counted) rather than letting a
/// stalled standard error grow memory or stall requests.
const MAX_PENDING: usize = 8 * 1024 * 1024;

/// Where lines wait.
#[derive(Debug, Default)]
struct Pending {
    bytes: Mutex<Vec<u8>>,
    dropped: AtomicU64,
    stop: AtomicBool,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while appending leaves at worst a partial line: keep logging.
        self.bytes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A [`tracing_subscriber::fmt::MakeWriter`] for standard error without a wake-up per line.
#[derive(Debug, Clone)]
pub struct BatchedStderr(Arc<Pending>);

/// Writes what is pending and stops the writer thread when dropped.
#[derive(Debug)]
pub struct FlushGuard {
    pending: Arc<Pending>,
    thread: Option<JoinHandle<()>>,
}

/// The writer and the guard that must live as long as logging does.
pub fn batched_stderr() -> (BatchedStderr, FlushGuard) {
    let pending = Arc::new(Pending::default());
    let shared = pending.clone();
    let thread = std::thread::Builder::new()
        .name("mailbeacon-log".into())
        .spawn(move || {
            let mut out = Vec::new();
            loop {
                let stopping = shared.stop.load(Ordering::Acquire);
                std::mem::swap(&mut *shared.lock(), &mut out);
                let dropped = shared.dropped.swap(0, Ordering::Relaxed);
                let mut stderr = std::io::stderr().lock();
                if dropped > 0 {
                    let _ = writeln!(
                        stderr,
                        "mailbeacon: {dropped} log lines dropped (standard error did not keep up)"
                    );
                }
                // Standard error gone (closed pipe): nothing sensible to do but carry on.
                let _ = stderr.write_all(&out);
                let _ = stderr.flush();
                drop(stderr);
                out.clear();
                if stopping {
                    return;
                }
                std::thread::park_timeout(FLUSH_EVERY);
            }
        })
        .ok();
    (
        BatchedStderr(pending.clone()),
        FlushGuard { pending, thread },
    )
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.pending.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        } else {
            // No writer thread could be started: write what is pending here.
            let _ = std::io::stderr().write_all(&self.pending.lock());
        }
    }
}

/// One event's handle on the buffer (tracing's formatter writes each line in one call).
#[derive(Debug)]
pub struct PendingLine<'a>(&'a Pending);

impl Write for PendingLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.0.lock();
        if pending.len() + bytes.len() > MAX_PENDING {
            drop(pending);
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            pending.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStderr {
    type Writer = PendingLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        PendingLine(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::MakeWriter;

    #[test]
    fn lines_wait_in_order_and_overflow_is_counted() {
        let pending = Pending::default();
        let writer = BatchedStderr(Arc::new(pending));
        writer.make_writer().write_all(b"one\n").unwrap();
        writer.make_writer().write_all(b"two\n").unwrap();
        assert_eq!(&*writer.0.lock(), b"one\ntwo\n");
        let big = vec![b'x'; MAX_PENDING];
        writer.make_writer().write_all(&big).unwrap();
        assert_eq!(
            writer.0.lock().len(),
            8,
            "the line that does not fit is dropped"
        );
        assert_eq!(writer.0.dropped.load(Ordering::Relaxed), 1);
    }
}
