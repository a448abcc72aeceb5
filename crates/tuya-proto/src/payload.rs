//! JSON payloads: what clients send (queries, controls, pings, refreshes) and what devices
//! answer (status replies, pushes), per version, plus parsers for both.

use serde_json::{json, Map, Value};

use crate::dp::{dps_from_json_lossy, dps_to_json, DpId, Dps};
use crate::{Command, Version};

/// What a request needs to know about its target.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// Protocol version.
    pub version: Version,
    /// Device id (the gateway's id for sub-devices).
    pub dev_id: &'a str,
    /// Sub-device node id for gateway children.
    pub cid: Option<&'a str>,
    /// Unix seconds (the caller's clock: this crate has none).
    pub t: u64,
}

fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// DP_QUERY (≤3.3) or DP_QUERY_NEW (3.4+) payload.
///
/// ```
/// use tuya_proto::payload::{query, Target};
/// use tuya_proto::{Command, Version};
/// let t = Target { version: Version::V33, dev_id: "abc", cid: None, t: 1700000000 };
/// let (cmd, body) = query(&t);
/// assert_eq!(cmd, Command::DpQuery);
/// assert_eq!(body, br#"{"gwId":"abc","devId":"abc","uid":"abc","t":"1700000000"}"#);
/// ```
pub fn query(t: &Target) -> (Command, Vec<u8>) {
    let cmd = t.version.query_command();
    let v = match (t.version.uses_session_key(), t.cid) {
        (false, None) => {
            json!({"gwId": t.dev_id, "devId": t.dev_id, "uid": t.dev_id, "t": t.t.to_string()})
        }
        (false, Some(cid)) => json!({"t": t.t, "cid": cid}),
        (true, None) => json!({}),
        (true, Some(cid)) => json!({"cid": cid}),
    };
    (cmd, to_bytes(&v))
}

/// The "device22" query: CONTROL_NEW naming the DPs with null values.
pub fn query_device22(t: &Target, ids: &[DpId]) -> (Command, Vec<u8>) {
    let dps: Map<String, Value> = ids.iter().map(|i| (i.to_string(), Value::Null)).collect();
    let v = json!({"devId": t.dev_id, "uid": t.dev_id, "t": t.t.to_string(), "dps": dps});
    (Command::ControlNew, to_bytes(&v))
}

/// CONTROL (≤3.3) or CONTROL_NEW (3.4+) payload setting `dps`.
///
/// ```
/// use tuya_proto::payload::{control, Target};
/// use tuya_proto::{DpId, DpValue, Version};
/// let t = Target { version: Version::V34, dev_id: "abc", cid: None, t: 1700000000 };
/// let dps = [(DpId(1), DpValue::Bool(true))].into_iter().collect();
/// let (_, body) = control(&t, &dps);
/// assert_eq!(body, br#"{"protocol":5,"t":1700000000,"data":{"dps":{"1":true}}}"#);
/// ```
pub fn control(t: &Target, dps: &Dps) -> (Command, Vec<u8>) {
    control_json(t, dps_to_json(dps))
}

/// CONTROL / CONTROL_NEW with an arbitrary JSON `dps` object (e.g. null values).
pub fn control_json(t: &Target, dps: Value) -> (Command, Vec<u8>) {
    let cmd = t.version.control_command();
    let v = match (t.version.uses_session_key(), t.cid) {
        (false, None) => {
            json!({"devId": t.dev_id, "uid": t.dev_id, "t": t.t.to_string(), "dps": dps})
        }
        (false, Some(cid)) => json!({"t": t.t, "cid": cid, "dps": dps}),
        (true, None) => json!({"protocol": 5, "t": t.t, "data": {"dps": dps}}),
        (true, Some(cid)) => json!({
            "protocol": 5, "t": t.t,
            "data": {"cid": cid, "ctype": 0, "dps": dps},
            "cid": cid
        }),
    };
    (cmd, to_bytes(&v))
}

/// HEART_BEAT payload.
pub fn heartbeat(t: &Target) -> (Command, Vec<u8>) {
    (
        Command::HeartBeat,
        to_bytes(&json!({"gwId": t.dev_id, "devId": t.dev_id})),
    )
}

/// UPDATEDPS (DP_REFRESH): ask the device to push fresh values of `ids`.
pub fn refresh(ids: &[DpId]) -> (Command, Vec<u8>) {
    let ids: Vec<u32> = ids.iter().map(|d| d.0).collect();
    (Command::UpdateDps, to_bytes(&json!({"dpId": ids})))
}

/// LAN_EXT_STREAM query asking a gateway which sub-devices are online.
pub fn subdev_online_query() -> (Command, Vec<u8>) {
    (
        Command::LanExtStream,
        to_bytes(&json!({"reqType": "subdev_online_stat_query", "data": {"cids": []}})),
    )
}

/// Device side: the JSON a device answers a status query with, or pushes on change.
///
/// ≤3.3: `{"devId":…,"dps":{…},"t":…}`; 3.4+: `{"protocol":4,"t":…,"data":{"dps":{…}}}`.
/// `t = None` omits the timestamp (many firmwares leave it out of query replies).
pub fn status(
    version: Version,
    dev_id: &str,
    cid: Option<&str>,
    dps: &Dps,
    t: Option<u64>,
) -> Vec<u8> {
    let dps = dps_to_json(dps);
    let mut v = if version.uses_session_key() {
        let mut data = Map::new();
        if let Some(c) = cid {
            data.insert("cid".into(), c.into());
        }
        data.insert("dps".into(), dps);
        let mut m = Map::new();
        m.insert("protocol".into(), 4.into());
        if let Some(t) = t {
            m.insert("t".into(), t.into());
        }
        m.insert("data".into(), Value::Object(data));
        Value::Object(m)
    } else {
        let mut m = Map::new();
        m.insert("devId".into(), dev_id.into());
        if let Some(c) = cid {
            m.insert("cid".into(), c.into());
        }
        m.insert("dps".into(), dps);
        if let Some(t) = t {
            m.insert("t".into(), t.into());
        }
        Value::Object(m)
    };
    if let (true, Some(c)) = (version.uses_session_key(), cid) {
        v["cid"] = c.into();
    }
    to_bytes(&v)
}

/// DPs reported by a device, from a status reply or a push of any version.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusUpdate {
    /// The DP values carried.
    pub dps: Dps,
    /// Sub-device id, when the update concerns a gateway child.
    pub cid: Option<String>,
    /// The `t` field (Unix seconds — or uptime on devices without a clock).
    pub t: Option<u64>,
    /// `devId` when present.
    pub dev_id: Option<String>,
    /// Keys of `dps` that are not DP ids (not numbers, or beyond `u32`), left out of `dps`.
    pub ignored: Vec<String>,
}

impl StatusUpdate {
    /// Parses a status JSON of either layout (top-level `dps`, or `data.dps` on 3.4+); `t` may be
    /// a string or a number; `cid` may be at the top or under `data`.
    pub fn parse(v: &Value) -> Option<Self> {
        let obj = v.as_object()?;
        let data = obj.get("data").and_then(Value::as_object);
        let dps_v = obj.get("dps").or_else(|| data.and_then(|d| d.get("dps")))?;
        let cid = obj
            .get("cid")
            .or_else(|| data.and_then(|d| d.get("cid")))
            .and_then(Value::as_str)
            .map(str::to_string);
        let t = obj.get("t").and_then(|t| match t {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        });
        let (dps, ignored) = dps_from_json_lossy(dps_v);
        Some(Self {
            dps,
            cid,
            t,
            dev_id: obj.get("devId").and_then(Value::as_str).map(str::to_string),
            ignored,
        })
    }

    /// Parses raw payload bytes.
    pub fn parse_bytes(b: &[u8]) -> Option<Self> {
        Self::parse(&serde_json::from_slice(b).ok()?)
    }
}

/// Device side: what a CONTROL / CONTROL_NEW asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ControlRequest {
    /// DPs to set. Null values (the device22 query) are listed in `queried` instead.
    pub dps: Dps,
    /// DPs named with a null value: a device22-style query.
    pub queried: Vec<DpId>,
    /// Sub-device addressed.
    pub cid: Option<String>,
}

impl ControlRequest {
    /// Parses either layout.
    pub fn parse_bytes(b: &[u8]) -> Option<Self> {
        let v: Value = serde_json::from_slice(b).ok()?;
        let obj = v.as_object()?;
        let data = obj.get("data").and_then(Value::as_object);
        let dps_v = obj
            .get("dps")
            .or_else(|| data.and_then(|d| d.get("dps")))?
            .as_object()?;
        let mut req = ControlRequest {
            cid: obj
                .get("cid")
                .or_else(|| data.and_then(|d| d.get("cid")))
                .and_then(Value::as_str)
                .map(str::to_string),
            ..Default::default()
        };
        for (k, val) in dps_v {
            let Ok(id) = k.parse::<DpId>() else { continue };
            if val.is_null() {
                req.queried.push(id);
            } else {
                req.dps.insert(id, crate::DpValue::from_json(val));
            }
        }
        Some(req)
    }
}

/// Device side: the DPs named by an UPDATEDPS request (`{"dpId":[18,19,20]}`).
pub fn parse_refresh(b: &[u8]) -> Vec<DpId> {
    serde_json::from_slice::<Value>(b)
        .ok()
        .and_then(|v| {
            v.get("dpId")?.as_array().map(|a| {
                a.iter()
                    .filter_map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok()).map(DpId))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// Device side: the `cid` of a query, if any.
pub fn parse_query_cid(b: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(b).ok()?;
    v.get("cid")
        .or_else(|| v.get("data").and_then(|d| d.get("cid")))
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DpValue;

    fn t(version: Version, cid: Option<&str>) -> Target<'_> {
        Target {
            version,
            dev_id: "bf0123456789abcdefgh01",
            cid,
            t: 1700000000,
        }
    }

    // Expected bodies are the tinytuya 1.20 request payloads in vectors/tinytuya-1.20-frames.txt.
    #[test]
    fn builders_match_tinytuya() {
        let (c, b) = query(&t(Version::V33, None));
        assert_eq!(c, Command::DpQuery);
        assert_eq!(b, br#"{"gwId":"bf0123456789abcdefgh01","devId":"bf0123456789abcdefgh01","uid":"bf0123456789abcdefgh01","t":"1700000000"}"#);
        let (c, b) = query(&t(Version::V35, None));
        assert_eq!((c, b.as_slice()), (Command::DpQueryNew, &b"{}"[..]));
        let dps: Dps = [(DpId(1), DpValue::Bool(true))].into_iter().collect();
        let (c, b) = control(&t(Version::V31, None), &dps);
        assert_eq!(c, Command::Control);
        assert_eq!(b, br#"{"devId":"bf0123456789abcdefgh01","uid":"bf0123456789abcdefgh01","t":"1700000000","dps":{"1":true}}"#);
        let (_, b) = control(&t(Version::V35, Some("a4c1380000000001")), &dps);
        assert_eq!(b, br#"{"protocol":5,"t":1700000000,"data":{"cid":"a4c1380000000001","ctype":0,"dps":{"1":true}},"cid":"a4c1380000000001"}"#);
        let (_, b) = control(&t(Version::V33, Some("a4c1380000000001")), &dps);
        assert_eq!(
            b,
            br#"{"t":1700000000,"cid":"a4c1380000000001","dps":{"1":true}}"#
        );
        let (_, b) = query(&t(Version::V33, Some("a4c1380000000001")));
        assert_eq!(b, br#"{"t":1700000000,"cid":"a4c1380000000001"}"#);
        let (_, b) = query(&t(Version::V35, Some("a4c1380000000001")));
        assert_eq!(b, br#"{"cid":"a4c1380000000001"}"#);
        let (c, b) = query_device22(&t(Version::V33, None), &[DpId(1), DpId(2)]);
        assert_eq!(c, Command::ControlNew);
        assert_eq!(b, br#"{"devId":"bf0123456789abcdefgh01","uid":"bf0123456789abcdefgh01","t":"1700000000","dps":{"1":null,"2":null}}"#);
        assert_eq!(
            heartbeat(&t(Version::V34, None)).1,
            br#"{"gwId":"bf0123456789abcdefgh01","devId":"bf0123456789abcdefgh01"}"#
        );
        assert_eq!(
            refresh(&[DpId(18), DpId(19), DpId(20)]).1,
            br#"{"dpId":[18,19,20]}"#
        );
        assert_eq!(
            subdev_online_query().1,
            br#"{"reqType":"subdev_online_stat_query","data":{"cids":[]}}"#
        );
    }

    #[test]
    fn status_round_trips_both_layouts() {
        let dps: Dps = [
            (DpId(1), DpValue::Bool(true)),
            (DpId(20), DpValue::Integer(500)),
        ]
        .into_iter()
        .collect();
        for v in Version::ALL {
            for cid in [None, Some("c1")] {
                let b = status(v, "dev", cid, &dps, Some(17));
                let s = StatusUpdate::parse_bytes(&b).unwrap();
                assert_eq!(s.dps, dps, "{v}");
                assert_eq!(s.cid.as_deref(), cid);
                assert_eq!(s.t, Some(17));
            }
        }
        let s = StatusUpdate::parse_bytes(br#"{"dps":{"1":false},"t":"123"}"#).unwrap();
        assert_eq!(s.t, Some(123));
    }

    #[test]
    fn control_request_parses_both_layouts_and_nulls() {
        let r = ControlRequest::parse_bytes(
            br#"{"protocol":5,"t":1,"data":{"cid":"x","dps":{"1":true,"2":null}}}"#,
        )
        .unwrap();
        assert_eq!(r.cid.as_deref(), Some("x"));
        assert_eq!(r.dps[&DpId(1)], DpValue::Bool(true));
        assert_eq!(r.queried, vec![DpId(2)]);
        assert_eq!(
            parse_refresh(br#"{"dpId":[18,19]}"#),
            vec![DpId(18), DpId(19)]
        );
        // 2^32 + 18 is no DP, not DP 18.
        assert_eq!(
            parse_refresh(br#"{"dpId":[4294967314,19]}"#),
            vec![DpId(19)]
        );
    }
}
