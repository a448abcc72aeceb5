//! A short soak (20 s, eight devices: every version, two gateways) so `cargo test` covers the
//! harness end to end: faults, broker restart, ledger, final state, resources. The ~60 s run is
//! `interop/run-soak.sh`.

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_loses_nothing() {
    let opts = tuya_soak::SoakOptions {
        duration: Duration::from_secs(20),
        devices: 8,
        seed: 20_241_202,
        broker_restarts: 1,
        // Not the block interop/run-soak.sh uses (127.60.0.x).
        block: 200,
        ..tuya_soak::SoakOptions::default()
    };
    // The run bounds itself (recovery bound, command deadlines); this only keeps a hang from
    // becoming a stuck CI job.
    let report = tokio::time::timeout(Duration::from_secs(400), tuya_soak::run(opts))
        .await
        .expect("the soak ends")
        .expect("the rig starts");
    let text = report.text();
    println!("{text}");
    assert!(report.passed(), "{text}");
    assert!(report.commands.sent > 50, "{text}");
    assert!(report.versions.len() == 5, "{text}");
}
