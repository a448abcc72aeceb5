//! `tuyactl cloud devices`: the account's devices with keys and DP mappings, merged into
//! devices.json with `--write`, then found on the LAN with `--scan`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use serde_json::{json, Value};
use tuya_cloud::{fetch_devices, CloudDevice, Store};
use tuya_local::devices::{DeviceEntry, DevicesFile};

/// Arguments of `tuyactl cloud devices`.
#[derive(clap::Args)]
pub struct Args {
    /// Merge the devices into this devices.json (tinytuya's format): keys updated, names
    /// and local edits kept, written 0600, the previous file kept as a 0600 backup.
    #[arg(long, value_name = "PATH")]
    write: Option<PathBuf>,
    /// One JSON array instead of text.
    #[arg(long)]
    json: bool,
    /// Print the local keys too (they are secrets: anyone with one controls the device).
    #[arg(long)]
    show_keys: bool,
    /// After --write: find the devices on the LAN (addresses and versions) with the scanner.
    #[arg(long, requires = "write")]
    scan: bool,
    /// With --scan: force-scan this range (e.g. 192.168.1.0/24) instead of listening for
    /// announcements.
    #[arg(long, requires = "scan", value_name = "CIDR")]
    subnet: Option<String>,
    /// With --scan: seconds to listen for announcements.
    #[arg(long, requires = "scan", default_value = "18", value_name = "SECS", value_parser = crate::seconds::parse)]
    scan_timeout: std::time::Duration,
}

/// Runs `tuyactl cloud devices`.
pub fn run(store: &Store, endpoint: Option<&str>, a: Args) -> anyhow::Result<ExitCode> {
    let (method, devices) = fetch_devices(store, endpoint)?;
    if a.json {
        let list: Vec<Value> = devices.iter().map(|d| to_json(d, a.show_keys)).collect();
        println!("{}", Value::Array(list));
    } else {
        println!(
            "{} devices (the {} login):",
            devices.len(),
            super::method_name(method)
        );
        for d in &devices {
            print_device(d, a.show_keys);
        }
    }
    let Some(path) = &a.write else {
        return Ok(ExitCode::SUCCESS);
    };
    write(path, &devices, a.json)?;
    if a.scan {
        scan(path, &a)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn key_text(d: &CloudDevice, show: bool) -> String {
    match (d.local_key.is_empty(), show) {
        (true, _) if d.sub => "the gateway's".into(),
        (true, _) => "none".into(),
        (false, true) => d.local_key.clone(),
        (false, false) => "**** (--show-keys)".into(),
    }
}

fn to_json(d: &CloudDevice, show_keys: bool) -> Value {
    let mut v = serde_json::to_value(d).unwrap_or(Value::Null);
    if !show_keys {
        if let Some(o) = v.as_object_mut() {
            o.remove("local_key");
            o.insert("has_key".into(), (!d.local_key.is_empty()).into());
        }
    }
    v
}

/// `0..86400 s, step 1, scale 1` or `auto|manual` from a mapping entry's values.
fn range_text(values: &Value) -> String {
    if let Some(r) = values.get("range").and_then(Value::as_array) {
        let items: Vec<String> = r
            .iter()
            .take(16)
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect();
        return items.join("|");
    }
    let n = |k: &str| {
        values
            .get(k)
            .filter(|x| x.is_number())
            .map(Value::to_string)
    };
    let mut out = String::new();
    if let (Some(min), Some(max)) = (n("min"), n("max")) {
        out = format!("{min}..{max}");
        if let Some(u) = values
            .get("unit")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
        {
            out.push(' ');
            out.push_str(u);
        }
        for k in ["step", "scale"] {
            if let Some(x) = n(k).filter(|x| x != "0" && !(k == "step" && x == "1")) {
                out.push_str(&format!(", {k} {x}"));
            }
        }
    }
    out
}

fn print_device(d: &CloudDevice, show_keys: bool) {
    let mut what = vec![d.category.clone()];
    if !d.product_name.is_empty() {
        what.push(d.product_name.clone());
    }
    if !d.model.is_empty() {
        what.push(format!("model {}", d.model));
    }
    what.retain(|s| !s.is_empty());
    println!("  {} ({}) {}", d.name, d.id, what.join(", "));
    println!(
        "    key {}, product {}",
        key_text(d, show_keys),
        if d.product_key.is_empty() {
            "?"
        } else {
            &d.product_key
        }
    );
    if d.sub {
        let parent = d.parent.as_deref().unwrap_or("unknown");
        let node = d.node_id.as_deref().unwrap_or("?");
        println!("    sub-device of {parent}, node id {node}");
    }
    let Some(map) = d.mapping.as_object() else {
        return;
    };
    let mut dps: Vec<(&String, &Value)> = map.iter().collect();
    dps.sort_by_key(|(k, _)| k.parse::<u64>().unwrap_or(u64::MAX));
    for (dp, m) in dps {
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("");
        let range = m.get("values").map(range_text).unwrap_or_default();
        println!("    DP {dp:>3} {:<20} {:<8} {range}", s("code"), s("type"));
    }
}

/// Merges the account into `path` and says what changed.
fn write(path: &Path, devices: &[CloudDevice], as_json: bool) -> anyhow::Result<()> {
    let mut file = if path.exists() {
        DevicesFile::load(path).map_err(|e| anyhow::anyhow!("{e}"))?
    } else {
        DevicesFile::default()
    };
    let entries: Vec<DeviceEntry> = devices.iter().map(CloudDevice::to_entry).collect();
    let changes = file.merge_account(entries);
    let backup = tuya_local::merge::write_devices_file(path, &file)
        .with_context(|| format!("writing {}", path.display()))?;
    let label = |id: &String| {
        let name = file.by_id(id).map(DeviceEntry::label).unwrap_or(id);
        if name == id {
            id.clone()
        } else {
            format!("{name} ({id})")
        }
    };
    let labels = |ids: &[String]| ids.iter().map(label).collect::<Vec<_>>();
    if as_json {
        eprintln!(
            "{}",
            json!({"written": path.display().to_string(), "added": changes.added,
                   "rekeyed": changes.rekeyed, "missing": changes.missing,
                   "backup": backup.as_ref().map(|b| b.display().to_string())})
        );
        return Ok(());
    }
    println!(
        "wrote {} ({} devices: {} new, {} with a new key)",
        path.display(),
        file.entries.len(),
        changes.added.len(),
        changes.rekeyed.len()
    );
    for l in labels(&changes.rekeyed) {
        println!("  new key (re-paired since the last run): {l}");
    }
    for l in labels(&changes.missing) {
        println!("  no longer in the account (kept): {l}");
    }
    if let Some(b) = backup {
        println!("  the previous file is kept as {}", b.display());
    }
    Ok(())
}

/// `tuyactl scan --update` over the file just written.
#[derive(clap::Parser)]
struct ScanOnly {
    #[command(flatten)]
    args: crate::scan::Args,
}

fn scan(path: &Path, a: &Args) -> anyhow::Result<()> {
    let mut s = ScanOnly::try_parse_from(["scan"])
        .context("scanner defaults")?
        .args;
    s.devices = path.to_path_buf();
    s.update = true;
    s.subnet = a.subnet.clone();
    s.timeout = a.scan_timeout;
    println!("finding the devices on the LAN…");
    crate::scan::run(s).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let v = json!({"unit": "s", "min": 0, "max": 86400, "scale": 0, "step": 1});
        assert_eq!(range_text(&v), "0..86400 s");
        let v = json!({"unit": "℃", "min": -200, "max": 1000, "scale": 1, "step": 5});
        assert_eq!(range_text(&v), "-200..1000 ℃, step 5, scale 1");
        assert_eq!(
            range_text(&json!({"range": ["auto", "manual"]})),
            "auto|manual"
        );
        assert_eq!(range_text(&json!({})), "");
        assert_eq!(range_text(&json!("x")), "");
    }
}
