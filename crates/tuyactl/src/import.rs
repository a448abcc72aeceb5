//! `tuyactl import tinytuya|tuya-cli FILE`: other tools' key files merged into devices.json
//! with the cloud merge's rules (keys updated, names and local edits kept, new devices added,
//! re-keyed and unlisted devices reported), written 0600 with a private backup.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{json, Value};
use tuya_devices::import::{self, AddressRule, MAX_INPUT};
use tuya_devices::{DevicesFile, Format};

/// Whose key file it is.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// tinytuya: devices.json, snapshot.json or tuya-raw.json (told apart by their shape).
    Tinytuya,
    /// tuya-cli: the output of `tuya-cli wizard`, or a `tuya-cli list-app --out` file.
    TuyaCli,
}

/// Arguments of `tuyactl import`.
#[derive(clap::Args)]
pub struct Args {
    /// Which tool wrote FILE.
    #[arg(value_enum)]
    pub tool: Tool,
    /// The file to import (`-` reads standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// devices.json to merge into (created when missing).
    #[arg(long, default_value = "devices.json")]
    pub devices: PathBuf,
    /// Show what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Machine-readable output: one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Show the keys of added and re-keyed devices (never shown otherwise).
    #[arg(long)]
    pub show_keys: bool,
}

/// Reads at most one byte more than the importer accepts, so a huge input is refused by
/// size without being read into memory whole.
fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    let limit = MAX_INPUT as u64 + 1;
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(limit).read_to_end(&mut bytes))
            .with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(bytes)
}

/// A device as the summary lists it: id, the name devices.json now has, and the key only
/// with `--show-keys`.
fn device(file: &DevicesFile, id: &str, with_key: bool) -> Value {
    let e = file.by_id(id);
    let mut v = json!({"id": id, "name": e.and_then(|e| e.name.clone())});
    if with_key {
        v["key"] = json!(e.and_then(|e| e.key.clone()));
    }
    v
}

fn label(d: &Value) -> String {
    let id = d["id"].as_str().unwrap_or_default();
    let mut s = match d["name"].as_str() {
        Some(n) if n != id => format!("{n} ({id})"),
        _ => id.to_string(),
    };
    if let Some(k) = d.get("key") {
        s.push_str(&format!(" key {}", k.as_str().unwrap_or("(none)")));
    }
    s
}

/// Runs `tuyactl import`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let format = match a.tool {
        Tool::Tinytuya => Format::Tinytuya,
        Tool::TuyaCli => Format::TuyaCli,
    };
    let shown = if a.file == Path::new("-") {
        "standard input".to_string()
    } else {
        a.file.display().to_string()
    };
    let bytes = read_input(&a.file)?;
    let imported = import::parse_bytes(format, &bytes).with_context(|| shown.clone())?;
    drop(bytes);
    let exists = a.devices.exists();
    let mut file = if exists {
        DevicesFile::load(&a.devices).with_context(|| format!("reading {}", a.devices.display()))?
    } else {
        DevicesFile::default()
    };
    let before = file.to_value();
    let source = imported.source;
    let count = imported.entries.len();
    let warnings: Vec<String> = imported.warnings.iter().map(ToString::to_string).collect();
    let report = imported.merge_into(&mut file);
    let changed = file.to_value() != before;
    let backup = if changed && !a.dry_run {
        tuya_local::merge::write_devices_file(&a.devices, &file)
            .with_context(|| format!("writing {}", a.devices.display()))?
    } else {
        None
    };
    let written = changed && !a.dry_run;

    let list = |ids: &[String], keys: bool| -> Vec<Value> {
        ids.iter().map(|id| device(&file, id, keys)).collect()
    };
    let added = list(&report.keys.added, a.show_keys);
    let rekeyed = list(&report.keys.rekeyed, a.show_keys);
    let kept = list(&report.keys.missing, false);
    let addressed = list(&report.addressed, false);

    if a.json {
        let summary = json!({
            "source": source.as_str(),
            "imported": count,
            "devices": a.devices.display().to_string(),
            "dry_run": a.dry_run,
            "changed": changed,
            "written": written,
            "backup": backup.as_ref().map(|b| b.display().to_string()),
            "added": added,
            "rekeyed": rekeyed,
            "kept": kept,
            "addressed": addressed,
            "warnings": warnings,
        });
        println!("{summary}");
        return Ok(ExitCode::SUCCESS);
    }

    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let target = a.devices.display();
    println!("{}: {count} devices read from {shown}", source.describe());
    println!(
        "{target}: {} added, {} re-keyed, {} kept that the import does not list",
        added.len(),
        rekeyed.len(),
        kept.len()
    );
    for d in &added {
        println!("  added: {}", label(d));
    }
    for d in &rekeyed {
        println!("  key changed: re-paired? {}", label(d));
    }
    for d in &kept {
        println!("  kept, not in the import: {}", label(d));
    }
    let how = match source.address_rule() {
        AddressRule::SeenOnLan => "address/version seen on the LAN",
        _ => "address/version filled in",
    };
    for d in &addressed {
        println!("  {how}: {}", label(d));
    }
    if a.dry_run {
        println!("dry run: {target} not written");
    } else if !changed {
        println!("{target} already up to date: not written");
    } else if let Some(b) = &backup {
        println!("{target} written; previous file kept as {}", b.display());
    } else {
        println!("{target} written");
    }
    Ok(ExitCode::SUCCESS)
}
