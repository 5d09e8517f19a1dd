//! From the file as written ([`RawConfig`]) to the [`Config`] the host uses: overrides applied,
//! defaults filled, values checked, paths anchored, secrets resolved.
//!
//! The first problem found is returned; every error names where the value came from and its
//! dotted key.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::address::{parse_base_url, parse_listen, parse_origin};
use super::raw::{RawConfig, RawProduct, RawServer};
use super::secret_ref::{SecretRef, SecretRefList, SettingValue};
use super::*;
use crate::limits;
use assay_wire::origin::AllowedHost;

/// The origin of values from [`Overrides`].
const COMMAND_LINE: &str = "command line";
/// Upper bound of `store.max_batch`: larger batches only lengthen the slowest acknowledgement.
const MAX_STORE_BATCH: usize = 4096;

/// Parses, checks and resolves `text`, the contents of the file called `origin`.
pub(super) fn load(
    text: &str,
    origin: &str,
    base_dir: &Path,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let raw = RawConfig::parse(text, origin)?;
    let mut cx = Context {
        origin,
        text,
        base_dir,
        env,
        secret_files: BTreeSet::new(),
    };
    cx.config(raw, overrides)
}

struct Context<'a> {
    origin: &'a str,
    text: &'a str,
    /// Anchors the file's relative paths.
    base_dir: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    secret_files: BTreeSet<PathBuf>,
}

impl Context<'_> {
    fn config(&mut self, raw: RawConfig, overrides: &Overrides) -> Result<Config, ConfigError> {
        let server = self.server(&raw, overrides)?;
        let store_path_given = overrides.store_path.is_some()
            || self.env_text(ENV_STORE_PATH).is_some()
            || raw.store.path.is_some();
        let store_path = match (&overrides.store_path, self.env_text(ENV_STORE_PATH)) {
            (Some(path), _) => path.clone(),
            (None, Some((path, _))) => PathBuf::from(path),
            (None, None) => self.path(raw.store.path.as_ref(), "store.path", DEFAULT_STORE_PATH)?,
        };
        let store_url = match &raw.store.url {
            Some(url) if store_path_given => {
                return Err(self.invalid(
                    url.span(),
                    "store.url",
                    "store.url (PostgreSQL) and store.path (SQLite) name two different stores: \
                     set one of them (store.path may also come from ASSAY_STORE_PATH or --store)",
                ));
            }
            Some(url) => {
                let secret = self.secret(url, "store.url")?;
                if secret.expose().trim().is_empty() {
                    return Err(self.invalid(
                        url.span(),
                        "store.url",
                        format!(
                            "{} is empty: it must name a PostgreSQL database",
                            url.get_ref()
                        ),
                    ));
                }
                Some(secret)
            }
            None => None,
        };
        let plugins_dir = match (&overrides.plugins_dir, self.env_text(ENV_PLUGINS_DIR)) {
            (Some(path), _) => path.clone(),
            (None, Some((path, _))) => PathBuf::from(path),
            (None, None) => {
                self.path(raw.plugins.dir.as_ref(), "plugins.dir", DEFAULT_PLUGINS_DIR)?
            }
        };
        let cache_dir = match &raw.plugins.cache_dir {
            Some(dir) => self.path(Some(dir), "plugins.cache_dir", "")?,
            None => store_path
                .parent()
                .unwrap_or(Path::new(""))
                .join(DEFAULT_CACHE_DIR_NAME),
        };
        let memory_budget_bytes = match &raw.plugins.memory_budget_mb {
            None => limits::default_memory_budget(),
            Some(mb) => {
                self.bounded(mb, "plugins.memory_budget_mb", 1, MAX_MEMORY_BUDGET_MB)? << 20
            }
        };
        let compiler = match &raw.plugins.compiler {
            None => CompilerChoice::default(),
            Some(word) => CompilerChoice::parse(word.get_ref()).ok_or_else(|| {
                self.invalid(
                    word.span(),
                    "plugins.compiler",
                    format!(
                        "must be \"tiered\", \"cranelift\" or \"winch\", got {:?}",
                        word.get_ref()
                    ),
                )
            })?,
        };
        let stackone = self.stackone(&raw, overrides)?;
        let max_batch = match &raw.store.max_batch {
            None => limits::DEFAULT_MAX_BATCH,
            Some(n) => usize::try_from(*n.get_ref())
                .ok()
                .filter(|n| (1..=MAX_STORE_BATCH).contains(n))
                .ok_or_else(|| {
                    self.invalid(
                        n.span(),
                        "store.max_batch",
                        format!(
                            "must be between 1 and {MAX_STORE_BATCH}, got {}",
                            n.get_ref()
                        ),
                    )
                })?,
        };

        let fulfil_lease = self.millis(
            raw.store.fulfil_lease_ms.as_ref(),
            "store.fulfil_lease_ms",
            DEFAULT_FULFIL_LEASE,
            MAX_LEASE,
        )?;
        let delivery_lease = self.millis(
            raw.store.delivery_lease_ms.as_ref(),
            "store.delivery_lease_ms",
            DEFAULT_DELIVERY_LEASE,
            MAX_LEASE,
        )?;
        if let Some(ms) = &raw.store.delivery_lease_ms
            && delivery_lease < Duration::from_secs(1)
        {
            return Err(self.invalid(
                ms.span(),
                "store.delivery_lease_ms",
                format!(
                    "must be at least 1000 (a PATCH needs time), got {}",
                    ms.get_ref()
                ),
            ));
        }

        let mut products = BTreeMap::new();
        for (name, product) in raw.products {
            let product = self.product(&name, product, &plugins_dir, stackone.api_key.as_ref())?;
            products.insert(name.into_inner(), product);
        }

        Ok(Config {
            server,
            store: StoreConfig {
                path: store_path,
                url: store_url,
                fulfil_lease,
                delivery_lease,
                max_batch,
            },
            stackone,
            plugins: PluginsConfig {
                dir: plugins_dir,
                cache_dir,
                memory_budget_bytes,
                compiler,
            },
            products,
            secret_files: std::mem::take(&mut self.secret_files),
        })
    }

    fn server(
        &mut self,
        raw: &RawConfig,
        overrides: &Overrides,
    ) -> Result<ServerConfig, ConfigError> {
        let listen = match overrides.listen {
            Some(addr) => addr,
            None => match self.overridable(ENV_LISTEN, raw.server.listen.as_ref()) {
                Some((text, at)) => {
                    parse_listen(&text).map_err(|m| invalid(at, "server.listen", m))?
                }
                None => parse_listen(DEFAULT_LISTEN)
                    .map_err(|m| invalid(Location::whole("default"), "server.listen", m))?,
            },
        };
        let admin_listen = match self
            .overridable(ENV_ADMIN_LISTEN, raw.server.admin_listen.as_ref())
        {
            Some((text, at)) => {
                let addr = parse_listen(&text)
                    .map_err(|m| invalid(at.clone(), "server.admin_listen", m))?;
                if addr == listen && addr.port() != 0 {
                    return Err(invalid(
                        at,
                        "server.admin_listen",
                        format!(
                            "{addr} is server.listen too; the admin listener needs an address of its own"
                        ),
                    ));
                }
                Some(addr)
            }
            None => None,
        };
        let max_body_bytes = match &raw.server.max_body_bytes {
            None => DEFAULT_MAX_BODY_BYTES,
            Some(n) => usize::try_from(*n.get_ref())
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    self.invalid(n.span(), "server.max_body_bytes", "must be at least 1")
                })?,
        };
        let request_timeout = self.millis(
            raw.server.request_timeout_ms.as_ref(),
            "server.request_timeout_ms",
            DEFAULT_REQUEST_TIMEOUT,
            MAX_REQUEST_TIMEOUT,
        )?;
        let admin_token = self.overridable_secret(
            overrides.admin_token.as_ref(),
            ENV_ADMIN_TOKEN,
            raw.server.admin_token.as_ref(),
            "server.admin_token",
        )?;
        let connections = self.connections(&raw.server)?;
        Ok(ServerConfig {
            listen,
            admin_listen,
            max_body_bytes,
            request_timeout,
            admin_token,
            connections,
        })
    }

    /// `server.max_connections`, `max_connections_per_client` and the connection deadlines.
    fn connections(&self, raw: &RawServer) -> Result<ConnectionLimits, ConfigError> {
        let defaults = ConnectionLimits::default();
        let count = |value: Option<&Spanned<u64>>, key: &str, default: usize, max: usize| {
            let Some(n) = value else { return Ok(default) };
            usize::try_from(*n.get_ref())
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    self.invalid(
                        n.span(),
                        key,
                        format!("must be between 1 and {max}, got {}", n.get_ref()),
                    )
                })
        };
        let max_connections = count(
            raw.max_connections.as_ref(),
            "server.max_connections",
            defaults.max_connections,
            MAX_CONNECTIONS_LIMIT,
        )?;
        let max_per_client = count(
            raw.max_connections_per_client.as_ref(),
            "server.max_connections_per_client",
            defaults.max_per_client.min(max_connections),
            max_connections,
        )?;
        Ok(ConnectionLimits {
            max_connections,
            max_per_client,
            request_head_timeout: self.millis(
                raw.request_head_timeout_ms.as_ref(),
                "server.request_head_timeout_ms",
                defaults.request_head_timeout,
                MAX_CONNECTION_TIMEOUT,
            )?,
            idle_timeout: self.millis(
                raw.idle_timeout_ms.as_ref(),
                "server.idle_timeout_ms",
                defaults.idle_timeout,
                MAX_CONNECTION_TIMEOUT,
            )?,
        })
    }

    fn stackone(
        &mut self,
        raw: &RawConfig,
        overrides: &Overrides,
    ) -> Result<StackOneConfig, ConfigError> {
        let (text, at) = match &overrides.stackone_base_url {
            Some(url) => (url.clone(), Location::whole(COMMAND_LINE)),
            None => self
                .overridable(ENV_STACKONE_BASE_URL, raw.stackone.base_url.as_ref())
                .unwrap_or_else(|| {
                    (
                        DEFAULT_STACKONE_BASE_URL.to_owned(),
                        Location::whole("default"),
                    )
                }),
        };
        let base_url = parse_base_url(&text).map_err(|m| invalid(at, "stackone.base_url", m))?;
        let api_key = self.overridable_secret(
            overrides.stackone_api_key.as_ref(),
            ENV_STACKONE_API_KEY,
            raw.stackone.api_key.as_ref(),
            "stackone.api_key",
        )?;
        Ok(StackOneConfig { base_url, api_key })
    }

    fn product(
        &mut self,
        name: &Spanned<String>,
        raw: RawProduct,
        plugins_dir: &Path,
        default_api_key: Option<&Secret>,
    ) -> Result<ProductConfig, ConfigError> {
        let key = |field: &str| format!("products.{}.{field}", name.get_ref());
        if !is_valid_product_name(name.get_ref()) {
            return Err(self.invalid(
                name.span(),
                format!("products.{}", name.get_ref()),
                format!(
                    "invalid product name: use lowercase letters, digits and dashes (not first \
                     or last), at most {MAX_PRODUCT_NAME_LEN} characters; the name appears in URLs"
                ),
            ));
        }

        let file = raw.plugin.get_ref();
        if !file.ends_with(".wasm") {
            return Err(self.invalid(raw.plugin.span(), key("plugin"), "must name a .wasm file"));
        }
        // A bare file name lives in the plugins folder; anything with a separator is a path.
        let plugin = if file.contains('/') || file.contains('\\') {
            self.base_dir.join(file)
        } else {
            plugins_dir.join(file)
        };

        if raw.webhook_secrets.get_ref().0.is_empty() {
            return Err(self.invalid(
                raw.webhook_secrets.span(),
                key("webhook_secrets"),
                "at least one secret is required",
            ));
        }
        let webhook_secrets =
            self.secret_list(&raw.webhook_secrets.into_inner(), &key("webhook_secrets"))?;
        let package_list_keys =
            self.secret_list(&raw.package_list_keys, &key("package_list_keys"))?;
        let webhook_token = raw
            .webhook_token
            .map(|r| self.secret(&r, &key("webhook_token")))
            .transpose()?;

        let cors_origins = self.origins(&raw.cors_origins, &key("cors_origins"))?;
        let allowed_hosts = raw
            .allowed_hosts
            .iter()
            .map(|o| {
                AllowedHost::parse_config(o.get_ref())
                    .map_err(|m| self.invalid(o.span(), key("allowed_hosts"), m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let timeout = self.millis(
            raw.timeout_ms.as_ref(),
            &key("timeout_ms"),
            DEFAULT_PLUGIN_TIMEOUT,
            MAX_PLUGIN_TIMEOUT,
        )?;
        let memory_limit_mb = match &raw.memory_limit_mb {
            None => DEFAULT_MEMORY_LIMIT_MB,
            Some(mb) if MEMORY_LIMIT_MB_RANGE.contains(mb.get_ref()) => *mb.get_ref(),
            Some(mb) => {
                return Err(self.invalid(
                    mb.span(),
                    key("memory_limit_mb"),
                    format!(
                        "must be between {} and {}, got {}",
                        MEMORY_LIMIT_MB_RANGE.start(),
                        MEMORY_LIMIT_MB_RANGE.end(),
                        mb.get_ref()
                    ),
                ));
            }
        };
        let max_concurrent_calls = match &raw.max_concurrent_calls {
            None => limits::DEFAULT_MAX_CONCURRENT_CALLS,
            Some(n) => self.bounded(
                n,
                &key("max_concurrent_calls"),
                1,
                u64::from(limits::POOL_INSTANCES),
            )? as usize,
        };
        let max_concurrent_fulfilments = match &raw.max_concurrent_fulfilments {
            None => limits::DEFAULT_PRODUCT_FULFILMENTS,
            Some(n) => self.bounded(
                n,
                &key("max_concurrent_fulfilments"),
                1,
                limits::FULFIL_CONCURRENCY as u64,
            )? as usize,
        };
        // Only a 32-bit host could overflow here; it cannot use more than all of its memory.
        let memory_limit_bytes =
            usize::try_from(memory_limit_mb * 1024 * 1024).unwrap_or(usize::MAX);

        let mut events = default_events(raw.kind);
        for (event, kind) in raw.events {
            if event.get_ref().is_empty() || event.get_ref().contains(char::is_whitespace) {
                return Err(self.invalid(
                    event.span(),
                    key("events"),
                    "an event name must be non-empty and without spaces",
                ));
            }
            events.insert(event.into_inner(), kind);
        }

        let stackone_api_key = match raw.stackone_api_key {
            Some(r) => self.secret(&r, &key("stackone_api_key"))?,
            None => default_api_key.cloned().ok_or_else(|| {
                self.invalid(
                    name.span(),
                    format!("products.{}", name.get_ref()),
                    format!(
                        "no StackOne API key to deliver results with: set stackone.api_key (or \
                         {ENV_STACKONE_API_KEY}) or {}",
                        key("stackone_api_key")
                    ),
                )
            })?,
        };

        let poll_interval = match &raw.poll_interval_s {
            None => None,
            Some(s) if (1..=MAX_POLL_INTERVAL.as_secs()).contains(s.get_ref()) => {
                Some(Duration::from_secs(*s.get_ref()))
            }
            Some(s) => {
                return Err(self.invalid(
                    s.span(),
                    key("poll_interval_s"),
                    format!(
                        "must be between 1 and {} (one day), got {}",
                        MAX_POLL_INTERVAL.as_secs(),
                        s.get_ref()
                    ),
                ));
            }
        };
        let source = raw
            .source
            .as_ref()
            .map(|s| self.path(Some(s), &key("source"), ""))
            .transpose()?;

        let mut settings = BTreeMap::new();
        let mut setting_sources = BTreeMap::new();
        for (setting, value) in raw.settings {
            setting_sources.insert(
                setting.get_ref().clone(),
                SettingSource {
                    literal: matches!(value.get_ref(), SettingValue::Plain(_)),
                    at: self.at(setting.span()),
                },
            );
            let secret = match value.get_ref() {
                SettingValue::Plain(secret) => secret.clone(),
                SettingValue::Ref(r) => {
                    let setting_key = format!("{}.{}", key("settings"), setting.get_ref());
                    self.resolve(r, self.at(value.span()), self.base_dir, &setting_key)?
                }
            };
            settings.insert(setting.into_inner(), secret);
        }

        Ok(ProductConfig {
            name: name.get_ref().clone(),
            plugin,
            kind: raw.kind,
            webhook_secrets,
            package_list_keys,
            webhook_token,
            cors_origins,
            allowed_hosts,
            timeout,
            memory_limit_bytes,
            max_concurrent_calls,
            max_concurrent_fulfilments,
            events,
            stackone_api_key,
            poll_interval,
            source,
            settings,
            setting_sources,
            defined_at: self.at(name.span()),
        })
    }

    /// Resolves every reference of a list; two references to the same value are a mistake
    /// (a rotation that was meant to hold two different secrets).
    fn secret_list(&mut self, list: &SecretRefList, key: &str) -> Result<Vec<Secret>, ConfigError> {
        let mut secrets: Vec<Secret> = Vec::with_capacity(list.0.len());
        for (i, r) in list.0.iter().enumerate() {
            let secret = self.secret(r, &format!("{key}[{i}]"))?;
            if let Some(j) = secrets.iter().position(|s| *s == secret) {
                return Err(self.invalid(
                    r.span(),
                    key,
                    format!(
                        "`{}` is the same secret as `{}`",
                        r.get_ref(),
                        list.0[j].get_ref()
                    ),
                ));
            }
            secrets.push(secret);
        }
        Ok(secrets)
    }

    fn origins(&self, list: &[Spanned<String>], key: &str) -> Result<Vec<String>, ConfigError> {
        list.iter()
            .map(|o| parse_origin(o.get_ref()).map_err(|m| self.invalid(o.span(), key, m)))
            .collect()
    }

    /// A duration in milliseconds between 1 ms and `max`.
    fn millis(
        &self,
        value: Option<&Spanned<u64>>,
        key: &str,
        default: Duration,
        max: Duration,
    ) -> Result<Duration, ConfigError> {
        let Some(ms) = value else { return Ok(default) };
        let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
        if (1..=max_ms).contains(ms.get_ref()) {
            Ok(Duration::from_millis(*ms.get_ref()))
        } else {
            Err(self.invalid(
                ms.span(),
                key,
                format!(
                    "must be between 1 and {max_ms} ({} minutes), got {}",
                    max.as_secs() / 60,
                    ms.get_ref()
                ),
            ))
        }
    }

    /// A number in `min..=max`, or an error naming `key` and the range.
    fn bounded(&self, n: &Spanned<u64>, key: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
        if (min..=max).contains(n.get_ref()) {
            Ok(*n.get_ref())
        } else {
            Err(self.invalid(
                n.span(),
                key,
                format!("must be between {min} and {max}, got {}", n.get_ref()),
            ))
        }
    }

    /// A path from the file, anchored at its directory; `default` (also anchored) if absent.
    fn path(
        &self,
        value: Option<&Spanned<String>>,
        key: &str,
        default: &str,
    ) -> Result<PathBuf, ConfigError> {
        match value {
            None => Ok(self.base_dir.join(default)),
            Some(p) if p.get_ref().is_empty() => {
                Err(self.invalid(p.span(), key, "must not be empty"))
            }
            Some(p) => Ok(self.base_dir.join(p.get_ref())),
        }
    }

    /// The text of an `ASSAY_*` variable, or else of the file's key, with where it came from.
    fn overridable(&self, var: &str, file: Option<&Spanned<String>>) -> Option<(String, Location)> {
        self.env_text(var)
            .or_else(|| file.map(|s| (s.get_ref().clone(), self.at(s.span()))))
    }

    /// An `ASSAY_*` variable; an empty one counts as unset (`ASSAY_LISTEN= assay …`).
    fn env_text(&self, var: &str) -> Option<(String, Location)> {
        (self.env)(var)
            .filter(|v| !v.is_empty())
            .map(|v| (v, Location::whole(var)))
    }

    fn overridable_secret(
        &mut self,
        flag: Option<&SecretRef>,
        var: &str,
        file: Option<&Spanned<SecretRef>>,
        key: &str,
    ) -> Result<Option<Secret>, ConfigError> {
        // References from flags and variables are relative to the working directory.
        if let Some(r) = flag {
            return self
                .resolve(r, Location::whole(COMMAND_LINE), Path::new(""), key)
                .map(Some);
        }
        if let Some((text, at)) = self.env_text(var) {
            let r: SecretRef = text
                .parse()
                .map_err(|e: SecretRefError| invalid(at.clone(), key, e.to_string()))?;
            return self.resolve(&r, at, Path::new(""), key).map(Some);
        }
        file.map(|r| self.secret(r, key)).transpose()
    }

    fn secret(&mut self, r: &Spanned<SecretRef>, key: &str) -> Result<Secret, ConfigError> {
        self.resolve(r.get_ref(), self.at(r.span()), self.base_dir, key)
    }

    fn resolve(
        &mut self,
        r: &SecretRef,
        at: Location,
        base_dir: &Path,
        key: &str,
    ) -> Result<Secret, ConfigError> {
        if let Some(path) = r.file_path(base_dir) {
            self.secret_files
                .insert(std::path::absolute(&path).unwrap_or(path));
        }
        r.resolve(base_dir, self.env)
            .map_err(|problem| ConfigError::Secret {
                at,
                key: key.to_owned(),
                reference: r.to_string(),
                problem,
            })
    }

    fn at(&self, span: Range<usize>) -> Location {
        Location::in_text(self.origin, self.text, Some(span.start))
    }

    fn invalid(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        invalid(self.at(span), key, message)
    }
}

fn invalid(at: Location, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        at,
        key: key.into(),
        message: message.into(),
    }
}
