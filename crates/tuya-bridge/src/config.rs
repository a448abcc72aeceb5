//! The bridge's settings: a `bridge.toml` file, with command-line flags on top.
//!
//! ```toml
//! mqtt = "mqtt://user:secret@127.0.0.1:1883"   # or mqtts:// (TLS)
//! devices = "devices.json"
//! prefix = "tuya"                              # tuya-mqtt's topic prefix
//! instance = "home"                            # client id and tuya/bridge/<instance>/status
//! shard = "1/2"                                # this instance's share of devices.json
//! discovery_prefix = "homeassistant"           # "" turns Home Assistant discovery off
//! command_timeout_secs = 30
//!
//! [device."Kitchen Plug".dps."19"]             # by name or id: how DP 19 appears in HA
//! component = "sensor"
//! unit = "W"
//! scale = 1
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::ha::DpOverride;
use crate::shard::Shard;

/// Why the settings are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("cannot read {path}: {why}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        why: String,
    },
    /// The config file is not valid TOML of the expected shape.
    #[error("{path}: {why}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The broker URL is not usable.
    #[error("bad MQTT URL {url:?}: {why} (expected mqtt://[user:pass@]host[:port] or mqtts://…)")]
    Url {
        /// The URL, with any password masked.
        url: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Something required is missing.
    #[error("{0}")]
    Missing(&'static str),
    /// A bad shard.
    #[error("{0}")]
    Shard(String),
    /// The web page's settings are unusable (or unsafe).
    #[error("{0}")]
    Http(String),
}

/// Where the broker is.
#[derive(Clone, PartialEq, Eq)]
pub struct Broker {
    /// Host name or address.
    pub host: String,
    /// Port (1883, or 8883 for TLS).
    pub port: u16,
    /// TLS (`mqtts://`).
    pub tls: bool,
    /// User name.
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "****"))
            .finish()
    }
}

impl Broker {
    /// Parses `mqtt://[user[:pass]@]host[:port]` or `mqtts://…`.
    ///
    /// ```
    /// let b = tuya_bridge::config::Broker::parse("mqtts://me:pw@broker.lan").unwrap();
    /// assert_eq!((b.host.as_str(), b.port, b.tls), ("broker.lan", 8883, true));
    /// ```
    pub fn parse(url: &str) -> Result<Broker, ConfigError> {
        let masked = mask(url);
        let bad = |why| ConfigError::Url {
            url: masked.clone(),
            why,
        };
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else if url.contains("://") {
            return Err(bad("unknown scheme"));
        } else {
            (false, url)
        };
        let rest = rest.trim_end_matches('/');
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(a.to_string()), None),
            },
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            // [::1]:1883
            let (h, p) = h.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() || host.contains('/') {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
            None if tls => 8883,
            None => 1883,
        };
        Ok(Broker {
            host,
            port,
            tls,
            user,
            password,
        })
    }
}

/// The URL with its password replaced, for messages. The scheme is optional, as in
/// [`Broker::parse`]: `me:secret@host` has a password too.
fn mask(url: &str) -> String {
    let start = url.find("://").map_or(0, |s| s + 3);
    match url.rfind('@') {
        Some(at) if at >= start => match url[start..at].split_once(':') {
            Some((u, _)) => format!("{}{u}:****{}", &url[..start], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

/// Overrides for one device in the config file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceOverrides {
    /// By DP id.
    pub dps: BTreeMap<String, DpOverride>,
}

/// `bridge.toml`, every field optional. Its `Debug` masks the broker password and the HTTP
/// token.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Broker URL.
    pub mqtt: Option<String>,
    /// devices.json.
    pub devices: Option<PathBuf>,
    /// Topic prefix.
    pub prefix: Option<String>,
    /// Instance name.
    pub instance: Option<String>,
    /// `K/N`.
    pub shard: Option<String>,
    /// Home Assistant discovery prefix ("" = off).
    pub discovery_prefix: Option<String>,
    /// How long a command may wait for an unreachable device.
    pub command_timeout_secs: Option<u64>,
    /// A CA certificate (PEM) for `mqtts://` brokers with a private CA.
    pub ca_file: Option<PathBuf>,
    /// Listen for the devices' UDP announcements (6666/6667) to notice a changed protocol
    /// version or address (default: on).
    pub announcements: Option<bool>,
    /// Fetch a device's new key from the stored cloud login when it refuses its key (it was
    /// re-paired), write it into devices.json and reconnect (default: off).
    pub refresh_keys: Option<bool>,
    /// Where the cloud login is kept (default: tuyactl's configuration folder).
    pub cloud_config_dir: Option<PathBuf>,
    /// Serve the web page and HTTP API on this address (`127.0.0.1:8080`).
    pub http: Option<String>,
    /// The bearer token the API asks for (required to serve on a non-loopback address).
    pub http_token: Option<String>,
    /// A file holding the token (first line), instead of `http_token`.
    pub http_token_file: Option<PathBuf>,
    /// Per-device settings, by name or id.
    #[serde(rename = "device")]
    pub device: BTreeMap<String, DeviceOverrides>,
}

impl std::fmt::Debug for FileConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileConfig")
            .field("mqtt", &self.mqtt.as_deref().map(mask))
            .field("devices", &self.devices)
            .field("prefix", &self.prefix)
            .field("instance", &self.instance)
            .field("shard", &self.shard)
            .field("discovery_prefix", &self.discovery_prefix)
            .field("command_timeout_secs", &self.command_timeout_secs)
            .field("ca_file", &self.ca_file)
            .field("announcements", &self.announcements)
            .field("refresh_keys", &self.refresh_keys)
            .field("cloud_config_dir", &self.cloud_config_dir)
            .field("http", &self.http)
            .field("http_token", &self.http_token.as_ref().map(|_| "****"))
            .field("http_token_file", &self.http_token_file)
            .field("device", &self.device)
            .finish()
    }
}

impl FileConfig {
    /// Reads and parses a bridge.toml.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of a bridge.toml; `path` names it in the error.
    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            why: e.to_string(),
        })
    }
}

/// Everything the bridge runs with.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The broker; `None`: no MQTT (the web page alone).
    pub broker: Option<Broker>,
    /// The web page and HTTP API; `None`: not served.
    pub http: Option<HttpSettings>,
    /// devices.json.
    pub devices: PathBuf,
    /// Topic prefix (`tuya`).
    pub prefix: String,
    /// Instance name (client id `tuyactl-<instance>`).
    pub instance: String,
    /// This instance's shard.
    pub shard: Shard,
    /// Home Assistant discovery prefix; `None` turns discovery off.
    pub discovery_prefix: Option<String>,
    /// How long a command may wait for an unreachable device before failing on `result`.
    pub command_timeout: Duration,
    /// CA certificate for TLS brokers.
    pub ca_file: Option<PathBuf>,
    /// Per-device overrides, by name or id.
    pub overrides: BTreeMap<String, DeviceOverrides>,
    /// Delay range before re-announcing discovery when Home Assistant comes online.
    pub rediscovery_delay: (Duration, Duration),
    /// Longest wait between broker reconnect attempts.
    pub reconnect_max: Duration,
    /// Where to listen for device announcements; `None`: not at all.
    pub announcements: Option<tuya_local::discovery::ListenerConfig>,
    /// Fetch re-paired devices' new keys from the cloud login; `None`: off.
    pub refresh_keys: Option<KeyRefresh>,
    /// The cloud login's folder, for the re-keying hint (and for `refresh_keys`).
    pub cloud_config_dir: Option<PathBuf>,
}

/// Where and how the web page is served.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// The address to listen on.
    pub addr: std::net::SocketAddr,
    /// The bearer token every API request must carry.
    pub token: Option<String>,
}

impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSettings")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "****"))
            .finish()
    }
}

impl HttpSettings {
    /// The settings from the flags over the file: the address parsed, the token read from
    /// its file when given so, and refused without a token on anything but loopback (the
    /// API switches devices).
    fn merge(flags: &FileConfig, file: &FileConfig) -> Result<Option<Self>, ConfigError> {
        let Some(addr) = flags.http.as_ref().or(file.http.as_ref()) else {
            return Ok(None);
        };
        let addr: std::net::SocketAddr = addr.parse().map_err(|_| {
            ConfigError::Http(format!(
                "bad --http address {addr:?}: give IP:PORT, e.g. 127.0.0.1:8080"
            ))
        })?;
        let token = match (
            flags.http_token.as_ref().or(file.http_token.as_ref()),
            flags
                .http_token_file
                .as_ref()
                .or(file.http_token_file.as_ref()),
        ) {
            (Some(t), _) => Some(t.trim().to_string()),
            (None, Some(p)) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::Read {
                    path: p.display().to_string(),
                    why: e.to_string(),
                })?;
                Some(text.lines().next().unwrap_or("").trim().to_string())
            }
            (None, None) => None,
        }
        .filter(|t| !t.is_empty());
        if token.is_none() && !addr.ip().is_loopback() {
            return Err(ConfigError::Http(format!(
                "refusing to serve the web page on {addr} without a token: anyone who reaches \
                 it could switch your devices. Give --http-token TOKEN (or --http-token-file), \
                 or serve on 127.0.0.1"
            )));
        }
        Ok(Some(HttpSettings { addr, token }))
    }
}

/// How the bridge fetches new keys from the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRefresh {
    /// At most one fetch in this interval (a device refusing its key is retried every few
    /// seconds; the cloud must not be asked as often).
    pub min_interval: Duration,
}

impl Default for KeyRefresh {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(600),
        }
    }
}

impl BridgeConfig {
    /// Command-line settings (`flags`, the same fields as the file; each one set wins) over the
    /// file over the defaults.
    pub fn merge(file: FileConfig, flags: FileConfig) -> Result<BridgeConfig, ConfigError> {
        let http = HttpSettings::merge(&flags, &file)?;
        let url = flags.mqtt.or(file.mqtt);
        if url.is_none() && http.is_none() {
            return Err(ConfigError::Missing(
                "no broker: give --mqtt mqtt://host:port (or mqtt = \"…\" in the config file), \
                 or --http 127.0.0.1:8080 for the web page alone",
            ));
        }
        let shard = match flags.shard.or(file.shard) {
            Some(s) => s.parse().map_err(ConfigError::Shard)?,
            None => Shard::ALL,
        };
        let instance = flags
            .instance
            .or(file.instance)
            .unwrap_or_else(|| "tuyactl".into());
        if instance.is_empty() || instance.contains(['/', '+', '#']) {
            return Err(ConfigError::Missing(
                "the instance name must be non-empty and free of '/', '+' and '#'",
            ));
        }
        let prefix = flags
            .prefix
            .or(file.prefix)
            .unwrap_or_else(|| "tuya".into());
        if prefix.is_empty() || prefix.contains(['+', '#']) {
            return Err(ConfigError::Missing(
                "the topic prefix must be non-empty and free of '+' and '#'",
            ));
        }
        let discovery = flags
            .discovery_prefix
            .or(file.discovery_prefix)
            .unwrap_or_else(|| "homeassistant".into());
        Ok(BridgeConfig {
            broker: url.as_deref().map(Broker::parse).transpose()?,
            http,
            devices: flags
                .devices
                .or(file.devices)
                .unwrap_or_else(|| PathBuf::from("devices.json")),
            prefix,
            instance,
            shard,
            discovery_prefix: (!discovery.is_empty()).then_some(discovery),
            command_timeout: Duration::from_secs(
                flags
                    .command_timeout_secs
                    .or(file.command_timeout_secs)
                    .unwrap_or(30)
                    .max(1),
            ),
            ca_file: flags.ca_file.or(file.ca_file),
            overrides: if flags.device.is_empty() {
                file.device
            } else {
                flags.device
            },
            refresh_keys: flags
                .refresh_keys
                .or(file.refresh_keys)
                .unwrap_or(false)
                .then(KeyRefresh::default),
            cloud_config_dir: flags.cloud_config_dir.or(file.cloud_config_dir),
            rediscovery_delay: (Duration::from_secs(1), Duration::from_secs(5)),
            reconnect_max: Duration::from_secs(10),
            announcements: flags
                .announcements
                .or(file.announcements)
                .unwrap_or(true)
                .then(|| {
                    // Listening only: the bridge sends no broadcasts of its own.
                    tuya_local::discovery::ListenerConfig::on(
                        std::net::Ipv4Addr::UNSPECIFIED.into(),
                        vec![
                            tuya_proto::discovery::PORT_PLAIN,
                            tuya_proto::discovery::PORT_ENCRYPTED,
                        ],
                    )
                }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_settings_debug_shows_no_password_or_token() {
        let f = FileConfig::parse(
            "mqtt = \"mqtt://me:hunter2@broker.lan\"\nhttp_token = \"s3cret-token\"\n",
            Path::new("bridge.toml"),
        )
        .unwrap();
        let d = format!("{f:?}");
        assert!(d.contains("me:****@broker.lan"), "{d}");
        assert!(!d.contains("hunter2") && !d.contains("s3cret-token"), "{d}");
    }

    #[test]
    fn broker_urls() {
        let b = Broker::parse("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.tls, b.user),
            ("127.0.0.1", 1884, false, None)
        );
        let b = Broker::parse("mqtt://u:p@w@h").unwrap();
        assert_eq!(
            (
                b.user.as_deref(),
                b.password.as_deref(),
                b.host.as_str(),
                b.port
            ),
            (Some("u"), Some("p@w"), "h", 1883)
        );
        let b = Broker::parse("mqtt://[::1]:1999").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 1999));
        assert!(Broker::parse("http://h").is_err());
        assert!(Broker::parse("mqtt://h:x").is_err());
        assert!(Broker::parse("mqtt://").is_err());
        let e = Broker::parse("mqtt://me:secret@h:x")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret") && e.contains("****"), "{e}");
        // Without a scheme too (fuzz/regressions/bridge_config/scheme-less-password).
        let e = Broker::parse("me:secret@h:x").unwrap_err().to_string();
        assert!(!e.contains("secret") && e.contains("me:****@h:x"), "{e}");
        let d = format!("{:?}", Broker::parse("mqtt://me:secret@h").unwrap());
        assert!(!d.contains("secret"), "{d}");
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: FileConfig = toml::from_str(
            r#"
            mqtt = "mqtt://file:1883"
            prefix = "home"
            instance = "a"
            shard = "1/2"
            discovery_prefix = ""
            [device."Kitchen Plug".dps."19"]
            component = "sensor"
            unit = "W"
            scale = 1
            "#,
        )
        .unwrap();
        let c = BridgeConfig::merge(
            file.clone(),
            FileConfig {
                mqtt: Some("mqtt://flag:1999".into()),
                shard: Some("2/2".into()),
                ..FileConfig::default()
            },
        )
        .unwrap();
        let b = c.broker.as_ref().unwrap();
        assert_eq!((b.host.as_str(), b.port), ("flag", 1999));
        assert!(c.http.is_none());
        assert_eq!(c.shard, Shard { index: 2, count: 2 });
        assert_eq!((c.prefix.as_str(), c.instance.as_str()), ("home", "a"));
        assert_eq!(c.discovery_prefix, None);
        assert_eq!(c.overrides["Kitchen Plug"].dps["19"].scale, Some(1));
        assert!(toml::from_str::<FileConfig>("mqt = \"x\"").is_err());
        // The page alone needs no broker; anything but loopback needs a token.
        let web = |http: &str, token: Option<&str>| {
            BridgeConfig::merge(
                FileConfig::default(),
                FileConfig {
                    http: Some(http.into()),
                    http_token: token.map(str::to_string),
                    ..FileConfig::default()
                },
            )
        };
        let c = web("127.0.0.1:8080", None).unwrap();
        assert!(c.broker.is_none() && c.http.unwrap().token.is_none());
        let e = web("0.0.0.0:8080", None).unwrap_err().to_string();
        assert!(
            e.contains("without a token") && e.contains("--http-token"),
            "{e}"
        );
        let c = web("[::]:8080", Some("t0k")).unwrap();
        assert_eq!(c.http.as_ref().unwrap().token.as_deref(), Some("t0k"));
        assert!(!format!("{:?}", c.http).contains("t0k"));
        let e = web("localhost", None).unwrap_err().to_string();
        assert!(e.contains("IP:PORT"), "{e}");
        let dir = std::env::temp_dir().join(format!("bridge-token-{}", std::process::id()));
        std::fs::write(&dir, "from-file\nignored\n").unwrap();
        let c = BridgeConfig::merge(
            FileConfig {
                http: Some("0.0.0.0:1".into()),
                http_token_file: Some(dir.clone()),
                ..FileConfig::default()
            },
            FileConfig::default(),
        )
        .unwrap();
        assert_eq!(c.http.unwrap().token.as_deref(), Some("from-file"));
        let _ = std::fs::remove_file(dir);
        assert!(BridgeConfig::merge(FileConfig::default(), FileConfig::default()).is_err());
        let bad = FileConfig {
            mqtt: Some("mqtt://h".into()),
            shard: Some("3/2".into()),
            ..FileConfig::default()
        };
        assert!(matches!(
            BridgeConfig::merge(FileConfig::default(), bad),
            Err(ConfigError::Shard(_))
        ));
    }
}
