//! Bad input, as a user meets it on the command line: a devices.json that is not usable, DP ids
//! and values that do not fit, and devices that refuse the key, speak another version, serve
//! another client or never answer. Each is a non-zero exit and a message naming the cause.
//! Devices are simulated on 127.61.x.x; nothing else is contacted.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use tuya_proto::Version;
use tuya_sim::{DeviceSpec, Firmware, SimOptions, Simulator};

const KEY: &str = "0123456789abcdef";

fn temp(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tuyactl-bad-{tag}-{}.json", std::process::id()))
}

/// Runs tuyactl (bounded: a hang fails the test) and returns success and stderr.
fn run(args: &[&str]) -> (bool, String) {
    let out = Command::cargo_bin("tuyactl")
        .unwrap()
        .args(args)
        .env_remove("TUYA_LOCAL_KEY")
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `tuyactl <args> --devices <a file holding text>`.
fn with_file(tag: &str, text: &str, args: &[&str]) -> (bool, String) {
    let path = temp(tag);
    std::fs::write(&path, text).unwrap();
    let mut all = args.to_vec();
    let p = path.to_str().unwrap().to_string();
    all.extend(["--devices", &p]);
    let r = run(&all);
    let _ = std::fs::remove_file(&path);
    r
}

fn assert_refused(r: (bool, String), wants: &[&str]) {
    let (ok, err) = r;
    assert!(!ok, "should fail: {err}");
    for w in wants {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
}

#[test]
fn devices_json_mistakes_are_named_with_their_place() {
    let lamp = r#"{"id":"lamp1","name":"Lamp","key":"0123456789abcdef","ip":"127.61.10.1","version":"3.3"}"#;
    // Malformed JSON: where it stopped.
    assert_refused(
        with_file("syntax", "[\n  {\"id\": \"lamp1\",}\n]", &["get", "Lamp"]),
        &["not valid JSON", "trailing comma at line 2, column 18"],
    );
    assert_refused(
        with_file("cut", "[{\"id\": \"lamp1\"", &["get", "Lamp"]),
        &["cut short"],
    );
    // Missing fields.
    assert_refused(
        with_file(
            "noid",
            r#"[{"name":"Lamp","key":"0123456789abcdef"}]"#,
            &["get", "Lamp"],
        ),
        &["entry 1 of devices.json has no \"id\""],
    );
    assert_refused(
        with_file(
            "nokey",
            r#"[{"id":"lamp1","name":"Lamp","ip":"127.61.10.1"}]"#,
            &["get", "Lamp"],
        ),
        &["Lamp: no local key in devices.json"],
    );
    assert_refused(
        with_file(
            "noip",
            r#"[{"id":"lamp1","name":"Lamp","key":"0123456789abcdef"}]"#,
            &["get", "Lamp"],
        ),
        &[
            "Lamp: no IP address in devices.json",
            "tuyactl scan --update",
        ],
    );
    // Duplicate ids.
    assert_refused(
        with_file("dup", &format!("[{lamp},{lamp}]"), &["get", "Lamp"]),
        &["lists the id \"lamp1\" twice (entries 1 and 2): keep one"],
    );
    // A sub-device that is its own gateway, and a gateway cycle.
    assert_refused(
        with_file(
            "self",
            r#"[{"id":"s1","name":"Sensor","sub":true,"parent":"s1","node_id":"c1"}]"#,
            &["get", "Sensor"],
        ),
        &["Sensor: names itself as its own gateway"],
    );
    assert_refused(
        with_file(
            "cycle",
            r#"[{"id":"a","name":"A","key":"0123456789abcdef","ip":"127.61.10.1","sub":true,"parent":"b","node_id":"1"},
                {"id":"b","name":"B","key":"0123456789abcdef","ip":"127.61.10.1","sub":true,"parent":"a","node_id":"2"}]"#,
            &["get", "A"],
        ),
        &["a gateway chain or cycle in devices.json"],
    );
    // A key of the wrong length.
    assert_refused(
        with_file(
            "shortkey",
            r#"[{"id":"lamp1","name":"Lamp","key":"0123456789abcde","ip":"127.61.10.1"}]"#,
            &["get", "Lamp"],
        ),
        &["Lamp: invalid local key: expected 16 characters, got 15"],
    );
}

#[test]
fn dp_ids_and_values_that_do_not_fit_are_refused_before_anything_is_sent() {
    // Nothing listens at this address: every refusal here comes before a connection.
    let file = r#"[{"id":"lamp1","name":"Lamp","key":"0123456789abcdef","ip":"127.61.10.2","version":"3.3",
        "mapping":{"1":{"code":"switch_1","type":"Boolean","values":{}},
                   "2":{"code":"bright","type":"Integer","values":{"min":10,"max":1000}},
                   "3":{"code":"mode","type":"Enum","values":{"range":["white","colour"]}}}}]"#;
    let set = |tag: &str, args: &[&str]| {
        let mut all = vec!["set", "Lamp"];
        all.extend(args);
        with_file(tag, file, &all)
    };
    // DP ids beyond u32: refused, not truncated to another DP (2^32 + 1 would be DP 1).
    assert_refused(
        set("big", &["4294967297=true"]),
        &["DP 4294967297 is out of range: DP ids are whole numbers from 0 to 4294967295"],
    );
    assert_refused(
        set("bigraw", &["--raw", r#"{"4294967297":true}"#]),
        &["--raw: DP 4294967297 is out of range"],
    );
    assert_refused(
        set("notdp", &["--raw", r#"{"one":true}"#]),
        &["--raw: DP \"one\" is not a number"],
    );
    // Values of the wrong type, out of range, not an option.
    assert_refused(
        set("type", &["1=abc"]),
        &[
            "DP 1 (switch_1) takes true or false, not a string",
            "--raw sends values unchecked",
        ],
    );
    assert_refused(
        set("range", &["bright=5"]),
        &["DP 2 (bright) takes 10 to 1000, not 5"],
    );
    assert_refused(
        set("enum", &["mode=disco"]),
        &["DP 3 (mode) takes one of white, colour, not \"disco\""],
    );
    // Unknown DP ids and codes.
    assert_refused(
        set("unknown", &["99=1"]),
        &["Lamp has no DP 99 in its mapping in devices.json (it has 1 switch_1, 2 bright, 3 mode)"],
    );
    assert_refused(
        set("code", &["colour_temp=1"]),
        &["unknown DP \"colour_temp\": use a number or a code from the mapping"],
    );
}

/// Accepts connections and holds them, never reading or writing.
fn black_hole(at: SocketAddr) -> std::net::TcpListener {
    let l = std::net::TcpListener::bind(at).unwrap();
    let held = l.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut conns = Vec::new();
        while let Ok((s, _)) = held.accept() {
            conns.push(s);
        }
    });
    l
}

#[test]
fn devices_that_refuse_the_key_speak_another_version_are_busy_or_never_answer_are_named() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ip = Ipv4Addr::new(127, 61, 11, 1);
    let mut spec = DeviceSpec::new("plug34", KEY, Version::V34, ip);
    spec.firmware = Firmware {
        max_clients: 1,
        ..Firmware::default()
    };
    let sim = rt
        .block_on(Simulator::start(vec![spec], SimOptions::default()))
        .unwrap();
    let flags = |key: &str| -> Vec<String> {
        [
            "get",
            "--id",
            "plug34",
            "--ip",
            "127.61.11.1",
            "--key",
            key,
            "--timeout",
            "1",
        ]
        .map(String::from)
        .to_vec()
    };
    let get = |key: &str, more: &[&str]| {
        let mut a = flags(key);
        a.extend(more.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&a)
    };
    // Wrong key.
    assert_refused(
        get("fedcba9876543210", &["--version", "3.4"]),
        &["wrong local key", "hint: if it was re-paired"],
    );
    // Wrong version: no answer in that version, and the way out.
    assert_refused(
        get(KEY, &["--version", "3.3"]),
        &[
            "timed out: no reply to DP_QUERY within 1.0 s",
            "hint: the device may not speak 3.3: run without --version",
        ],
    );
    // Already serving another client: said once, whichever versions were tried.
    let first = rt
        .block_on(tuya_local::Device::connect({
            let mut c = tuya_local::DeviceConfig::new(
                "plug34",
                tuya_proto::LocalKey::new(KEY).unwrap(),
                SocketAddr::new(ip.into(), 6668),
            );
            c.version = Some(Version::V34);
            c
        }))
        .unwrap();
    let (ok, err) = get(KEY, &[]);
    assert!(!ok);
    assert!(
        err.contains("device busy") && err.contains("serves one client at a time"),
        "{err}"
    );
    assert_eq!(err.matches("device busy").count(), 1, "{err}");
    drop(first);
    rt.block_on(sim.shutdown());

    // Accepts and never reads: the get ends, naming what happened.
    let hole = SocketAddr::from((Ipv4Addr::new(127, 61, 11, 2), 6668));
    let _l = black_hole(hole);
    let silent = |more: &[&str]| {
        let mut a = vec![
            "get",
            "--id",
            "x",
            "--ip",
            "127.61.11.2",
            "--key",
            KEY,
            "--timeout",
            "1",
        ];
        a.extend(more);
        run(&a)
    };
    assert_refused(
        silent(&["--version", "3.3"]),
        &[
            "no reply to DP_QUERY within 1.0 s",
            "the device never answered on this connection",
        ],
    );
    assert_refused(
        silent(&[]),
        &["127.61.11.2:6668 accepted the connection but answered none of the protocol versions tried (3.5, 3.4, 3.3, 3.1)", "check the local key"],
    );
}

#[test]
fn a_devices_file_others_can_read_is_warned_about_with_the_chmod_to_run() {
    use std::os::unix::fs::PermissionsExt as _;
    // Nothing listens there: the command fails fast, after the file was read.
    let lamp = r#"[{"id":"lamp1","name":"Lamp","key":"0123456789abcdef","ip":"127.61.250.1","version":"3.3"}]"#;
    let path = temp("shared");
    std::fs::write(&path, lamp).unwrap();
    let p = path.to_str().unwrap();
    let get = ["get", "Lamp", "--timeout", "2", "--devices", p];
    let warning = format!("can be read by other users and holds local keys: chmod 600 {p}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, err) = run(&get);
    assert!(err.contains(&warning), "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, err) = run(&get);
    assert!(!err.contains("other users"), "{err}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn durations_that_are_not_seconds_are_refused_by_every_flag() {
    // `scan --timeout 1e300` used to reach Duration::from_secs_f64 and panic.
    for (args, flag) in [
        (&["scan", "--timeout", "1e300"][..], "--timeout"),
        (&["get", "Lamp", "--timeout", "nan"][..], "--timeout"),
        (&["monitor", "Lamp", "--for=-1"][..], "--for"),
        (
            &["sim", "--fleet", "1", "--announce", "soon"][..],
            "--announce",
        ),
    ] {
        let (ok, err) = run(args);
        assert!(!ok, "{args:?}");
        assert!(
            err.contains(flag) && err.contains("number of seconds"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
