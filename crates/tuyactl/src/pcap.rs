//! `tuyactl decode --pcap` (being built).

/// Decodes a capture file; called by `decode` when `--pcap` is given.
pub fn run(_args: &crate::decode::Args) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("--pcap is not implemented yet")
}
