//! Merging what a scan found into the user's devices.json (see [`tuya_devices::merge`]) and
//! writing it back safely.

use std::io;
use std::path::{Path, PathBuf};

pub use tuya_devices::merge::{Finding, MergeSummary};
use tuya_devices::DevicesFile;

/// Writes `file` to `path` as pretty JSON, atomically, mode 0600 from the first byte, keeping
/// the previous file as `<path>.bak` (0600 too). Returns the backup's path, if any.
pub fn write_devices_file(path: &Path, file: &DevicesFile) -> io::Result<Option<PathBuf>> {
    let mut text = serde_json::to_vec_pretty(&file.to_value()).map_err(io::Error::other)?;
    text.push(b'\n');
    tuya_devices::write_private(path, &text)
}
