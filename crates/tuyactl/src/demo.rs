//! `tuyactl demo` (being built).

/// Arguments of `tuyactl demo`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `tuyactl demo`.
pub fn run(_a: Args) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("tuyactl demo is not implemented yet")
}
