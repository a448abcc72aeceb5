//! tuya-mqtt's topic layout: device names as topic levels, per-DP state and command topics, and
//! how command payloads become typed values.

use serde_json::Value;
use tuya_proto::dp::DpIdError;
use tuya_proto::{DpId, DpValue, Dps};

/// A device's topic level: its name lower-cased with whitespace, `#`, `+` and `/` replaced by
/// `_` (tuya-mqtt's rule, so its users keep their automations); its id when unnamed.
///
/// ```
/// assert_eq!(tuya_bridge::topics::slug(Some("Living Room #2"), "bf01"), "living_room__2");
/// assert_eq!(tuya_bridge::topics::slug(None, "bf01"), "bf01");
/// ```
pub fn slug(name: Option<&str>, id: &str) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => id.to_string(),
        Some(n) => n
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_whitespace() || matches!(c, '#' | '+' | '/') {
                    '_'
                } else {
                    c
                }
            })
            .collect(),
    }
}

/// Topics of one instance under a prefix (`tuya` by default).
#[derive(Debug, Clone)]
pub struct Topics {
    /// The first level.
    pub prefix: String,
}

impl Topics {
    /// The topics under `prefix` (trailing slashes ignored).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }

    /// A device's base: `<prefix>/<slug>`.
    pub fn base(&self, slug: &str) -> String {
        format!("{}/{slug}", self.prefix)
    }

    /// The bridge instance's own availability: `<prefix>/bridge/<instance>/status`.
    pub fn bridge_status(&self, instance: &str) -> String {
        format!("{}/bridge/{instance}/status", self.prefix)
    }

    /// The filters a bridge subscribes to for commands.
    pub fn command_filters(&self) -> [String; 3] {
        let p = &self.prefix;
        [
            format!("{p}/+/command"),
            format!("{p}/+/dps/command"),
            format!("{p}/+/dps/+/command"),
        ]
    }

    /// Parses a command topic: the device level and what kind of command it is.
    pub fn parse_command<'t>(&self, topic: &'t str) -> Option<(&'t str, CommandTopic)> {
        let rest = topic.strip_prefix(&self.prefix)?.strip_prefix('/')?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [dev, "command"] => Some((dev, CommandTopic::Device)),
            [dev, "dps", "command"] => Some((dev, CommandTopic::DpsJson)),
            // A DP level that is not a DP id is still a command, answered with the reason.
            [dev, "dps", dp, "command"] => Some((
                *dev,
                dp.parse::<DpId>()
                    .map_or_else(CommandTopic::BadDp, CommandTopic::Dp),
            )),
            _ => None,
        }
    }
}

/// The three command forms of tuya-mqtt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandTopic {
    /// `<base>/command`: `get-states`.
    Device,
    /// `<base>/dps/command`: Tuya JSON.
    DpsJson,
    /// `<base>/dps/<dp>/command`: plain text for one DP.
    Dp(DpId),
    /// `<base>/dps/<dp>/command` where `<dp>` is no DP id (not a number, or beyond u32).
    BadDp(DpIdError),
}

/// A DP's value as tuya-mqtt publishes it on `dps/<dp>/state`: `true`, `20`, `auto`.
pub fn state_text(v: &DpValue) -> String {
    match v {
        DpValue::String(s) => s.clone(),
        other => other.to_json().to_string(),
    }
}

/// A plain-text command value: `true`/`false` become booleans, integers and decimals numbers,
/// anything else a string (tuya-mqtt's rule).
pub fn parse_text_value(s: &str) -> DpValue {
    let s = s.trim();
    match s {
        "true" => return DpValue::Bool(true),
        "false" => return DpValue::Bool(false),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return DpValue::Integer(i);
    }
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            if let Some(n) = serde_json::Number::from_f64(f) {
                return DpValue::Json(Value::Number(n));
            }
        }
    }
    DpValue::String(s.to_string())
}

/// What a `dps/command` JSON payload asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonCommand {
    /// DPs to set.
    pub dps: Dps,
    /// The gateway child addressed, if any.
    pub cid: Option<String>,
}

/// Why a command payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON of another shape.
    #[error("expected {{\"dps\":<id>,\"set\":<value>}} or {{\"multiple\":true,\"data\":{{<id>:<value>,…}}}}")]
    Shape,
    /// A DP id that is not a number in range.
    #[error("bad DP id: {0}")]
    BadDp(#[from] DpIdError),
    /// Nothing to set.
    #[error("no DPs to set")]
    Empty,
    /// An unknown device command.
    #[error("unknown command {0:?} (expected get-states)")]
    UnknownCommand(String),
}

fn dp_id(v: &Value) -> Result<DpId, PayloadError> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(text.parse::<DpId>()?)
}

/// Parses `{"dps":1,"set":true}` or `{"multiple":true,"data":{"1":true,"2":50}}`, each with an
/// optional `"cid"`.
pub fn parse_json_command(payload: &[u8]) -> Result<JsonCommand, PayloadError> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let obj = v.as_object().ok_or(PayloadError::Shape)?;
    let cid = obj.get("cid").and_then(Value::as_str).map(str::to_string);
    let mut dps = Dps::new();
    if obj.get("multiple").and_then(Value::as_bool) == Some(true) {
        let data = obj
            .get("data")
            .and_then(Value::as_object)
            .ok_or(PayloadError::Shape)?;
        for (k, val) in data {
            dps.insert(dp_id(&Value::String(k.clone()))?, DpValue::from_json(val));
        }
    } else {
        let id = obj.get("dps").ok_or(PayloadError::Shape)?;
        let val = obj.get("set").ok_or(PayloadError::Shape)?;
        dps.insert(dp_id(id)?, DpValue::from_json(val));
    }
    if dps.is_empty() {
        return Err(PayloadError::Empty);
    }
    Ok(JsonCommand { dps, cid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_tuya_mqtt_topic_levels() {
        assert_eq!(slug(Some("Kitchen Plug"), "x"), "kitchen_plug");
        assert_eq!(slug(Some("a/b+c#d\te"), "x"), "a_b_c_d_e");
        assert_eq!(slug(Some("  "), "bf01"), "bf01");
    }

    #[test]
    fn command_topics_parse_in_every_form() {
        let t = Topics::new("tuya/");
        assert_eq!(
            t.parse_command("tuya/lamp/command"),
            Some(("lamp", CommandTopic::Device))
        );
        assert_eq!(
            t.parse_command("tuya/lamp/dps/command"),
            Some(("lamp", CommandTopic::DpsJson))
        );
        assert_eq!(
            t.parse_command("tuya/lamp/dps/20/command"),
            Some(("lamp", CommandTopic::Dp(DpId(20))))
        );
        assert_eq!(
            t.parse_command("tuya/lamp/dps/x/command"),
            Some((
                "lamp",
                CommandTopic::BadDp(DpIdError::NotANumber("x".into()))
            ))
        );
        assert_eq!(
            t.parse_command("tuya/lamp/dps/4294967296/command"),
            Some((
                "lamp",
                CommandTopic::BadDp(DpIdError::OutOfRange("4294967296".into()))
            ))
        );
        assert_eq!(t.parse_command("other/lamp/command"), None);
        assert_eq!(t.parse_command("tuya/lamp/state"), None);
        assert_eq!(t.bridge_status("home"), "tuya/bridge/home/status");
    }

    #[test]
    fn text_values_follow_tuya_mqtt() {
        assert_eq!(parse_text_value("true"), DpValue::Bool(true));
        assert_eq!(parse_text_value("false"), DpValue::Bool(false));
        assert_eq!(parse_text_value("20"), DpValue::Integer(20));
        assert_eq!(parse_text_value("-3"), DpValue::Integer(-3));
        assert_eq!(
            parse_text_value("2.5"),
            DpValue::Json(serde_json::json!(2.5))
        );
        assert_eq!(parse_text_value("auto"), DpValue::String("auto".into()));
        assert_eq!(parse_text_value("NaN"), DpValue::String("NaN".into()));
        assert_eq!(state_text(&DpValue::Bool(true)), "true");
        assert_eq!(state_text(&DpValue::Integer(20)), "20");
        assert_eq!(state_text(&DpValue::String("auto".into())), "auto");
    }

    #[test]
    fn json_commands_in_both_forms() {
        let c = parse_json_command(br#"{"dps":1,"set":true}"#).unwrap();
        assert_eq!(c.dps[&DpId(1)], DpValue::Bool(true));
        let c = parse_json_command(br#"{"multiple":true,"data":{"1":false,"2":50},"cid":"c1"}"#)
            .unwrap();
        assert_eq!(c.dps.len(), 2);
        assert_eq!(c.cid.as_deref(), Some("c1"));
        let c = parse_json_command(br#"{"dps":"7","set":"auto"}"#).unwrap();
        assert_eq!(c.dps[&DpId(7)], DpValue::String("auto".into()));
        assert!(matches!(
            parse_json_command(b"on"),
            Err(PayloadError::NotJson(_))
        ));
        assert_eq!(
            parse_json_command(br#"{"set":1}"#),
            Err(PayloadError::Shape)
        );
        assert!(matches!(
            parse_json_command(br#"{"dps":4294967296,"set":1}"#),
            Err(PayloadError::BadDp(_))
        ));
        assert_eq!(
            parse_json_command(br#"{"multiple":true,"data":{}}"#),
            Err(PayloadError::Empty)
        );
    }
}
