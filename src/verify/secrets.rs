//! Sets of active secret values, for rotation without downtime.
//!
//! A secret may have several active values at once (the old and the new
//! during a rotation). Values come from the config (`${ENV}` expanded) and
//! from a file with one value per line (Azure Key Vault through the Secrets
//! Store CSI driver rewrites the mounted file on rotation). The file is
//! re-read when its modification time or size changes, checked at most
//! once a second, so a rotation needs no restart.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use crate::config::Secret;

/// How often a secret file's metadata is looked at.
const RECHECK: Duration = Duration::from_secs(1);

/// One active value and where it came from (logged; never the value).
#[derive(Clone, Debug)]
pub struct KeyedSecret {
    /// `config[0]`, `ado-hook-password#2` (file name and line).
    pub key_id: String,
    /// The value.
    pub secret: Secret,
}

/// The active values of one secret.
#[derive(Debug)]
pub struct SecretSet {
    inline: Vec<KeyedSecret>,
    file: Option<SecretFile>,
}

#[derive(Debug)]
struct SecretFile {
    path: PathBuf,
    state: Mutex<FileState>,
}

#[derive(Debug)]
struct FileState {
    checked: Instant,
    stamp: Stamp,
    values: Vec<KeyedSecret>,
}

impl SecretSet {
    /// A set from config values and an optional file. Fails when the file
    /// cannot be read or the set would be empty.
    pub fn new(inline: Vec<Secret>, file: Option<PathBuf>) -> Result<Self, String> {
        let inline = inline
            .into_iter()
            .enumerate()
            .filter(|(_, s)| !s.expose().is_empty())
            .map(|(i, secret)| KeyedSecret {
                key_id: format!("config[{i}]"),
                secret,
            })
            .collect();
        let file = match file {
            None => None,
            Some(path) => {
                let (stamp, values) = read_file(&path)?;
                Some(SecretFile {
                    path,
                    state: Mutex::new(FileState {
                        checked: Instant::now(),
                        stamp,
                        values,
                    }),
                })
            }
        };
        let set = Self { inline, file };
        if set.values().is_empty() {
            return Err("no active value (empty value or file)".into());
        }
        Ok(set)
    }

    /// The active values now (re-reading the file if it changed).
    pub fn values(&self) -> Vec<KeyedSecret> {
        let mut out = self.inline.clone();
        if let Some(file) = &self.file {
            out.extend(file.current());
        }
        out
    }
}

impl SecretFile {
    fn current(&self) -> Vec<KeyedSecret> {
        let Ok(mut state) = self.state.lock() else {
            return vec![];
        };
        if state.checked.elapsed() >= RECHECK {
            state.checked = Instant::now();
            let stamp = stamp(&self.path);
            if stamp != state.stamp {
                match read_file(&self.path) {
                    Ok((stamp, values)) if !values.is_empty() => {
                        tracing::info!(file = %self.path.display(), values = values.len(), "secret file changed; new values active");
                        crate::metrics::count_reload("secret", true);
                        state.stamp = stamp;
                        state.values = values;
                    }
                    // A file caught half-written, or removed: keep the
                    // values that worked until a good version appears.
                    Ok(_) => {
                        tracing::warn!(file = %self.path.display(), "secret file is empty; keeping the previous values");
                        crate::metrics::count_reload("secret", false);
                    }
                    Err(e) => {
                        tracing::warn!(file = %self.path.display(), error = %e, "secret file unreadable; keeping the previous values");
                        crate::metrics::count_reload("secret", false);
                    }
                }
            }
        }
        state.values.clone()
    }
}

/// What identifies a version of a file: modification time and size.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn read_file(path: &Path) -> Result<(Stamp, Vec<KeyedSecret>), String> {
    let stamp = stamp(path);
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path
        .file_name()
        .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
    let values = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| KeyedSecret {
            key_id: format!("{name}#{}", i + 1),
            secret: Secret::new(l),
        })
        .collect();
    Ok((stamp, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_file_values_are_all_active() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("pw");
        std::fs::write(&f, "new-value\nold-value\n").expect("write");
        let set = SecretSet::new(vec![Secret::new("inline")], Some(f)).expect("set");
        let ids: Vec<_> = set.values().into_iter().map(|k| k.key_id).collect();
        assert_eq!(ids, ["config[0]", "pw#1", "pw#2"]);
    }

    #[test]
    fn a_rewritten_file_takes_effect_without_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("pw");
        std::fs::write(&f, "first\n").expect("write");
        let set = SecretSet::new(vec![], Some(f.clone())).expect("set");
        std::fs::write(&f, "second-value-longer\n").expect("rewrite");
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        let values: Vec<_> = set
            .values()
            .into_iter()
            .map(|k| k.secret.expose().to_owned())
            .collect();
        assert_eq!(values, ["second-value-longer"]);
        // Emptied mid-rotation: the previous values stay.
        std::fs::write(&f, "").expect("truncate");
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert_eq!(set.values().len(), 1);
    }

    #[test]
    fn an_empty_set_is_an_error() {
        assert!(SecretSet::new(vec![Secret::new("")], None).is_err());
    }
}
