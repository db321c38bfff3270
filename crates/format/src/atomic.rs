//! Write-then-rename: the output path only ever names a complete, fsynced file.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{FormatError, Result};

fn io<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> FormatError + 'a {
    move |source| FormatError::Io { path: path.to_path_buf(), op, source }
}

/// A temporary file beside `target` (same directory, so the final rename is atomic), named so a
/// user can tell what left it behind if the process is killed: `.<name>.<pid>-<n>.partial`.
pub fn create_temp(target: &Path) -> Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .ok_or_else(|| FormatError::Io {
            path: target.to_path_buf(),
            op: "use as an output file",
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path has no file name"),
        })?
        .to_string_lossy()
        .into_owned();
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let meta = fs::metadata(dir).map_err(io(dir, "open the output directory"))?;
    if !meta.is_dir() {
        return Err(FormatError::Io {
            path: dir.to_path_buf(),
            op: "open the output directory",
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    if fs::metadata(target).map(|m| m.is_dir()).unwrap_or(false) {
        return Err(FormatError::Io {
            path: target.to_path_buf(),
            op: "write the output file",
            source: std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a directory"),
        });
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{name}.{}-{n}.partial", std::process::id()));
    let file =
        OpenOptions::new().write(true).create_new(true).open(&temp).map_err(io(&temp, "create a temporary output file"))?;
    Ok((temp, file))
}

/// fsync `file`, rename `temp` over `target`, fsync the directory so the rename survives a crash.
pub fn commit(file: File, temp: &Path, target: &Path) -> Result<()> {
    file.sync_all().map_err(io(temp, "fsync"))?;
    drop(file);
    fs::rename(temp, target).map_err(io(target, "rename the finished file into place"))?;
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // Directory fsync is how POSIX makes a rename durable; some filesystems refuse it, which
    // costs durability only, not correctness, so that error is not fatal.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
