//! Built-in knowledge of Tuya's standard DP codes: how a code behaves in Home Assistant when the
//! mapping does not say (names, device classes, units, scales, ranges, enum options, whether it
//! is read-only). Everything here is a default: the mapping's `values` and the user's
//! [`DpOverride`](super::DpOverride) win.

/// What we know about one standard code.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CodeInfo {
    /// Entity name (a numbered code such as `switch_2` gets " 2" appended).
    pub name: Option<&'static str>,
    /// HA device class.
    pub device_class: Option<&'static str>,
    /// Unit of measurement.
    pub unit: Option<&'static str>,
    /// Decimal places of the raw integer (value = raw / 10^scale).
    pub scale: u32,
    /// Integer range and step, raw.
    pub range: Option<(i64, i64, i64)>,
    /// HA state class of a measurement sensor.
    pub state_class: Option<&'static str>,
    /// Reported by the device only: a sensor (or binary sensor), never a control.
    pub read_only: bool,
    /// Default enum options.
    pub options: &'static [&'static str],
    /// For a read-only code shown as a binary sensor: the "on" and "off" payloads when the DP
    /// is an enum rather than a boolean.
    pub binary: Option<(&'static str, &'static str)>,
    /// HA entity category (`config` / `diagnostic`).
    pub entity_category: Option<&'static str>,
}

const fn named(name: &'static str) -> CodeInfo {
    CodeInfo {
        name: Some(name),
        device_class: None,
        unit: None,
        scale: 0,
        range: None,
        state_class: None,
        read_only: false,
        options: &[],
        binary: None,
        entity_category: None,
    }
}

const fn measurement(
    name: &'static str,
    device_class: &'static str,
    unit: &'static str,
    scale: u32,
) -> CodeInfo {
    CodeInfo {
        device_class: Some(device_class),
        unit: Some(unit),
        scale,
        state_class: Some("measurement"),
        read_only: true,
        ..named(name)
    }
}

const fn binary(
    name: &'static str,
    device_class: &'static str,
    on_off: Option<(&'static str, &'static str)>,
) -> CodeInfo {
    CodeInfo {
        device_class: Some(device_class),
        read_only: true,
        binary: on_off,
        ..named(name)
    }
}

/// `switch_2` → (`switch`, Some(2)); `cur_power` → (`cur_power`, None). Only a trailing
/// `_<digits>` counts, so `bright_value_v2` stays whole.
pub(crate) fn split_number(code: &str) -> (&str, Option<&str>) {
    if let Some((head, tail)) = code.rsplit_once('_') {
        if !head.is_empty() && !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            return (head, Some(tail));
        }
    }
    (code, None)
}

/// The built-in facts about `code` (numbered codes like `switch_1` / `countdown_2` are looked up
/// by their stem). Unknown codes give the default (nothing known).
pub(crate) fn code_info(code: &str) -> CodeInfo {
    if let Some(info) = exact(code) {
        return info;
    }
    let (stem, n) = split_number(code);
    if n.is_some() {
        if let Some(info) = exact(stem) {
            return info;
        }
    }
    CodeInfo::default()
}

fn exact(code: &str) -> Option<CodeInfo> {
    Some(match code {
        // Switches and plugs (`kg`, `cz`, `pc`).
        "switch" => named("Switch"),
        "switch_usb" => named("USB"),
        "child_lock" => CodeInfo {
            entity_category: Some("config"),
            ..named("Child lock")
        },
        "countdown" => CodeInfo {
            unit: Some("s"),
            range: Some((0, 86_400, 1)),
            entity_category: Some("config"),
            ..named("Countdown")
        },
        "relay_status" => CodeInfo {
            options: &["power_off", "power_on", "last"],
            entity_category: Some("config"),
            ..named("Power-on behaviour")
        },
        "light_mode" => CodeInfo {
            options: &["none", "relay", "pos"],
            entity_category: Some("config"),
            ..named("Indicator light")
        },
        "cur_power" => measurement("Power", "power", "W", 1),
        "cur_voltage" => measurement("Voltage", "voltage", "V", 1),
        "cur_current" => measurement("Current", "current", "mA", 0),
        "add_ele" => CodeInfo {
            state_class: Some("total_increasing"),
            ..measurement("Energy", "energy", "kWh", 3)
        },
        // Lights (`dj`): used standalone only when they are not part of a light.
        "switch_led" => named("Light"),
        "work_mode" => CodeInfo {
            options: &["white", "colour", "scene", "music"],
            ..named("Mode")
        },
        "bright_value" => CodeInfo {
            range: Some((25, 255, 1)),
            ..named("Brightness")
        },
        "bright_value_v2" => CodeInfo {
            range: Some((10, 1000, 1)),
            ..named("Brightness")
        },
        "temp_value" => CodeInfo {
            range: Some((0, 255, 1)),
            ..named("Colour temperature")
        },
        "temp_value_v2" => CodeInfo {
            range: Some((0, 1000, 1)),
            ..named("Colour temperature")
        },
        "colour_data" | "colour_data_v2" => named("Colour"),
        "scene_data" | "scene_data_v2" => named("Scene"),
        // Covers (`cl`).
        "control" => CodeInfo {
            options: &["open", "stop", "close"],
            ..named("Control")
        },
        "percent_control" => CodeInfo {
            unit: Some("%"),
            range: Some((0, 100, 1)),
            ..named("Position")
        },
        "percent_state" => CodeInfo {
            unit: Some("%"),
            range: Some((0, 100, 1)),
            read_only: true,
            ..named("Current position")
        },
        "control_back_mode" | "control_back" => CodeInfo {
            entity_category: Some("config"),
            ..named("Reverse motor")
        },
        // Sensors (`wsdcg`, `mcs`, `pir`, `sj`, `ywbj`, …).
        "va_temperature" | "temp_current" => measurement("Temperature", "temperature", "°C", 1),
        "va_humidity" | "humidity_value" | "humidity_current" => {
            measurement("Humidity", "humidity", "%", 0)
        }
        "battery_percentage" | "residual_electricity" => CodeInfo {
            entity_category: Some("diagnostic"),
            ..measurement("Battery", "battery", "%", 0)
        },
        "battery_state" => CodeInfo {
            read_only: true,
            options: &["low", "middle", "high"],
            entity_category: Some("diagnostic"),
            ..named("Battery level")
        },
        "pm25_value" => measurement("PM2.5", "pm25", "µg/m³", 0),
        "co2_value" => measurement("CO2", "carbon_dioxide", "ppm", 0),
        "bright_value_sensor" | "illuminance_value" => {
            measurement("Illuminance", "illuminance", "lx", 0)
        }
        "doorcontact_state" => binary("Door", "door", None),
        "pir" => binary("Motion", "motion", Some(("pir", "none"))),
        "presence_state" => binary("Presence", "occupancy", Some(("presence", "none"))),
        "watersensor_state" => binary("Water leak", "moisture", Some(("alarm", "normal"))),
        "smoke_sensor_status" | "smoke_sensor_state" => {
            binary("Smoke", "smoke", Some(("alarm", "normal")))
        }
        "gas_sensor_status" | "gas_sensor_state" => binary("Gas", "gas", Some(("alarm", "normal"))),
        "temper_alarm" => CodeInfo {
            entity_category: Some("diagnostic"),
            ..binary("Tamper", "tamper", None)
        },
        "battery_low" => CodeInfo {
            entity_category: Some("diagnostic"),
            ..binary("Battery low", "battery", None)
        },
        "fault" => CodeInfo {
            read_only: true,
            entity_category: Some("diagnostic"),
            ..named("Fault")
        },
        _ => return None,
    })
}

/// Tuya categories whose `switch_led` is a light.
pub(crate) fn is_light_category(category: &str) -> bool {
    matches!(
        category,
        "dj" | "dd" | "xdd" | "fwd" | "dc" | "gyd" | "tyndj" | "fsd"
    )
}

/// A readable name of a Tuya category, for the device's model when nothing better is known.
pub(crate) fn category_name(category: &str) -> Option<&'static str> {
    Some(match category {
        "cz" => "Smart plug",
        "pc" => "Power strip",
        "kg" => "Switch",
        "tdq" => "Circuit breaker",
        "dj" => "Light",
        "dd" => "Light strip",
        "xdd" => "Ceiling light",
        "fwd" => "Ambient light",
        "dc" => "String lights",
        "cl" => "Curtain",
        "clkg" => "Curtain switch",
        "wsdcg" => "Temperature and humidity sensor",
        "mcs" => "Contact sensor",
        "pir" => "Motion sensor",
        "sj" => "Water leak sensor",
        "ywbj" => "Smoke alarm",
        "rqbj" => "Gas alarm",
        "wg2" | "wg" => "Gateway",
        "wk" => "Thermostat",
        "fs" => "Fan",
        "kj" => "Air purifier",
        "cs" => "Dehumidifier",
        "jsq" => "Humidifier",
        _ => return None,
    })
}

/// HA's spelling of a unit as Tuya's specs write it (`℃` → `°C`); empty → none.
pub(crate) fn normalize_unit(unit: &str) -> Option<String> {
    let u = unit.trim();
    let fixed = match u {
        "" => return None,
        "℃" | "°c" | "C" | "c" => "°C",
        "℉" | "°f" | "F" => "°F",
        "kwh" | "KWH" | "kWH" | "KWh" => "kWh",
        "w" => "W",
        "v" => "V",
        "ma" => "mA",
        "lux" | "Lux" => "lx",
        "ug/m3" | "μg/m³" => "µg/m³",
        "sec" | "second" | "seconds" => "s",
        other => other,
    };
    Some(fixed.to_string())
}

/// `switch_1` → "Switch 1", `cur_power` → "Power", `some_new_code` → "Some new code".
pub(crate) fn display_name(code: &str) -> String {
    if let Some(name) = exact(code).and_then(|i| i.name) {
        return name.to_string();
    }
    let (stem, n) = split_number(code);
    if let (Some(n), Some(name)) = (n, exact(stem).and_then(|i| i.name)) {
        return format!("{name} {n}");
    }
    humanise(code)
}

/// `some_new_code` → "Some new code".
pub(crate) fn humanise(code: &str) -> String {
    let spaced: String = code
        .chars()
        .map(|c| if c == '_' || c == '-' { ' ' } else { c })
        .collect();
    let spaced = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
