//! `assay dev`: the plugin author's loop.
//!
//! It runs the host (with hot reload) and watches the source project of every product that
//! names one (`source` in the product's table): a Rust crate, a TypeScript/JavaScript package
//! or a Python project, told apart by its `Cargo.toml`, `package.json` or `pyproject.toml`
//! ([`plugin_build::Project::detect`]; none or several is an error naming the folder). With the
//! `emulator` feature (the default) the results go to a local StackOne emulator, which prints
//! them; without it they go to the configured `stackone.base_url`. When a source file changes
//! and settles, the project is rebuilt with its language's command (`cargo build --release
//! --target wasm32-wasip2`; `npm ci` when `node_modules` is missing, then `npm run build`;
//! `./build.sh`); a line says when a build starts, another every [`HEARTBEAT`] while it runs
//! (a JS or Python component takes a minute to make) and one when it ends, with its time. The
//! new `.wasm` is written into the plugins folder through a temporary file and a rename, and
//! the host swaps it in. A build that fails prints the tool's output and changes nothing: the
//! last good plugin keeps serving. Build outputs and installed toolchains (`target/`,
//! `node_modules/`, `dist/`, `.venv/`, `__pycache__/`) and the plugins folder are not watched,
//! so a build never triggers another.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    /// The project's folder.
    pub dir: PathBuf,
    /// Its language and build.
    pub project: plugin_build::Project,
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
                project: plugin_build::Project::detect(dir)
                    .with_context(|| format!("the `source` of product {}", p.name))?,
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
    // Said once every source is watched (a recursive watch of a project with `node_modules/`
    // takes a while on a busy machine): an edit after this line is seen.
    println!(
        "Assay serving on {}; watching {} plugin source(s). Ctrl-C to stop.",
        host.base_url(),
        sources.len()
    );
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

/// Folders of build outputs and installed toolchains: never sources.
const NOT_SOURCES: [&str; 6] = [
    "target",
    "node_modules",
    "dist",
    ".venv",
    "__pycache__",
    "bindings",
];

/// The extensions of source files, in every language.
const SOURCE_EXTENSIONS: [&str; 10] = [
    "rs", "toml", "wit", "ts", "mts", "js", "mjs", "json", "py", "sh",
];

/// How often a running build says it still runs.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// Which source a changed path belongs to; `None` for build outputs, installed toolchains,
/// lock files (an install writes them), hidden files and unrelated files.
fn owner(sources: &[Source], path: &Path) -> Option<usize> {
    let i = sources.iter().position(|s| path.starts_with(&s.dir))?;
    let inside = path.strip_prefix(&sources[i].dir).ok()?;
    if inside
        .components()
        .any(|c| NOT_SOURCES.iter().any(|n| c.as_os_str() == *n))
    {
        return None;
    }
    let name = path.file_name()?.to_string_lossy();
    if name.starts_with('.') || name == "package-lock.json" || name == "Cargo.lock" {
        return None;
    }
    let relevant = path
        .extension()
        .is_some_and(|e| SOURCE_EXTENSIONS.iter().any(|x| e == *x))
        || path.is_dir();
    relevant.then_some(i)
}

/// Rebuilds one plugin and installs it; prints the tool's output on failure, and a line every
/// [`HEARTBEAT`] while the build runs.
async fn rebuild(source: &Source) {
    let started = Instant::now();
    println!(
        "[{}] building {} ({}) …",
        source.product,
        source.dir.display(),
        source.project.language()
    );
    let s = source.clone();
    let build = tokio::task::spawn_blocking(move || {
        let file = s.project.build(&s.dir)?;
        let dir = s.plugin.parent().map(Path::to_path_buf).unwrap_or_default();
        let name = s
            .plugin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        plugin_build::install(&file, &dir, &name)
    });
    tokio::pin!(build);
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let built = loop {
        tokio::select! {
            built = &mut build => break built,
            _ = beat.tick() => println!(
                "[{}] still building ({} s)",
                source.product,
                started.elapsed().as_secs()
            ),
        }
    };
    match built {
        Ok(Ok(path)) => println!(
            "[{}] built in {:.1?}; installed {}, the host reloads it",
            source.product,
            started.elapsed(),
            path.display()
        ),
        Ok(Err(e)) => println!(
            "[{}] build failed after {:.1?}: {e}\n[{}] the last good plugin keeps serving",
            source.product,
            started.elapsed(),
            source.product
        ),
        Err(e) => println!("[{}] build task failed: {e}", source.product),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_outputs_toolchains_and_other_files_are_not_sources() {
        let source = |dir: &str| Source {
            product: "p".into(),
            dir: dir.into(),
            project: plugin_build::Project::Js {
                plugin: "dist/p.wasm".into(),
            },
            plugin: "/w/plugins/p.wasm".into(),
        };
        let sources = vec![source("/w/src/p"), source("/w/src/q")];
        for (path, owner_of) in [
            ("/w/src/p/src/lib.rs", Some(0)),
            ("/w/src/p/Cargo.toml", Some(0)),
            ("/w/src/q/src/plugin.ts", Some(1)),
            ("/w/src/q/package.json", Some(1)),
            ("/w/src/q/src/app.py", Some(1)),
            ("/w/src/p/target/release/x.rs", None),
            ("/w/src/q/node_modules/esbuild/lib/main.js", None),
            ("/w/src/q/dist/bundle.js", None),
            ("/w/src/q/vendor/assay-plugin-sdk/.venv/lib/site.py", None),
            ("/w/src/q/src/__pycache__/app.py", None),
            ("/w/src/q/package-lock.json", None),
            ("/w/src/q/dist/.p.wasm.tmp", None),
            ("/w/plugins/p.wasm", None),
            ("/w/src/p/notes.md", None),
        ] {
            assert_eq!(owner(&sources, Path::new(path)), owner_of, "{path}");
        }
    }
}
