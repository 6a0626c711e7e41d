//! Issued certificates on disk: `state_dir/acme/<domain>/` holds `chain.pem`, `key.pem` (0600)
//! and `names` (one per line); `state_dir/acme/account.json` (0600) the ACME account.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// Why the store cannot be read or written; names the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct StoreError {
    /// The file or directory.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// A certificate issued for one domain.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The domain it was ordered for.
    pub domain: String,
    /// The names it covers.
    pub names: Vec<String>,
    /// The chain, leaf first (PEM).
    pub chain_pem: String,
    /// Its private key (PEM).
    pub key_pem: String,
    /// Validity start and end (seconds since the epoch).
    pub not_before: i64,
    /// See `not_before`.
    pub not_after: i64,
}

impl Issued {
    /// Reads validity from `chain_pem`'s first certificate.
    pub fn new(
        domain: &str,
        names: Vec<String>,
        chain_pem: String,
        key_pem: String,
    ) -> Result<Issued, String> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(chain_pem.as_bytes())
            .map_err(|_| "no PEM certificate in the chain".to_owned())?;
        let cert = pem
            .parse_x509()
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        Ok(Issued {
            domain: domain.to_owned(),
            names,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            chain_pem,
            key_pem,
        })
    }

    /// When it should be renewed: two thirds into its lifetime (Let's Encrypt's own advice for
    /// 90-day certificates: renew with 30 days left).
    pub fn renew_at(&self) -> i64 {
        self.not_before + (self.not_after - self.not_before) * 2 / 3
    }

    /// Whether it covers exactly `names` (any order).
    pub fn covers(&self, names: &[String]) -> bool {
        let mut a = self.names.clone();
        let mut b = names.to_vec();
        a.sort();
        b.sort();
        a == b
    }
}

/// The `acme` directory of the state directory.
#[derive(Debug, Clone)]
pub struct IssuedStore {
    dir: PathBuf,
}

impl IssuedStore {
    /// The store under `state_dir`.
    pub fn in_state_dir(state_dir: &Path) -> IssuedStore {
        IssuedStore {
            dir: state_dir.join("acme"),
        }
    }

    /// The account file.
    pub fn account_file(&self) -> PathBuf {
        self.dir.join("account.json")
    }

    fn domain_dir(&self, domain: &str) -> PathBuf {
        self.dir
            .join(domain.trim_end_matches('.').to_ascii_lowercase())
    }

    /// The certificate issued for `domain`, if one is stored and readable.
    pub fn load(&self, domain: &str) -> Option<Issued> {
        let dir = self.domain_dir(domain);
        let chain = std::fs::read_to_string(dir.join("chain.pem")).ok()?;
        let key = std::fs::read_to_string(dir.join("key.pem")).ok()?;
        let names = std::fs::read_to_string(dir.join("names")).ok()?;
        let names = names
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        Issued::new(domain, names, chain, key).ok()
    }

    /// Every stored certificate.
    pub fn all(&self) -> Vec<Issued> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<Issued> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| self.load(&e.file_name().to_string_lossy()))
            .collect();
        out.sort_by(|a, b| a.domain.cmp(&b.domain));
        out
    }

    /// Stores `issued` (chain, key 0600, names), each file written whole then renamed.
    pub fn save(&self, issued: &Issued) -> Result<(), StoreError> {
        let dir = self.domain_dir(&issued.domain);
        make_dir(&dir)?;
        write_file(&dir.join("key.pem"), issued.key_pem.as_bytes(), 0o600)?;
        write_file(&dir.join("chain.pem"), issued.chain_pem.as_bytes(), 0o644)?;
        write_file(
            &dir.join("names"),
            format!("{}\n", issued.names.join("\n")).as_bytes(),
            0o644,
        )
    }

    /// The stored account credentials (JSON), if any.
    pub fn load_account(&self) -> Option<String> {
        std::fs::read_to_string(self.account_file()).ok()
    }

    /// Stores the account credentials (0600).
    pub fn save_account(&self, json: &str) -> Result<(), StoreError> {
        make_dir(&self.dir)?;
        write_file(&self.account_file(), json.as_bytes(), 0o600)
    }
}

fn make_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StoreError {
            path: dir.to_owned(),
            reason: e.to_string(),
        })
}

/// Writes `bytes` to `path` through a temporary file created with `mode`, then a rename.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let err = |e: std::io::Error| StoreError {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
