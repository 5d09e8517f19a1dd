//! Loading whole files: the exact error messages users see (`messages`), and precedence of
//! overrides, defaults, secrets and the repository's own `config.toml` (`loading`).

#![allow(clippy::unwrap_used)]

mod loading;
mod messages;

use std::collections::HashMap;
use std::path::Path;

use super::*;

/// A fake environment: these variables and nothing else.
fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.get(name).cloned()
}

const ENV: &[(&str, &str)] = &[
    ("STACKONE_KEY", "sk-value"),
    ("WHSEC_A", "whsec-a-value"),
    ("WHSEC_B", "whsec-b-value"),
    ("SAME_AS_A", "whsec-a-value"),
];

/// A product that loads with [`ENV`]; tests append to it or write their own file.
const MINIMAL: &str = r#"[stackone]
api_key = "env:STACKONE_KEY"

[products.codetest]
plugin = "codetest.wasm"
kind = "assessment"
webhook_secrets = ["env:WHSEC_A"]
"#;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_str_with(
        text,
        Path::new("config.toml"),
        &Overrides::default(),
        env_of(ENV),
    )
}

fn error(text: &str) -> String {
    load(text).unwrap_err().to_string()
}
