//! Where a local key given on the command line comes from: `--key` (visible to every user in
//! `ps`), `TUYA_LOCAL_KEY`, `--key -` (one line of standard input), or `--key-file PATH`.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

/// The most read from a key file or standard input (a key is 16 characters).
const MAX_KEY_INPUT: u64 = 4096;

/// The local key options.
#[derive(clap::Args, Clone, Default)]
pub struct KeyArgs {
    /// Local key, 16 characters; `-` reads it from standard input. A flag is visible to every
    /// user in `ps`: prefer TUYA_LOCAL_KEY, `--key -` or --key-file.
    #[arg(long, env = "TUYA_LOCAL_KEY", hide_env_values = true)]
    key: Option<String>,
    /// A file whose first line is the local key (keep it mode 0600); it wins over --key and
    /// TUYA_LOCAL_KEY.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
}

/// One line of `r` without its line end, reading at most [`MAX_KEY_INPUT`] bytes (what is
/// piped in is untrusted); `None` at the end of the input.
pub fn bounded_line(r: impl std::io::Read, what: &str) -> anyhow::Result<Option<String>> {
    let mut line = String::new();
    let n = std::io::BufReader::new(r.take(MAX_KEY_INPUT))
        .read_line(&mut line)
        .with_context(|| format!("reading {what}"))?;
    Ok((n > 0).then(|| line.trim_end_matches(['\r', '\n']).to_string()))
}

/// The first line of `r`, which must hold a key.
fn first_line(r: impl std::io::Read, what: &str) -> anyhow::Result<String> {
    match bounded_line(r, what)? {
        Some(key) if !key.is_empty() => Ok(key),
        _ => bail!("no key in {what}"),
    }
}

/// A key file readable by others gets a warning with the command that fixes it.
pub fn warn_if_shared(path: &Path) {
    if let Some(w) = tuya_devices::exposure_warning(path) {
        eprintln!("warning: {w}");
    }
}

impl KeyArgs {
    /// The key, from whichever source was given; `None` when none was.
    pub fn value(&self) -> anyhow::Result<Option<String>> {
        if let Some(path) = &self.key_file {
            let f = std::fs::File::open(path)
                .with_context(|| format!("opening the key file {}", path.display()))?;
            warn_if_shared(path);
            return first_line(f, &path.display().to_string()).map(Some);
        }
        match self.key.as_deref() {
            Some("-") => first_line(std::io::stdin().lock(), "standard input").map(Some),
            Some(k) => Ok(Some(k.to_string())),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_limits() {
        assert_eq!(
            first_line(&b"k3y!<&>k3y!<&>xy\r\nrest"[..], "t").unwrap(),
            "k3y!<&>k3y!<&>xy"
        );
        assert_eq!(
            first_line(&b" spaced key     \n"[..], "t").unwrap(),
            " spaced key     "
        );
        assert!(first_line(&b"\n"[..], "t")
            .unwrap_err()
            .to_string()
            .contains("no key"));
        let long = vec![b'a'; 10_000];
        assert_eq!(
            first_line(&long[..], "t").unwrap().len(),
            MAX_KEY_INPUT as usize
        );
    }
}
