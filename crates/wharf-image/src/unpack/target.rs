//! The user's target directory: built beside it under a hidden name and renamed into
//! place only when complete, so DIR never holds a half-unpacked tree.
//!
//! DIR must not exist, or be an empty directory (then it is replaced). umoci refuses an
//! existing bundle outright; an empty directory is accepted because `mkdir` first is a
//! common habit and nothing in it can be lost.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{ImageError, Result};

/// A directory being filled beside the target; removed on drop unless committed.
pub struct Staging {
    pub path: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl Staging {
    pub fn beside(target: &Path) -> Result<Staging> {
        check_target(target)?;
        let target = std::path::absolute(target)
            .map_err(ImageError::io(format!("resolve `{}`", target.display())))?;
        let parent = target.parent().ok_or_else(|| {
            ImageError::Invalid(format!("`{}` cannot be a target", target.display()))
        })?;
        let name = target.file_name().ok_or_else(|| {
            ImageError::Invalid(format!("`{}` cannot be a target", target.display()))
        })?;
        let prefix = format!(".{}.wharf-unpack-", name.to_string_lossy());
        remove_dead_stagings(parent, &prefix);
        let path = parent.join(format!("{prefix}{}", std::process::id()));
        if fs::symlink_metadata(&path).is_ok() {
            fs::remove_dir_all(&path)
                .map_err(ImageError::io(format!("remove `{}`", path.display())))?;
        }
        fs::create_dir(&path).map_err(ImageError::io(format!("create `{}`", path.display())))?;
        Ok(Staging {
            path,
            target,
            committed: false,
        })
    }

    /// Renames the finished tree to the target (replacing an empty directory atomically).
    pub fn commit(mut self) -> Result<()> {
        check_target(&self.target)?;
        fs::rename(&self.path, &self.target).map_err(ImageError::io(format!(
            "move the unpacked tree to `{}`",
            self.target.display()
        )))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes what unpacks into the same target left when they were killed (`kill -9`, a
/// power cut): staging directories named `prefix` and the pid of a process that no
/// longer runs. One whose process still runs is another unpack's, and is left alone.
fn remove_dead_stagings(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            tracing::debug!(path = %entry.path().display(), "removing a killed unpack's staging directory");
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn check_target(target: &Path) -> Result<()> {
    match fs::symlink_metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ImageError::io(format!("inspect `{}`", target.display()))(e)),
        Ok(m) if !m.is_dir() => Err(ImageError::Invalid(format!(
            "`{}` exists and is not a directory",
            target.display()
        ))),
        Ok(_) => {
            let mut entries = fs::read_dir(target)
                .map_err(ImageError::io(format!("list `{}`", target.display())))?;
            if entries.next().is_some() {
                return Err(ImageError::Invalid(format!(
                    "`{}` is not empty; unpack needs a new or empty directory",
                    target.display()
                )));
            }
            Ok(())
        }
    }
}
