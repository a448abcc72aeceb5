//! `tuyactl sim` (being built).

/// Arguments of `tuyactl sim`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `tuyactl sim`.
pub fn run(_a: Args) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("tuyactl sim is not implemented yet")
}
