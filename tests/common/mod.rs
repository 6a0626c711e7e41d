//! Helpers shared by the end-to-end tests: run the real binary, write scratch configs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared`, which CI places beside the clone.
pub fn shared() -> PathBuf {
    let p = root().join("../shared");
    assert!(
        p.is_dir(),
        "../shared (specs, seeds, ISPDB corpus) must sit beside the repository"
    );
    p
}

/// Runs `mailbeacon ARGS…` and returns its output.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailbeacon"))
        .args(args)
        .env_remove("MAILBEACON_CONFIG")
        .current_dir(root())
        .output()
        .expect("the mailbeacon binary runs")
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A scratch directory holding `mailbeacon.toml` with `text`.
pub struct ScratchConfig {
    pub dir: tempfile::TempDir,
}

impl ScratchConfig {
    pub fn new(text: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("mailbeacon.toml"), text).expect("write config");
        ScratchConfig { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("mailbeacon.toml")
    }

    pub fn arg(&self) -> String {
        self.path().display().to_string()
    }
}

/// Whether `program` is on PATH.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| Path::new(&d).join(program).is_file())
    })
}
