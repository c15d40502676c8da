//! File I/O with the toolkit's guarantees: every error names the file; outputs appear whole
//! or not at all (written to a temporary file in the same directory, synced, then renamed);
//! secrets are created with mode 0600 and never overwrite an existing file.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::io(&e).at(path.display()))
}

/// Reads a secret file, refusing one that others may read (as ssh does with its keys).
pub fn read_secret(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|e| Error::io(&e).at(path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        let why = format!("secret file has mode {mode:04o}, readable by others; run chmod 600 on it");
        return Err(Error::refused(why).at(path.display()));
    }
    read(path).map(zeroize::Zeroizing::new)
}

/// Writes `bytes` to `path` atomically, replacing any previous file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_beside(path, false)?;
    finish(tmp, bytes, path, true)
}

/// Writes `bytes` to `path` atomically, failing if `path` exists.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_beside(path, false)?;
    finish(tmp, bytes, path, false)
}

/// Writes a secret to a new file with mode 0600, failing if `path` exists.
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_beside(path, true)?;
    finish(tmp, bytes, path, false)
}

/// An output written as a stream: it appears at its path, whole, only when
/// [`Pending::persist`] is called (dropped before, it leaves nothing).
pub struct Pending {
    file: std::io::BufWriter<tempfile::NamedTempFile>,
    path: std::path::PathBuf,
}

/// Starts writing `path` (a file beside it until [`Pending::persist`]).
pub fn pending(path: &Path) -> Result<Pending> {
    let tmp = temp_beside(path, false)?;
    Ok(Pending { file: std::io::BufWriter::with_capacity(1 << 20, tmp), path: path.to_path_buf() })
}

impl Pending {
    /// Syncs the file and puts it at its path, replacing any file there.
    pub fn persist(self) -> Result<()> {
        self.put(true)
    }

    /// Syncs the file and puts it at its path, which must not exist (status 73 if it does).
    pub fn persist_new(self) -> Result<()> {
        self.put(false)
    }

    fn put(self, replace: bool) -> Result<()> {
        let io = |e: std::io::Error| Error::io(&e).at(self.path.display());
        let tmp = self.file.into_inner().map_err(|e| io(e.into_error()))?;
        tmp.as_file().sync_all().map_err(io)?;
        if replace {
            tmp.persist(&self.path).map_err(|e| io(e.error))?;
        } else {
            tmp.persist_noclobber(&self.path).map_err(|e| io(e.error))?;
        }
        sync_parent(&self.path)
    }
}

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Creates a new SQLite database at `path` (failing if it exists) whose file appears only once
/// `init` has built it: it is made under a temporary name beside `path`, synced, then linked in.
pub fn create_database(
    path: &Path,
    what: &str,
    init: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<()>,
) -> Result<()> {
    let tmp = temp_beside(path, true)?;
    {
        let conn = rusqlite::Connection::open(tmp.path()).map_err(|e| Error::database(what, path, &e))?;
        init(&conn).map_err(|e| Error::database(what, path, &e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(&e).at(path.display()))?;
    tmp.persist_noclobber(path).map_err(|e| Error::io(&e.error).at(path.display()))?;
    sync_parent(path)
}

/// Creates a directory (and its parents) with mode 0700 if it does not exist.
pub fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::new(crate::ErrorKind::CannotCreate, e.to_string()).at(path.display()))
}

/// How the temporary files of atomic writes begin.
const TEMP_PREFIX: &str = ".atomic-commerce-";

/// Removes from `dir` the temporary files that writes killed before their rename left behind.
/// Only for a directory whose writers the caller has excluded (by a lock).
pub fn remove_stale_temporaries(dir: &Path) -> Result<()> {
    let io = |e: std::io::Error| Error::io(&e).at(dir.display());
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            fs::remove_file(entry.path()).map_err(io)?;
        }
    }
    Ok(())
}

fn temp_beside(path: &Path, secret: bool) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    use std::os::unix::fs::PermissionsExt;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX);
    // Secrets are the owner's alone; other outputs are readable like any file a tool writes.
    builder.permissions(fs::Permissions::from_mode(if secret { 0o600 } else { 0o644 }));
    builder.tempfile_in(dir).map_err(|e| Error::new(crate::ErrorKind::CannotCreate, e.to_string()).at(path.display()))
}

fn finish(mut tmp: tempfile::NamedTempFile, bytes: &[u8], path: &Path, replace: bool) -> Result<()> {
    let io = |e: std::io::Error| Error::io(&e).at(path.display());
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    if replace {
        tmp.persist(path).map_err(|e| io(e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| io(e.error))?;
    }
    sync_parent(path)
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(&e).at(dir.display()))
}
