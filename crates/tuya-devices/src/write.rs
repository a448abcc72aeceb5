//! Writing a file that holds keys: atomically, and readable by the owner only from its first
//! byte — the temporary file and the backup included.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Opens `path` for writing, truncated, with mode 0600 before anything is written (also when
/// the file existed with a wider mode).
fn open_private(path: &Path, create_new: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true);
    if create_new {
        o.create_new(true);
    } else {
        o.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let f = o.open(path)?;
    #[cfg(unix)]
    {
        // `mode` applies to new files only: an existing one keeps its bits unless told.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(f)
}

/// A warning when the file at `path`, which holds local keys, can be read by users other than
/// its owner, naming the command that fixes it; `None` when it is private (or unreadable, or
/// not on Unix).
pub fn exposure_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        (mode & 0o077 != 0).then(|| {
            format!(
                "{} can be read by other users and holds local keys: chmod 600 {}",
                path.display(),
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Where [`write_private`] keeps the previous version of `path`: `<path>.bak`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".bak");
    PathBuf::from(s)
}

/// Writes `bytes` to `path` atomically (a temporary file in the same folder, then a rename),
/// mode 0600, keeping the previous file as `<path>.bak` (0600 too). Returns the backup's path
/// when there was a previous file.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<Option<PathBuf>> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the file has no name"))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp); // a stale one from a crashed run
    {
        let mut f = open_private(&tmp, true)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    let backup = match std::fs::read(path) {
        Ok(old) => {
            let b = backup_path(path);
            let mut f = open_private(&b, false)?;
            f.write_all(&old)?;
            f.sync_all()?;
            Some(b)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    std::fs::rename(&tmp, path)?;
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_from_the_first_byte_with_a_private_backup() {
        let dir = std::env::temp_dir().join(format!("tuya-devices-write-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("devices.json");
        assert_eq!(write_private(&p, b"[1]").unwrap(), None);
        // A backup that exists with a wide mode is narrowed before the keys go in.
        let bak = dir.join("devices.json.bak");
        std::fs::write(&bak, b"old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&bak, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let b = write_private(&p, b"[2]").unwrap().unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), b"[1]");
        assert_eq!(std::fs::read(&p).unwrap(), b"[2]");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [&p, &b] {
                let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", f.display());
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
