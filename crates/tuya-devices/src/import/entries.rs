//! Turning the devices other tools list into our entries: field by field, so no value (a
//! key above all) can end up quoted in an error message, the way a typed deserializer's
//! "invalid type: string \"…\"" would.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::{ImportError, Source, Warning};
use crate::DeviceEntry;

/// The length of a real local key, in bytes (keys are ASCII).
const KEY_LEN: usize = 16;

/// Fields of a tinytuya tuya-raw.json device worth keeping, under our names. The raw cloud
/// reply also holds the public (WAN) address, coordinates, owner ids and the live status,
/// which have no place in a LAN key file and are dropped.
const RAW_FIELDS: [(&str, &str); 8] = [
    ("product_id", "product_key"),
    ("product_name", "product_name"),
    ("category", "category"),
    ("model", "model"),
    ("icon", "icon"),
    ("uuid", "uuid"),
    ("biz_type", "biz_type"),
    ("mac", "mac"),
];

/// What kind of JSON value `v` is, for messages that must not quote it.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Converts the listed devices; entries without an id are skipped (with a warning), and a
/// device listed twice keeps its first entry.
pub(crate) fn convert(
    items: Vec<Value>,
    source: Source,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<DeviceEntry>, ImportError> {
    let mut out: Vec<DeviceEntry> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let index = i + 1;
        let Value::Object(m) = item else {
            return Err(ImportError::Entry(format!(
                "device {index}: expected a device (an object), found {}",
                kind(&item)
            )));
        };
        let Some(mut e) = entry(index, m, source)? else {
            warnings.push(Warning::NoId { index });
            continue;
        };
        if out.iter().any(|o| o.id == e.id) {
            warnings.push(Warning::Duplicate { device: device(&e) });
            continue;
        }
        check_key(&mut e, warnings);
        out.push(e);
    }
    Ok(out)
}

/// "Name (id)", or the id alone: how warnings name a device.
pub(crate) fn device(e: &DeviceEntry) -> String {
    match e.name.as_deref() {
        Some(n) if n != e.id => format!("{n} ({})", e.id),
        _ => e.id.clone(),
    }
}

/// One device; `None` when it has no id.
fn entry(
    index: usize,
    mut m: Map<String, Value>,
    source: Source,
) -> Result<Option<DeviceEntry>, ImportError> {
    let mut f = Fields {
        index,
        label: None,
        m: &mut m,
    };
    let name = f.text("name")?;
    f.label = name.clone();
    let Some(id) = f.text("id")? else {
        return Ok(None);
    };
    if f.label.is_none() {
        f.label = Some(id.clone());
    }
    let raw = source == Source::TinytuyaRaw;
    let key = f.text(if raw { "local_key" } else { "key" })?;
    let parent = f.text(if raw { "gateway_id" } else { "parent" })?;
    let node_id = f.text("node_id")?;
    let sub = match f.m.remove("sub") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(other) => return Err(f.wrong("sub", &other, "true or false")),
    };
    let mut e = DeviceEntry {
        id,
        name,
        key,
        parent,
        node_id,
        sub,
        ..DeviceEntry::default()
    };
    if raw {
        // The raw reply's `ip` is the address the cloud saw: the home's public one.
        for (from, to) in RAW_FIELDS {
            if let Some(v) = f.m.remove(from).filter(|v| !is_blank(v)) {
                e.extra.insert(to.into(), v);
            }
        }
        return Ok(Some(e));
    }
    e.ip = f.text("ip")?.filter(|ip| usable_ip(ip));
    e.version = f.m.remove("version").filter(|v| !is_blank(v));
    if source == Source::TinytuyaSnapshot {
        // snapshot.json says `ver`; we say `version`. `origin` (how tinytuya's scan heard
        // it) describes one scan, not the device.
        let ver = f.m.remove("ver").filter(|v| !is_blank(v));
        e.version = e.version.or(ver);
        f.m.remove("origin");
    }
    e.mapping = f.m.remove("mapping").filter(|v| !v.is_null());
    e.extra = std::mem::take(f.m);
    Ok(Some(e))
}

fn is_blank(v: &Value) -> bool {
    v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty())
}

/// tinytuya writes `""` or `"0.0.0.0"` for an address it does not know.
fn usable_ip(ip: &str) -> bool {
    ip.trim()
        .parse::<IpAddr>()
        .is_ok_and(|a| !a.is_unspecified())
}

/// Reads fields of one device, naming the device (never a value) when one has the wrong type.
struct Fields<'a> {
    index: usize,
    label: Option<String>,
    m: &'a mut Map<String, Value>,
}

impl Fields<'_> {
    /// A text field; absent, null and `""` are all "none".
    fn text(&mut self, field: &str) -> Result<Option<String>, ImportError> {
        match self.m.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok((!s.is_empty()).then_some(s)),
            Some(other) => Err(self.wrong(field, &other, "text")),
        }
    }

    fn wrong(&self, field: &str, v: &Value, expected: &str) -> ImportError {
        let at = match &self.label {
            Some(l) => format!("{} ({l})", self.index),
            None => self.index.to_string(),
        };
        ImportError::Entry(format!(
            "device {at}: `{field}` is {}, expected {expected}",
            kind(v)
        ))
    }
}

/// Applies the HTML-escape rule to the key and warns about keys of the wrong length.
fn check_key(e: &mut DeviceEntry, warnings: &mut Vec<Warning>) {
    let Some(k) = e.key.as_deref() else {
        if !e.is_sub() {
            warnings.push(Warning::NoKey { device: device(e) });
        }
        return;
    };
    if let Some(u) = unescape_key(k) {
        e.key = Some(u);
        warnings.push(Warning::KeyUnescaped { device: device(e) });
    }
    let len = e.key.as_deref().map_or(0, str::len);
    if len != KEY_LEN {
        warnings.push(Warning::KeyLength {
            device: device(e),
            len,
        });
    }
}

/// The key with HTML character references decoded, when that is what it needs: only when
/// the key as given is not 16 bytes long and the decoded form is exactly 16. A real key is
/// 16 characters, so a 16-character key that happens to contain `&gt;` is kept as it is.
///
/// Decodes `&gt;`, `&lt;`, `&amp;`, `&quot;`, `&apos;`, `&#NN;` and `&#xHH;` (the forms the
/// Tuya app's exports use); anything else is left alone.
pub fn unescape_key(key: &str) -> Option<String> {
    if key.len() == KEY_LEN || !key.contains('&') {
        return None;
    }
    let u = html_unescape(key);
    (u.len() == KEY_LEN).then_some(u)
}

fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest
            .get(1..)
            .and_then(|r| r.find(';').filter(|&n| n <= 10).map(|n| (&r[..n], n)))
            .and_then(|(name, n)| entity(name).map(|c| (c, n)));
        match decoded {
            Some((c, n)) => {
                out.push(c);
                rest = &rest[n + 2..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    match name {
        "gt" => Some('>'),
        "lt" => Some('<'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let num = name.strip_prefix('#')?;
            let v = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escaped_keys_are_decoded_only_when_that_makes_sixteen() {
        // 18 once decoded: not a key either way, kept as given.
        assert_eq!(
            unescape_key("ab&gt;cd&lt;ef&amp;gh&quot;ij&#39;kl&#x27;"),
            None
        );
        // 16 once decoded: decoded.
        assert_eq!(
            unescape_key("abcd&gt;efgh&lt;ijkl&amp;m").as_deref(),
            Some("abcd>efgh<ijkl&m")
        );
        assert_eq!(
            unescape_key("&#33;&#x40;cdefghijklmno&quot;").as_deref(),
            Some("!@cdefghijklmno\"")
        );
        assert_eq!(
            unescape_key("abc&apos;defghijklmno").as_deref(),
            Some("abc'defghijklmno")
        );
        // Already 16, with a literal `&gt;` inside: a real key, kept.
        assert_eq!(unescape_key("abcdefghijk&gt;l"), None);
        // Not 16 either way: kept as given (and reported by length).
        assert_eq!(unescape_key("short&amp;"), None);
        // Unknown or unterminated references are left alone.
        assert_eq!(
            html_unescape("a&nbsp;b&c&#zz;&#x;&"),
            "a&nbsp;b&c&#zz;&#x;&"
        );
        assert_eq!(html_unescape("&#128512;&#X41;"), "😀A");
    }

    #[test]
    fn wrong_types_name_the_device_and_field_but_no_value() {
        let items =
            vec![serde_json::json!({"name": "Lamp", "id": "a", "key": 1234567890123456u64})];
        let e = convert(items, Source::TinytuyaDevices, &mut vec![]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "device 1 (Lamp): `key` is a number, expected text"
        );
        let items = vec![serde_json::json!({"id": "a", "sub": "yes"})];
        let e = convert(items, Source::TinytuyaDevices, &mut vec![]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "device 1 (a): `sub` is text, expected true or false"
        );
        let e = convert(vec![Value::from(3)], Source::TuyaCliList, &mut vec![]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "device 1: expected a device (an object), found a number"
        );
    }
}
