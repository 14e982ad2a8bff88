//! Durable file-system primitives: every commit in the store goes through
//! these, so that a crash at any instruction leaves either the old state or
//! the new one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Flushes a file's data and metadata to disk.
pub fn fsync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Flushes a directory entry table to disk (makes renames and creations durable).
pub fn fsync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Fsyncs every file and directory under `root`, depth first.
pub fn fsync_tree(root: &Path) -> Result<()> {
    for entry in fs::read_dir(root).map_err(|e| Error::io(root, e))? {
        let entry = entry.map_err(|e| Error::io(root, e))?;
        let path = entry.path();
        let ty = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ty.is_dir() {
            fsync_tree(&path)?;
        } else {
            fsync_file(&path)?;
        }
    }
    fsync_dir(root)
}

/// Replaces `path` with `bytes` atomically: write `path.tmp`, fsync, rename,
/// fsync the parent directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    fsync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Creates a new file that only its owner may read or write (mode 0600),
/// failing if it exists.
pub fn create_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// Fault injection for crash tests: when the environment variable
/// `PROBITY_FAILPOINT` equals `name`, the process aborts here, as a power cut
/// or `kill -9` would stop it. Costs one environment lookup per call; called
/// only at commit boundaries, never per row.
pub fn failpoint(name: &str) {
    if std::env::var_os("PROBITY_FAILPOINT").is_some_and(|v| v == name) {
        eprintln!("probity: failpoint {name}: aborting");
        std::process::abort();
    }
}
