//! `assay demo`: the whole story on one machine.

/// Runs the demo.
pub async fn run(_args: &crate::cli::DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("the demo is being assembled")
}
