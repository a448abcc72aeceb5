//! `tuyactl get / set / monitor` (being built).

use std::process::ExitCode;

/// Arguments of `tuyactl get`.
#[derive(clap::Args)]
pub struct GetArgs {}
/// Arguments of `tuyactl set`.
#[derive(clap::Args)]
pub struct SetArgs {}
/// Arguments of `tuyactl monitor`.
#[derive(clap::Args)]
pub struct MonitorArgs {}

/// Runs `tuyactl get`.
pub fn get(_a: GetArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
/// Runs `tuyactl set`.
pub fn set(_a: SetArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
/// Runs `tuyactl monitor`.
pub fn monitor(_a: MonitorArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
