"""rustuya-bridge as its own process: pyrustuyabridge's embedded bridge server, nothing else.

Started by the bench observer (crates/tuya-bridge/examples/bench/rustuya.rs) as
    python host.py --broker mqtt://127.0.0.1:PORT --state-file PATH
It starts with no device (a fresh state file); the observer adds them over MQTT. The bridge
handles SIGTERM itself (graceful MQTT clean-up, then start() returns).
"""
import argparse
import sys

import pyrustuyabridge


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", required=True)
    ap.add_argument("--state-file", required=True)
    ap.add_argument("--log-level", default="warn")
    a = ap.parse_args()
    # Defaults otherwise: root topic "rustuya", mqtt_retain false (events QoS 0, not retained),
    # payload template "{value}", connect_concurrency 128.
    server = pyrustuyabridge.PyBridgeServer(
        mqtt_broker=a.broker,
        state_file=a.state_file,
        log_level=a.log_level,
    )
    server.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
