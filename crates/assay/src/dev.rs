//! `assay dev`: the plugin author's loop.
//!
//! It runs the host (with hot reload) and watches the source crate of every product that names
//! one (`source` in the product's table). With the `emulator` feature (the default) the results
//! go to a local StackOne emulator, which prints them; without it they go to the configured
//! `stackone.base_url`. When a source file changes and settles, the crate is rebuilt with
//! `cargo build --release --target wasm32-wasip2`; the new `.wasm` is written into the plugins
//! folder through a temporary file and a rename, and the host swaps it in. A build that fails
//! prints the compiler's output and changes nothing: the last good plugin keeps serving.
//! Build outputs (`target/`) and the plugins folder are not watched, so a build never
//! triggers another.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::cli::{ConfigArgs, shutdown_signal};
use crate::debounce::Debouncer;
use crate::plugin_build;
use crate::reload;

/// A product's plugin source: where it is, what it is called, where it goes.
#[derive(Debug, Clone)]
pub struct Source {
    /// The product.
    pub product: String,
    /// The crate's folder.
    pub dir: PathBuf,
    /// The crate's package name.
    pub package: String,
    /// The plugin file to write.
    pub plugin: PathBuf,
}

/// Runs the loop until Ctrl-C.
pub async fn run(args: &ConfigArgs) -> anyhow::Result<()> {
    let overrides = args.overrides();
    #[cfg(feature = "emulator")]
    let (overrides, emulator_listener) = LocalStackOne::bind(overrides).await?;
    let config =
        crate::config::Config::load(&args.config_path(), &overrides, crate::config::process_env)
            .with_context(|| format!("loading {}", args.config.display()))?;
    let sources: Vec<Source> = config
        .products
        .values()
        .filter_map(|p| p.source.as_ref().map(|dir| (p, dir)))
        .map(|(p, dir)| {
            Ok(Source {
                product: p.name.clone(),
                dir: dir.clone(),
                package: package_name(dir)?,
                plugin: p.plugin.clone(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    #[cfg(feature = "emulator")]
    let mut stackone = LocalStackOne::start(&config, emulator_listener)?;
    #[cfg(not(feature = "emulator"))]
    let mut stackone = {
        println!(
            "Results go to the configured StackOne at {} (this build has no emulator)",
            config.stackone.base_url
        );
        NoLocalStackOne
    };

    for source in &sources {
        rebuild(source).await;
    }
    let host = crate::commands::start_watching(args, config, overrides).await?;
    println!(
        "Assay serving on {}; watching {} plugin source(s). Ctrl-C to stop.",
        host.base_url(),
        sources.len()
    );

    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && reload::changes_content(&event.kind)
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    for source in &sources {
        watcher
            .watch(&source.dir, RecursiveMode::Recursive)
            .with_context(|| format!("watching {}", source.dir.display()))?;
    }
    let mut pending = Debouncer::default();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    // Wakes only for a file event, a settled source or a result reaching the local StackOne.
    loop {
        tokio::select! {
            () = &mut stop => break,
            Some(path) = rx.recv() => {
                if let Some(i) = owner(&sources, &path) {
                    pending.touch(i, Instant::now());
                }
            }
            () = pending.wait() => {
                for i in pending.take_due(Instant::now()) {
                    rebuild(&sources[i]).await;
                }
            }
            () = stackone.arrival() => stackone.print_new(),
        }
    }
    drop(watcher);
    host.shutdown().await?;
    stackone.stop().await;
    Ok(())
}

/// The local StackOne of `assay dev`: an emulator that accepts results for any order and
/// prints each one it receives.
#[cfg(feature = "emulator")]
struct LocalStackOne {
    emulator: assay_emulator::RunningEmulator,
    /// Deliveries already printed.
    shown: usize,
    /// Moves when a result arrives.
    arrivals: tokio::sync::watch::Receiver<usize>,
}

#[cfg(feature = "emulator")]
impl LocalStackOne {
    /// Binds a loopback port for the emulator and points `stackone.base_url` at it.
    async fn bind(
        mut overrides: crate::config::Overrides,
    ) -> anyhow::Result<(crate::config::Overrides, tokio::net::TcpListener)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        overrides.stackone_base_url = Some(format!("http://{}", listener.local_addr()?));
        Ok((overrides, listener))
    }

    /// Starts the emulator on `listener`, accepting every product's StackOne key.
    fn start(
        config: &crate::config::Config,
        listener: tokio::net::TcpListener,
    ) -> anyhow::Result<Self> {
        let keys = config
            .products
            .values()
            .map(|p| p.stackone_api_key.clone())
            .collect();
        let emulator = assay_emulator::Emulator::new(keys);
        // Orders come from whoever the author points at the host, not from this emulator.
        emulator.set_reject_unknown_orders(false);
        let emulator = emulator.start_on(listener)?;
        println!(
            "StackOne emulator receiving results on {}",
            emulator.base_url()
        );
        let arrivals = emulator.subscribe_deliveries();
        Ok(Self {
            emulator,
            shown: 0,
            arrivals,
        })
    }

    /// Waits for the next result to arrive.
    async fn arrival(&mut self) {
        if self.arrivals.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Prints the deliveries received since the last call.
    fn print_new(&mut self) {
        let delivered = self.emulator.deliveries();
        for d in delivered.iter().skip(self.shown) {
            let body = d.json.as_ref().map(|j| j.to_string()).unwrap_or_default();
            println!("StackOne received {} -> {} {body}", d.path, d.status);
        }
        self.shown = delivered.len();
    }

    async fn stop(self) {
        // The loop is over; an error stopping the emulator changes nothing for the author.
        let _ = self.emulator.stop().await;
    }
}

/// Without the emulator, results go to the configured StackOne and there is nothing to print.
#[cfg(not(feature = "emulator"))]
struct NoLocalStackOne;

#[cfg(not(feature = "emulator"))]
impl NoLocalStackOne {
    async fn arrival(&mut self) {
        std::future::pending::<()>().await;
    }

    fn print_new(&mut self) {}

    async fn stop(self) {}
}

/// Which source a changed path belongs to; `None` for build outputs and unrelated files.
fn owner(sources: &[Source], path: &Path) -> Option<usize> {
    if path.components().any(|c| c.as_os_str() == "target") {
        return None;
    }
    let relevant = path
        .extension()
        .is_some_and(|e| e == "rs" || e == "toml" || e == "wit")
        || path.is_dir();
    if !relevant {
        return None;
    }
    sources.iter().position(|s| path.starts_with(&s.dir))
}

/// Rebuilds one plugin and installs it; prints the compiler's output on failure.
async fn rebuild(source: &Source) {
    let started = Instant::now();
    println!("[{}] building {} …", source.product, source.package);
    let s = source.clone();
    let built = tokio::task::spawn_blocking(move || {
        let manifest = s.dir.join("Cargo.toml");
        // A crate inside a workspace builds into the workspace's target folder.
        let target = s
            .dir
            .parent()
            .filter(|p| p.join("Cargo.toml").is_file())
            .map_or_else(|| s.dir.join("target"), |p| p.join("target"));
        let files = plugin_build::build(&manifest, &target, &[s.package.as_str()])?;
        let dir = s.plugin.parent().map(Path::to_path_buf).unwrap_or_default();
        let name = s
            .plugin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        plugin_build::install(&files[0], &dir, &name)
    })
    .await;
    match built {
        Ok(Ok(path)) => println!(
            "[{}] installed {} in {:.1?}; the host reloads it",
            source.product,
            path.display(),
            started.elapsed()
        ),
        Ok(Err(e)) => println!(
            "[{}] {e}\n[{}] the last good plugin keeps serving",
            source.product, source.product
        ),
        Err(e) => println!("[{}] build task failed: {e}", source.product),
    }
}

/// The `[package] name` of the crate in `dir`.
fn package_name(dir: &Path) -> anyhow::Result<String> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", manifest.display()))?;
    value
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .with_context(|| format!("{} has no [package] name", manifest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_outputs_and_other_files_are_not_sources() {
        let sources = vec![Source {
            product: "p".into(),
            dir: "/w/plugins/p".into(),
            package: "p".into(),
            plugin: "/w/plugins/p.wasm".into(),
        }];
        assert_eq!(
            owner(&sources, Path::new("/w/plugins/p/src/lib.rs")),
            Some(0)
        );
        assert_eq!(
            owner(&sources, Path::new("/w/plugins/p/Cargo.toml")),
            Some(0)
        );
        assert_eq!(
            owner(&sources, Path::new("/w/plugins/p/target/release/x.rs")),
            None
        );
        assert_eq!(owner(&sources, Path::new("/w/plugins/p.wasm")), None);
        assert_eq!(owner(&sources, Path::new("/w/plugins/p/notes.md")), None);
    }
}
