//! Leaving root once the listeners are bound: `[server] user`/`group`.
//!
//! Binding ports 53, 80 and 443 needs privilege; answering on them does not. When started as
//! root with a user configured, `serve` binds every socket, hands the state directory to that
//! user, and becomes it (supplementary groups cleared, group then user, so nothing can be
//! regained). Without root the setting is ignored with a warning: the unit file's
//! `CAP_NET_BIND_SERVICE` is the other way to reach low ports.

use std::path::Path;

use mailbeacon_model::RunAs;
use nix::unistd::{Gid, Group, Uid, User, chown, setgid, setgroups, setuid};

/// Becomes `run_as` if this process is root; says what happened, or why it could not.
pub fn drop_to(run_as: &RunAs, state_dir: &Path) -> Result<(), String> {
    if !Uid::effective().is_root() {
        tracing::warn!(
            "[server] user = \"{}\" is ignored: not started as root",
            run_as.user
        );
        return Ok(());
    }
    let user = User::from_name(&run_as.user)
        .map_err(|e| format!("cannot look up user `{}`: {e}", run_as.user))?
        .ok_or_else(|| format!("[server] user `{}` does not exist", run_as.user))?;
    let gid: Gid = match &run_as.group {
        Some(name) => {
            Group::from_name(name)
                .map_err(|e| format!("cannot look up group `{name}`: {e}"))?
                .ok_or_else(|| format!("[server] group `{name}` does not exist"))?
                .gid
        }
        None => user.gid,
    };
    std::fs::create_dir_all(state_dir)
        .map_err(|e| format!("cannot create {}: {e}", state_dir.display()))?;
    hand_over(state_dir, user.uid, gid)?;
    setgroups(&[gid]).map_err(|e| format!("cannot clear supplementary groups: {e}"))?;
    setgid(gid).map_err(|e| format!("cannot become group {gid}: {e}"))?;
    setuid(user.uid).map_err(|e| format!("cannot become user `{}`: {e}", run_as.user))?;
    if Uid::effective().is_root() || Uid::current().is_root() {
        return Err("still root after setuid".into());
    }
    tracing::info!(
        "running as user {} (uid {}, gid {gid})",
        run_as.user,
        user.uid
    );
    Ok(())
}

/// Gives `dir` and everything in it to `uid`:`gid`, so the server can keep its serials and
/// certificates after leaving root. Symbolic links are not followed.
fn hand_over(dir: &Path, uid: Uid, gid: Gid) -> Result<(), String> {
    chown(dir, Some(uid), Some(gid)).map_err(|e| format!("cannot chown {}: {e}", dir.display()))?;
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            hand_over(&path, uid, gid)?;
        } else if kind.is_file() {
            chown(&path, Some(uid), Some(gid))
                .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
        }
    }
    Ok(())
}
