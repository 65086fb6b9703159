//! Where a setting comes from: the file (checked against [`FileConfig`] with line numbers), the
//! environment and the command line, layered with `figment` in that order. The keys, their
//! variables and their documentation are read from the structs' JSON schema, never listed by hand.

use std::collections::HashMap;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde_json::Value as Json;

use super::file::FileConfig;
use super::{ConfigError, Flags};

const ENVIRONMENT: &str = "environment";
const COMMAND_LINE: &str = "command line";

/// One file key, as the structs declare it.
#[derive(Debug, Clone)]
pub struct Key {
    pub section: String,
    pub name: String,
    /// JSON types the key accepts (`integer`, `string`, …); how a variable's text is read.
    pub kinds: Vec<String>,
    pub doc: String,
    pub default: Json,
}

impl Key {
    pub fn path(&self) -> String {
        format!("{}.{}", self.section, self.name)
    }

    /// `AMTSBOTE_SECTION_KEY`; `None` for a key only a file can hold (a list of tables).
    pub fn var(&self) -> Option<String> {
        (self.path() != "api.tokens").then(|| var(&self.section, &self.name))
    }

    fn expected(&self) -> String {
        let words: Vec<&str> = self
            .kinds
            .iter()
            .filter_map(|k| match k.as_str() {
                "integer" => Some("a whole number"),
                "number" => Some("a number"),
                "boolean" => Some("true or false"),
                "string" => Some("text"),
                "array" => Some("a list"),
                _ => None,
            })
            .collect();
        words.join(" or ")
    }
}

pub fn var(section: &str, key: &str) -> String {
    format!("AMTSBOTE_{}_{}", section.to_uppercase(), key.to_uppercase())
}

/// Every `section.key` of the file with its doc comment and default, in declaration order.
pub fn keys() -> Vec<Key> {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<FileConfig>();
    let mut keys = Vec::new();
    let Some(sections) = schema.get("properties").and_then(Json::as_object) else {
        return keys;
    };
    for (section, s) in sections {
        let Some(props) = s.get("properties").and_then(Json::as_object) else {
            continue; // `topics`, `schedules`: lists of tables, documented in prose
        };
        for (name, p) in props {
            keys.push(Key {
                section: section.clone(),
                name: name.clone(),
                kinds: kinds(p),
                doc: p
                    .get("description")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .replace('\n', " "),
                default: p.get("default").cloned().unwrap_or(Json::Null),
            });
        }
    }
    keys
}

fn kinds(p: &Json) -> Vec<String> {
    let mut out = Vec::new();
    match p.get("type") {
        Some(Json::String(t)) => out.push(t.clone()),
        Some(Json::Array(ts)) => out.extend(ts.iter().filter_map(Json::as_str).map(String::from)),
        _ => {}
    }
    for alternatives in ["anyOf", "oneOf"] {
        if let Some(Json::Array(list)) = p.get(alternatives) {
            out.extend(list.iter().flat_map(kinds));
        }
    }
    out.retain(|k| k != "null");
    out
}

/// The file's lists of tables (`[[topics]]` …), read further in `config.rs`.
const LISTS: [&str; 3] = ["topics", "schedules", "outlets"];

/// The file's text read against [`FileConfig`]; an unknown key or a value of the wrong type
/// names the key and its line.
pub fn check_file(name: &str, text: &str) -> Result<toml::Table, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e| ConfigError(format!("config file {name} is not valid TOML: {e}")))?;
    match toml::from_str::<FileConfig>(text) {
        Ok(_) => Ok(table),
        Err(e) => {
            // A number or true/false written as text (`rate = "10"`) was read before the
            // structs were typed; it still is, as a variable's text is.
            let table = coerced(table);
            match toml::Value::Table(table.clone()).try_into::<FileConfig>() {
                Ok(_) => Ok(table),
                Err(_) => Err(locate(name, text, &e)),
            }
        }
    }
}

/// The file's text values read as the type their key takes, where they parse as one.
fn coerced(mut table: toml::Table) -> toml::Table {
    let keys = keys();
    for (section, value) in table.iter_mut() {
        let toml::Value::Table(inner) = value else {
            continue;
        };
        for (name, v) in inner.iter_mut() {
            let (Some(key), toml::Value::String(raw)) = (
                keys.iter()
                    .find(|k| &k.section == section && &k.name == name),
                &*v,
            ) else {
                continue;
            };
            let raw = raw.trim();
            let accepts = |k: &str| key.kinds.iter().any(|x| x == k);
            if let (true, Ok(i)) = (accepts("integer"), raw.parse::<i64>()) {
                *v = toml::Value::Integer(i);
            } else if let (true, Ok(f)) = (accepts("number"), raw.parse::<f64>()) {
                *v = toml::Value::Float(f);
            } else if let (true, Ok(b)) = (accepts("boolean"), raw.parse::<bool>()) {
                *v = toml::Value::Boolean(b);
            }
        }
    }
    table
}

/// Turns a type error of the file into a message naming the key, its line and what is accepted.
fn locate(name: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    use toml::de::{DeTable, DeValue};
    let fallback = || ConfigError(format!("config file {name}: {}", e.message().trim()));
    let (Some(span), Ok(root)) = (e.span(), DeTable::parse(text)) else {
        return fallback();
    };
    let line = text
        .get(..span.start)
        .map_or(1, |t| t.matches('\n').count() + 1);
    let at =
        |r: std::ops::Range<usize>| r.start <= span.start && span.start < r.end.max(r.start + 1);
    let all = keys();
    let sections: Vec<&str> = {
        let mut s: Vec<&str> = all.iter().map(|k| k.section.as_str()).collect();
        s.dedup();
        s
    };
    for (section, value) in root.get_ref() {
        let section = section.get_ref().as_ref();
        let DeValue::Table(inner) = value.get_ref() else {
            continue;
        };
        for (key, value) in inner {
            let key_name = key.get_ref().as_ref();
            if !(at(key.span()) || at(value.span())) {
                continue;
            }
            let known: Vec<&str> = all
                .iter()
                .filter(|k| k.section == section)
                .map(|k| k.name.as_str())
                .collect();
            if !known.contains(&key_name) {
                return ConfigError(format!(
                    "{name} line {line}: unknown key {section}.{key_name}; known: {}",
                    known.join(", ")
                ));
            }
            let raw = match value.get_ref() {
                DeValue::String(s) => s.to_string(),
                _ => text.get(value.span()).unwrap_or_default().to_string(),
            };
            let expected = all
                .iter()
                .find(|k| k.section == section && k.name == key_name)
                .map(Key::expected)
                .unwrap_or_default();
            return ConfigError(format!(
                "{section}.{key_name} in {name} line {line}: invalid value '{raw}', expected {expected}"
            ));
        }
    }
    for (section, value) in root.get_ref() {
        let s = section.get_ref().as_ref();
        if !at(section.span()) && !at(value.span()) {
            continue;
        }
        if !sections.contains(&s) && !LISTS.contains(&s) {
            return ConfigError(format!(
                "{name} line {line}: unknown section [{s}]; known: {}",
                sections.join(", ")
            ));
        }
        if !matches!(value.get_ref(), DeValue::Table(_)) && !LISTS.contains(&s) {
            return ConfigError(format!("{name} line {line}: [{s}] must be a table"));
        }
    }
    ConfigError(format!("{name} line {line}: {}", e.message().trim()))
}

/// A layer of settings with a name for messages.
struct Layer {
    metadata: Metadata,
    dict: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }
    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

fn insert(dict: &mut Dict, section: &str, key: &str, value: Value) {
    let entry = dict
        .entry(section.to_string())
        .or_insert_with(|| Value::from(Dict::new()));
    if let Value::Dict(_, inner) = entry {
        inner.insert(key.to_string(), value);
    }
}

/// The file's values; strings in the sections are trimmed, as a variable's are.
fn file_layer(name: &str, mut table: toml::Table) -> Result<Layer, ConfigError> {
    for (section, value) in table.iter_mut() {
        let toml::Value::Table(inner) = value else {
            continue;
        };
        for (key, v) in inner.iter_mut() {
            if section == "api" && key == "tokens" {
                continue;
            }
            if let toml::Value::String(s) = v {
                *s = s.trim().to_string();
            }
        }
    }
    let dict = match Value::serialize(&table) {
        Ok(Value::Dict(_, d)) => d,
        _ => return Err(ConfigError(format!("config file {name}: cannot be read"))),
    };
    Ok(Layer {
        metadata: Metadata::named(name.to_string()),
        dict,
    })
}

/// The variables of the keys the structs declare; a variable's text becomes the type its key
/// takes (a list stays text and is split at commas).
fn env_layer(keys: &[Key], env: &HashMap<String, String>) -> Layer {
    let mut dict = Dict::new();
    for key in keys {
        let Some(raw) = key.var().and_then(|v| env.get(&v)) else {
            continue;
        };
        let raw = raw.trim();
        let accepts = |k: &str| key.kinds.iter().any(|x| x == k);
        let value = if let (true, Ok(i)) = (accepts("integer"), raw.parse::<i64>()) {
            Value::from(i)
        } else if let (true, Ok(f)) = (accepts("number"), raw.parse::<f64>()) {
            Value::from(f)
        } else if let (true, Ok(b)) = (accepts("boolean"), raw.parse::<bool>()) {
            Value::from(b)
        } else {
            Value::from(raw.to_string())
        };
        insert(&mut dict, &key.section, &key.name, value);
    }
    Layer {
        metadata: Metadata::named(ENVIRONMENT)
            .interpolater(|_: &Profile, path: &[&str]| var(path[0], &path[1..].join("_"))),
        dict,
    }
}

/// The command line's options that stand for a file key.
const FLAGS: &[(&str, &str, &str)] = &[
    ("database", "url", "--database-url"),
    ("telegram", "rate", "--telegram-rate"),
    ("whatsapp", "rate", "--whatsapp-rate"),
];

fn flag_layer(flags: &Flags) -> Layer {
    let mut dict = Dict::new();
    if let Some(url) = &flags.database_url {
        insert(&mut dict, "database", "url", Value::from(url.clone()));
    }
    if let Some(rate) = flags.telegram_rate {
        insert(&mut dict, "telegram", "rate", Value::from(rate));
    }
    if let Some(rate) = flags.whatsapp_rate {
        insert(&mut dict, "whatsapp", "rate", Value::from(rate));
    }
    Layer {
        metadata: Metadata::named(COMMAND_LINE).interpolater(|_: &Profile, path: &[&str]| {
            FLAGS
                .iter()
                .find(|(s, k, _)| path == [*s, *k])
                .map_or_else(|| path.join("."), |(_, _, flag)| flag.to_string())
        }),
        dict,
    }
}

/// The layered settings, and where each came from.
pub struct Sources<'a> {
    figment: Figment,
    file_name: String,
    env: &'a HashMap<String, String>,
}

impl<'a> Sources<'a> {
    /// File, then environment, then flags; each later one wins.
    pub fn layer(
        file: Option<(&str, &str)>,
        env: &'a HashMap<String, String>,
        flags: &Flags,
    ) -> Result<(FileConfig, Sources<'a>), ConfigError> {
        let keys = keys();
        let mut figment = Figment::new();
        let mut file_name = String::new();
        if let Some((name, text)) = file {
            figment = figment.merge(file_layer(name, check_file(name, text)?)?);
            file_name = name.to_string();
        }
        let figment = figment
            .merge(env_layer(&keys, env))
            .merge(flag_layer(flags));
        let sources = Sources {
            figment,
            file_name,
            env,
        };
        let settings = sources
            .figment
            .extract::<FileConfig>()
            .map_err(|e| sources.extract_error(&keys, e))?;
        Ok((settings, sources))
    }

    /// A value from the environment or a flag that is not of its key's type (the file's were
    /// checked before).
    fn extract_error(&self, keys: &[Key], e: figment::Error) -> ConfigError {
        let Some(e) = e.into_iter().next() else {
            return ConfigError("invalid configuration".into());
        };
        let path = e.path.join(".");
        let Some(key) = keys.iter().find(|k| k.path() == path) else {
            return ConfigError(e.to_string());
        };
        let raw = self
            .raw(&key.section, &key.name)
            .unwrap_or_else(|| e.kind.to_string());
        self.invalid(&key.section, &key.name, &raw, &key.expected())
    }

    fn raw(&self, section: &str, key: &str) -> Option<String> {
        if let Some(v) = self.env.get(&var(section, key)) {
            return Some(v.clone());
        }
        match self.figment.find_value(&format!("{section}.{key}")).ok()? {
            Value::String(_, s) => Some(s),
            other => serde_json::to_string(&other).ok(),
        }
    }

    /// Where `section.key` came from, for a message that must not repeat its value (a secret):
    /// the variable, the flag, or the key and the file.
    pub fn origin(&self, section: &str, key: &str) -> String {
        let path = [section, key];
        match self.figment.find_metadata(&path.join(".")) {
            Some(md) if md.name == ENVIRONMENT || md.name == COMMAND_LINE => {
                md.interpolate(&Profile::Default, &path)
            }
            Some(_) => format!("{section}.{key} in {}", self.file_name),
            None => format!("{section}.{key}"),
        }
    }

    pub fn invalid(&self, section: &str, key: &str, value: &str, expected: &str) -> ConfigError {
        ConfigError(format!(
            "{}: invalid value '{value}', expected {expected}",
            self.origin(section, key)
        ))
    }

    /// The variable `name` of the process environment (secrets named in the file).
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn file_name(&self) -> &str {
        &self.file_name
    }
}

/// The table of docs/configuration.md: one row per key, from the doc comments and defaults.
pub fn reference() -> String {
    let mut out =
        String::from("| variable | file key | default | meaning |\n| --- | --- | --- | --- |\n");
    for key in keys() {
        let var = key
            .var()
            .map_or_else(|| "–".to_string(), |v| format!("`{v}`"));
        out.push_str(&format!(
            "| {var} | `{}` | {} | {} |\n",
            key.path(),
            shown(&key.default),
            key.doc
        ));
    }
    out
}

fn shown(default: &Json) -> String {
    match default {
        Json::Null => "none".into(),
        Json::String(s) => format!("`{s}`"),
        Json::Array(a) if a.is_empty() => "none".into(),
        Json::Array(a) => {
            let items: Vec<String> = a
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
                .collect();
            format!("`{}`", items.join(", "))
        }
        other => format!("`{other}`"),
    }
}
