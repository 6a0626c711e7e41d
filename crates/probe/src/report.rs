//! The probe's findings as data (`--json`) and as a table for a terminal.

use serde::Serialize;

use crate::clients::ClientReport;

/// How much a finding matters; the worst one decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// As it should be.
    Ok,
    /// Worth knowing, not wrong.
    Info,
    /// Works, but something will bite (exit status 1).
    Warning,
    /// Broken for some client or some check (exit status 2).
    Error,
}

/// One finding of a check.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// How much it matters.
    pub level: Level,
    /// Which check (`mx`, `spf`, `certificate`, `clients`, `drift`, …).
    pub check: String,
    /// What was found.
    pub message: String,
}

impl Finding {
    /// A finding.
    pub fn new(level: Level, check: &str, message: impl Into<String>) -> Finding {
        Finding {
            level,
            check: check.to_owned(),
            message: message.into(),
        }
    }
}

/// Everything one probe found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The address probed.
    pub address: String,
    /// The resolver asked.
    pub resolver: String,
    /// Each client's walk.
    pub clients: Vec<ClientReport>,
    /// Findings about the clients' results, the domain's hygiene and drift from a configuration.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The worst level among the findings.
    pub fn worst(&self) -> Level {
        self.findings
            .iter()
            .map(|f| f.level)
            .max()
            .unwrap_or(Level::Ok)
    }

    /// The exit status for scripts: 0 all well, 1 warnings, 2 errors.
    pub fn exit_status(&self) -> u8 {
        match self.worst() {
            Level::Error => 2,
            Level::Warning => 1,
            _ => 0,
        }
    }

    /// The report for a terminal: each client's steps and result, then the findings.
    pub fn to_text(&self) -> String {
        let mut out = format!("probe of {} (resolver {})\n", self.address, self.resolver);
        for c in &self.clients {
            out.push_str(&format!("\n== {}\n", c.client.name()));
            for s in &c.steps {
                let mark = if s.used { "→" } else { " " };
                out.push_str(&format!(
                    " {mark} {:<70} {:>5} ms  {}\n",
                    s.asked, s.millis, s.outcome
                ));
            }
            match &c.settings {
                Some(settings) => {
                    if let Some(i) = &settings.incoming {
                        out.push_str(&format!("   incoming: {i}\n"));
                    }
                    if let Some(o) = &settings.outgoing {
                        out.push_str(&format!("   outgoing: {o}\n"));
                    }
                }
                None => out.push_str("   nothing found: the client would ask the user\n"),
            }
            for f in &c.fragile {
                out.push_str(&format!("   fragile: {f}\n"));
            }
        }
        out.push_str("\n== findings\n");
        for f in &self.findings {
            let level = match f.level {
                Level::Ok => "ok",
                Level::Info => "info",
                Level::Warning => "WARNING",
                Level::Error => "ERROR",
            };
            out.push_str(&format!(" {level:<8} {:<12} {}\n", f.check, f.message));
        }
        out
    }
}
