//! Where a cloud login is kept between runs: `cloud.json` in tuyactl's configuration folder,
//! written 0600 in a folder created 0700, so that a later run needs no new QR scan and no
//! secret typed again.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::login::{self, Session};
use crate::openapi::Region;

/// The environment variable that overrides the configuration folder.
pub const ENV_DIR: &str = "TUYACTL_CONFIG_DIR";
/// The file name of the stored login.
pub const FILE_NAME: &str = "cloud.json";
/// The largest `cloud.json` read (it holds a few tokens; anything bigger is not ours).
const MAX_FILE: u64 = 1 << 20;

/// Why the stored login cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No folder was given and the platform has none (no `HOME`).
    #[error("no configuration folder: set {ENV_DIR} or pass --config-dir")]
    NoDir,
    /// Nothing is configured yet.
    #[error(
        "no cloud login configured in {dir}: run `tuyactl cloud login` (with the Smart Life / \
         Tuya Smart app) or `tuyactl cloud setup --developer`"
    )]
    NotConfigured {
        /// The folder looked in.
        dir: String,
    },
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {why}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        why: String,
    },
    /// The file is not a stored login.
    #[error("{path} is not a tuyactl cloud login ({why}): remove it and log in again")]
    Parse {
        /// The file.
        path: String,
        /// The cause (never a secret: serde names the position, not the content).
        why: String,
    },
    /// The folder or the file cannot be written.
    #[error("cannot write {path}: {why}")]
    Write {
        /// The file or folder.
        path: String,
        /// The cause.
        why: String,
    },
}

/// Which login `tuyactl cloud devices` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The app account's QR login.
    App,
    /// A developer project's client id and secret.
    Developer,
}

/// An app account's login: what refreshing it and logging in again need.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppLogin {
    /// The app client id the session belongs to.
    pub client_id: String,
    /// The user code the login was started with.
    pub user_code: String,
    /// The session (tokens and the account's API endpoint).
    pub session: Session,
}

impl fmt::Debug for AppLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppLogin")
            .field("client_id", &self.client_id)
            .field("user_code", &"****")
            .field("session", &self.session)
            .finish()
    }
}

/// A developer project's credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Developer {
    /// The project's Access ID / client id.
    pub client_id: String,
    /// The project's Access Secret.
    pub secret: String,
    /// The project's data centre.
    pub region: Region,
    /// A base URL used instead of the region's (a proxy, or a test server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// A device of the account: its owner's devices are listed (tinytuya's wizard). Without
    /// one, the devices of every app account linked to the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

impl fmt::Debug for Developer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Developer")
            .field("client_id", &self.client_id)
            .field("secret", &"****")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("device_id", &self.device_id)
            .finish()
    }
}

impl Developer {
    /// The base URL to call: the override, else the region's.
    pub fn base_url(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| self.region.endpoint())
    }
}

/// The contents of `cloud.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudConfig {
    /// The login to use; the last one set up.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// The app login, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppLogin>,
    /// The developer project, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer: Option<Developer>,
}

impl CloudConfig {
    /// Whether a login is configured.
    pub fn is_configured(&self) -> bool {
        self.app.is_some() || self.developer.is_some()
    }

    /// The login to use: the chosen one when it is there, else whichever is.
    pub fn method(&self) -> Option<Method> {
        match self.method {
            Some(Method::App) if self.app.is_some() => Some(Method::App),
            Some(Method::Developer) if self.developer.is_some() => Some(Method::Developer),
            _ if self.app.is_some() => Some(Method::App),
            _ if self.developer.is_some() => Some(Method::Developer),
            _ => None,
        }
    }
}

/// The configuration folder and its `cloud.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The store in `dir` when given, else in `$TUYACTL_CONFIG_DIR`, else in the platform's
    /// configuration folder (`~/.config/tuyactl` on Linux).
    pub fn locate(dir: Option<&Path>) -> Result<Self, StoreError> {
        if let Some(d) = dir {
            return Ok(Self::at(d));
        }
        if let Some(d) = std::env::var_os(ENV_DIR).filter(|d| !d.is_empty()) {
            return Ok(Self::at(PathBuf::from(d)));
        }
        dirs::config_dir()
            .map(|d| Self::at(d.join("tuyactl")))
            .ok_or(StoreError::NoDir)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `cloud.json`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The stored configuration; empty when there is none yet.
    pub fn load(&self) -> Result<CloudConfig, StoreError> {
        let path = self.path();
        let shown = path.display().to_string();
        let bytes = match read_bounded(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CloudConfig::default()),
            Err(e) => {
                return Err(StoreError::Read {
                    path: shown,
                    why: e.to_string(),
                })
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Parse {
            path: shown,
            why: format!("line {}, column {}", e.line(), e.column()),
        })
    }

    /// The stored configuration, or [`StoreError::NotConfigured`] when there is none.
    pub fn load_configured(&self) -> Result<CloudConfig, StoreError> {
        let c = self.load()?;
        if c.is_configured() {
            Ok(c)
        } else {
            Err(StoreError::NotConfigured {
                dir: self.dir.display().to_string(),
            })
        }
    }

    /// Writes `config`: the folder created 0700 when missing, the file 0600 from its first
    /// byte, atomically (the previous one kept as `cloud.json.bak`, 0600 too).
    pub fn save(&self, config: &CloudConfig) -> Result<(), StoreError> {
        let err = |p: &Path, e: std::io::Error| StoreError::Write {
            path: p.display().to_string(),
            why: e.to_string(),
        };
        create_private_dir(&self.dir).map_err(|e| err(&self.dir, e))?;
        let text = serde_json::to_vec_pretty(config).map_err(|e| StoreError::Write {
            path: self.path().display().to_string(),
            why: e.to_string(),
        })?;
        tuya_devices::write_private(&self.path(), &text).map_err(|e| err(&self.path(), e))?;
        Ok(())
    }

    /// Removes the stored login and its backup (either may be missing already).
    pub fn forget(&self) -> Result<(), StoreError> {
        let path = self.path();
        for p in [tuya_devices::backup_path(&path), path] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StoreError::Write {
                        path: p.display().to_string(),
                        why: e.to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Whether a login is stored here (for hints; any error counts as no).
    pub fn has_login(&self) -> bool {
        self.load().is_ok_and(|c| c.is_configured())
    }
}

/// Reads a file of at most [`MAX_FILE`] bytes.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    f.take(MAX_FILE + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE} bytes"),
        ));
    }
    Ok(out)
}

/// Creates `dir` (and its parents) when missing; the folder itself is made 0700.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)?;
    #[cfg(unix)]
    {
        // The umask may have narrowed the mode further, never widened it; set it exactly.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The default app client id, for a login stored without one.
pub fn default_client_id() -> String {
    login::CLIENT_ID.to_string()
}

/// What to tell a user whose device refused its key (re-paired devices get a new one): with a
/// login stored in `store`, the one command that fetches it; without, how to log in first.
/// `devices` is the devices.json in use.
pub fn rekey_advice(store: Option<&Store>, devices: &Path) -> String {
    let write = format!("tuyactl cloud devices --write {}", devices.display());
    match store {
        Some(s) if s.has_login() => {
            format!("a cloud login is configured: `{write}` fetches its new key")
        }
        _ => format!(
            "if it was re-paired, its key changed: `tuyactl cloud login`, then `{write}`, \
             fetches the new one"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("tuya-cloud-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn config() -> CloudConfig {
        CloudConfig {
            method: Some(Method::Developer),
            app: None,
            developer: Some(Developer {
                client_id: "cid".into(),
                secret: "s3cr3t-value".into(),
                region: Region::Eu,
                endpoint: None,
                device_id: Some("dev1".into()),
            }),
        }
    }

    #[test]
    fn saved_private_and_read_back() {
        let dir = temp("save").join("nested");
        let s = Store::at(&dir);
        assert_eq!(s.load().unwrap(), CloudConfig::default());
        assert!(matches!(
            s.load_configured(),
            Err(StoreError::NotConfigured { .. })
        ));
        s.save(&config()).unwrap();
        assert_eq!(s.load_configured().unwrap(), config());
        assert!(s.has_login());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&s.path()), 0o600);
        }
        assert!(!format!("{:?}", s.load().unwrap()).contains("s3cr3t"));
        assert_eq!(config().method(), Some(Method::Developer));
        let advice = rekey_advice(Some(&s), Path::new("my devices.json"));
        assert!(advice.contains("configured") && advice.contains("--write my devices.json"));
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    #[test]
    fn garbage_is_named_not_echoed() {
        let dir = temp("garbage");
        std::fs::create_dir_all(&dir).unwrap();
        let s = Store::at(&dir);
        std::fs::write(s.path(), "{\"use\": \"app\", \"secret-ish\": [").unwrap();
        let e = s.load().unwrap_err().to_string();
        assert!(
            e.contains("not a tuyactl cloud login") && !e.contains("secret-ish"),
            "{e}"
        );
        std::fs::write(s.path(), vec![b' '; (MAX_FILE + 10) as usize]).unwrap();
        assert!(matches!(s.load(), Err(StoreError::Read { .. })));
        assert!(!s.has_login());
        assert!(rekey_advice(Some(&s), Path::new("d.json")).contains("`tuyactl cloud login`"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
