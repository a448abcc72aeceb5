//! Importing other tools' key files: tinytuya's devices.json, snapshot.json and
//! tuya-raw.json, and tuya-cli's `wizard` (Node's util.inspect output, not JSON) and
//! `list-app --out` files.
//!
//! [`parse`] turns a file's text into entries and warnings; [`Imported::merge_into`] merges
//! them into a devices.json with the rules of the cloud merge
//! ([`DevicesFile::merge_account`]): keys updated, names and local edits kept, new devices
//! added, re-keyed and unlisted devices reported. Addresses and versions follow the file's
//! [`AddressRule`].

use serde_json::Value;

use crate::merge::KeyChanges;
use crate::{DeviceEntry, DevicesFile};

mod entries;
mod js;

pub use entries::unescape_key;
pub use js::MAX_DEPTH;

/// Largest file accepted, in bytes. A key file with mappings is a few KiB per device; this is
/// room for over a thousand devices while keeping a mistaken multi-GiB input out of memory.
pub const MAX_INPUT: usize = 8 * 1024 * 1024;

/// Whose file it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// tinytuya: devices.json, snapshot.json or tuya-raw.json (told apart by their shape).
    Tinytuya,
    /// tuya-cli: `wizard` output or a `list-app --out` file.
    TuyaCli,
}

/// Which file it was, as detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// tinytuya's devices.json: a list of devices.
    TinytuyaDevices,
    /// tinytuya's snapshot.json: `{"timestamp": …, "devices": [...]}`, from a LAN scan.
    TinytuyaSnapshot,
    /// tinytuya's tuya-raw.json: the cloud's own reply, `{"result": [...], …}`.
    TinytuyaRaw,
    /// tuya-cli's `wizard` output (JavaScript literals as Node prints them).
    TuyaCliWizard,
    /// tuya-cli's `list-app --out` file (JSON).
    TuyaCliList,
}

impl Source {
    /// A name for messages: "tinytuya snapshot.json".
    pub fn describe(self) -> &'static str {
        match self {
            Self::TinytuyaDevices => "tinytuya devices.json",
            Self::TinytuyaSnapshot => "tinytuya snapshot.json",
            Self::TinytuyaRaw => "tinytuya tuya-raw.json",
            Self::TuyaCliWizard => "tuya-cli wizard output",
            Self::TuyaCliList => "tuya-cli list-app output",
        }
    }

    /// A stable identifier for machine-readable output: "tinytuya-snapshot".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TinytuyaDevices => "tinytuya-devices",
            Self::TinytuyaSnapshot => "tinytuya-snapshot",
            Self::TinytuyaRaw => "tinytuya-raw",
            Self::TuyaCliWizard => "tuya-cli-wizard",
            Self::TuyaCliList => "tuya-cli-list",
        }
    }

    /// How this file's addresses and versions are merged.
    pub fn address_rule(self) -> AddressRule {
        match self {
            // A snapshot is a LAN scan: what it saw is newer than what the file says.
            Self::TinytuyaSnapshot => AddressRule::SeenOnLan,
            // devices.json's addresses may be old; they only fill a gap.
            Self::TinytuyaDevices => AddressRule::FillMissing,
            // The cloud's `ip` is the public one; tuya-cli lists none.
            Self::TinytuyaRaw | Self::TuyaCliWizard | Self::TuyaCliList => AddressRule::Ignore,
        }
    }
}

/// How an import's addresses (`ip`) and protocol versions reach devices already in the file.
/// New devices are always added with whatever the import knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRule {
    /// Seen on the LAN just now: set, replacing what the file had.
    SeenOnLan,
    /// Set only where the file has no usable address (or no version).
    FillMissing,
    /// Not used.
    Ignore,
}

/// Why a file cannot be imported. Messages name the cause and where, never a value from the
/// file (so never a key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Larger than [`MAX_INPUT`].
    #[error("the file is {size} bytes, more than the {limit} a key file can be")]
    TooLarge {
        /// The file's size.
        size: usize,
        /// [`MAX_INPUT`].
        limit: usize,
    },
    /// Not UTF-8 text.
    #[error("the file is not UTF-8 text (byte {at})")]
    NotText {
        /// Offset of the first invalid byte.
        at: usize,
    },
    /// Malformed JSON or JavaScript literal.
    #[error("line {line}, column {column}: {what}")]
    Syntax {
        /// Line, from 1.
        line: usize,
        /// Column in characters, from 1.
        column: usize,
        /// What was expected and what was found.
        what: String,
    },
    /// Lists and objects nested deeper than [`MAX_DEPTH`].
    #[error("line {line}, column {column}: nested deeper than {limit} levels")]
    TooDeep {
        /// Line, from 1.
        line: usize,
        /// Column in characters, from 1.
        column: usize,
        /// [`MAX_DEPTH`].
        limit: usize,
    },
    /// A snapshot-shaped object (it has `timestamp` or `devices`) without a devices list.
    #[error("snapshot.json has no devices list")]
    SnapshotNoDevices,
    /// A cloud reply without a device list.
    #[error("tuya-raw.json has no result list")]
    RawNoResult,
    /// A cloud reply that reports a failure.
    #[error("tuya-raw.json holds a failed cloud reply ({0}); run tinytuya's wizard again")]
    RawFailed(String),
    /// Valid syntax, but not any file of the format.
    #[error("{0}")]
    Shape(String),
    /// One device is malformed ("device 3 (Lamp): `key` is a number, expected text").
    #[error("{0}")]
    Entry(String),
}

/// Something imported as well as it could be, worth telling the user. Devices are named by
/// name and id; keys never appear.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Warning {
    /// A key that is not 16 bytes long: imported as given, but the device will not accept it.
    #[error("{device}: the key is {len} characters, not 16; imported as given, but it will not work until corrected")]
    KeyLength {
        /// "Name (id)".
        device: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A key that was HTML-escaped (`&gt;` …) and was decoded.
    #[error("{device}: the key was HTML-escaped in the file; imported decoded")]
    KeyUnescaped {
        /// "Name (id)".
        device: String,
    },
    /// A device (not a gateway child) without a key.
    #[error("{device}: no key in the file")]
    NoKey {
        /// "Name (id)".
        device: String,
    },
    /// An entry without an id, skipped.
    #[error("device {index} has no id; skipped")]
    NoId {
        /// Its position in the file, from 1.
        index: usize,
    },
    /// A device listed twice; the first entry was kept.
    #[error("{device} is listed more than once; the first entry is imported")]
    Duplicate {
        /// "Name (id)".
        device: String,
    },
    /// Node cut the printed list short.
    #[error("the list was cut short when printed ({more} more not shown), so those devices are not imported; `tuya-cli list-app --out FILE` writes them all")]
    Cut {
        /// How many items Node left out.
        more: u64,
    },
}

/// The devices read from one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// Which file it was.
    pub source: Source,
    /// The devices, in file order, keys decoded where the HTML rule says so.
    pub entries: Vec<DeviceEntry>,
    /// What to tell the user.
    pub warnings: Vec<Warning>,
}

/// What merging an import changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    /// Keys changed, devices added, devices in the file the import did not list.
    pub keys: KeyChanges,
    /// Ids of devices already in the file whose address or version the import set.
    pub addressed: Vec<String>,
}

/// Reads a key file of `format`.
pub fn parse(format: Format, text: &str) -> Result<Imported, ImportError> {
    if text.len() > MAX_INPUT {
        return Err(ImportError::TooLarge {
            size: text.len(),
            limit: MAX_INPUT,
        });
    }
    let mut warnings = Vec::new();
    let (source, items) = match format {
        Format::Tinytuya => tinytuya(js::parse(text, 0)?.value)?,
        Format::TuyaCli => {
            let parsed = js::parse(text, listing_start(text))?;
            if parsed.cut > 0 {
                warnings.push(Warning::Cut { more: parsed.cut });
            }
            let source = if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                Source::TuyaCliList
            } else {
                Source::TuyaCliWizard
            };
            (source, tuya_cli(parsed.value)?)
        }
    };
    let entries = entries::convert(items, source, &mut warnings)?;
    Ok(Imported {
        source,
        entries,
        warnings,
    })
}

/// Reads a key file's bytes (checks the size before anything else, and that it is text).
pub fn parse_bytes(format: Format, bytes: &[u8]) -> Result<Imported, ImportError> {
    if bytes.len() > MAX_INPUT {
        return Err(ImportError::TooLarge {
            size: bytes.len(),
            limit: MAX_INPUT,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| ImportError::NotText {
        at: e.valid_up_to(),
    })?;
    parse(format, text)
}

/// Where tuya-cli's listing starts. `tuya-cli wizard > file` also captures its questions
/// ("? The API key from tuya.com: …"), so the listing is the first line that opens a list or
/// an object; line numbers in errors still count from the top of the file.
fn listing_start(text: &str) -> usize {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with(['[', '{']) {
            return at;
        }
        at += line.len();
    }
    0
}

/// Tells tinytuya's three files apart by their shape.
fn tinytuya(v: Value) -> Result<(Source, Vec<Value>), ImportError> {
    let mut o = match v {
        Value::Array(a) => return Ok((Source::TinytuyaDevices, a)),
        Value::Object(o) => o,
        other => {
            return Err(ImportError::Shape(format!(
                "expected tinytuya's devices.json (a list of devices), snapshot.json or tuya-raw.json, found {}",
                entries::kind(&other)
            )))
        }
    };
    if o.contains_key("devices") || o.contains_key("timestamp") {
        return match o.remove("devices") {
            Some(Value::Array(a)) => Ok((Source::TinytuyaSnapshot, a)),
            _ => Err(ImportError::SnapshotNoDevices),
        };
    }
    if o.contains_key("result") || o.contains_key("success") {
        if o.get("success") == Some(&Value::Bool(false)) {
            // The cloud's message ("permission deny", …) tells the user what to fix.
            let msg: String = o
                .get("msg")
                .and_then(Value::as_str)
                .unwrap_or("no message")
                .chars()
                .take(200)
                .collect();
            return Err(ImportError::RawFailed(msg));
        }
        // Newer cloud endpoints page their reply as `{"list": [...], "has_more": …}`.
        return match o.remove("result") {
            Some(Value::Array(a)) => Ok((Source::TinytuyaRaw, a)),
            Some(Value::Object(mut r)) => match r.remove("list").or_else(|| r.remove("devices")) {
                Some(Value::Array(a)) => Ok((Source::TinytuyaRaw, a)),
                _ => Err(ImportError::RawNoResult),
            },
            _ => Err(ImportError::RawNoResult),
        };
    }
    Err(ImportError::Shape(
        "expected tinytuya's devices.json (a list of devices), snapshot.json ({\"devices\": [...]}) or tuya-raw.json ({\"result\": [...]}), found an object with none of those".into(),
    ))
}

/// tuya-cli lists devices; a single device printed alone is taken as a list of one.
fn tuya_cli(v: Value) -> Result<Vec<Value>, ImportError> {
    match v {
        Value::Array(a) => Ok(a),
        Value::Object(o) if o.contains_key("id") => Ok(vec![Value::Object(o)]),
        other => Err(ImportError::Shape(format!(
            "expected tuya-cli's list of devices ([{{ name, id, key }}, …]), found {}",
            entries::kind(&other)
        ))),
    }
}

impl Imported {
    /// Merges into `file` with [`DevicesFile::merge_account`]'s rules, then applies the
    /// source's [`AddressRule`] to devices that were already there.
    pub fn merge_into(self, file: &mut DevicesFile) -> ImportReport {
        let rule = self.source.address_rule();
        let seen: Vec<(String, Option<String>, Option<Value>)> = self
            .entries
            .iter()
            .map(|e| (e.id.clone(), e.ip.clone(), e.version.clone()))
            .collect();
        let keys = file.merge_account(self.entries);
        let mut addressed = Vec::new();
        for (id, ip, version) in seen {
            if rule == AddressRule::Ignore || keys.added.contains(&id) {
                continue;
            }
            let Some(e) = file.by_id_mut(&id) else {
                continue;
            };
            let replace = rule == AddressRule::SeenOnLan;
            let mut changed = false;
            if let Some(ip) = ip {
                if (replace || e.ip().is_none()) && e.ip.as_deref() != Some(ip.as_str()) {
                    e.ip = Some(ip);
                    changed = true;
                }
            }
            if let Some(v) = version {
                if (replace || e.version.is_none()) && e.version.as_ref() != Some(&v) {
                    e.version = Some(v);
                    changed = true;
                }
            }
            if changed {
                addressed.push(id);
            }
        }
        ImportReport { keys, addressed }
    }
}

#[cfg(test)]
mod tests;
