//! Engine configuration in the format of the FAQ's `csdr-config` ConfigMap (DESIGN C1).
//!
//! The ConfigMap's `data` holds two YAML blocks, `applicationBackup` and `pvBackup`; every
//! setting is optional and takes the FAQ's default when absent:
//!
//! | block | setting | default |
//! |---|---|---|
//! | `applicationBackup` | `backup_max_worker_num` | 15 |
//! | | `restore_max_worker_num` | 5 |
//! | | `delete_max_worker_num` | 30 |
//! | | `schedule_max_worker_num` | 20 |
//! | | `convert_max_worker_num` | 15 |
//! | | `node_schedule_policy` | `exclude` |
//! | | `velero_timeout_minutes` (→ [`ApplicationBackupConfig::backup_timeout`]) | 60 |
//! | `pvBackup` | `batch_snapshot_max_num` | 20 |
//! | | `enable_ecs_snapshot` (`true`/`false`, also quoted) | true |
//!
//! Unknown blocks and settings are errors, as are zero or malformed numbers; every error
//! names the block, the setting and the bad value.
//!
//! The typed [`Config`] (de)serializes in the same shape (`applicationBackup` / `pvBackup`
//! objects with the FAQ's setting names) through the same validation. To add a setting: add a
//! field and its default, an arm in the block's `apply`, and its name to the block's `KEYS`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::time::Duration;
//! use csdr_core::config::Config;
//! use csdr_core::node_policy::NodeSchedulePolicy;
//!
//! let data = BTreeMap::from([
//!     ("applicationBackup".to_string(),
//!      "backup_max_worker_num: 8\nnode_schedule_policy: prefer\nvelero_timeout_minutes: 100\n".to_string()),
//!     ("pvBackup".to_string(), "enable_ecs_snapshot: \"false\"\n".to_string()),
//! ]);
//! let config = Config::from_configmap_data(&data)?;
//! assert_eq!(config.application_backup.backup_max_worker_num.get(), 8);
//! assert_eq!(config.application_backup.restore_max_worker_num.get(), 5); // default
//! assert_eq!(config.application_backup.node_schedule_policy, NodeSchedulePolicy::Prefer);
//! assert_eq!(config.application_backup.backup_timeout, Duration::from_secs(100 * 60));
//! assert!(!config.pv_backup.enable_ecs_snapshot);
//!
//! let bad = BTreeMap::from([
//!     ("applicationBackup".to_string(), "backup_max_worker_num: many".to_string()),
//! ]);
//! assert_eq!(
//!     Config::from_configmap_data(&bad).unwrap_err().to_string(),
//!     r#"applicationBackup.backup_max_worker_num: expected a positive integer, got "many""#
//! );
//! # Ok::<(), csdr_core::config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use serde_yaml_ng::{Mapping, Value};

use crate::node_policy::NodeSchedulePolicy;

/// The conventional name of the ConfigMap, in the engine's namespace.
pub const CONFIGMAP_NAME: &str = "csdr-config";
/// The data key of the application backup block.
pub const APPLICATION_BACKUP: &str = "applicationBackup";
/// The data key of the volume backup block.
pub const PV_BACKUP: &str = "pvBackup";

/// A `csdr-config` setting that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The ConfigMap data has a key that is neither block.
    #[error(
        "{CONFIGMAP_NAME}: unknown data key {key:?}; the ConfigMap holds only \
         {APPLICATION_BACKUP} and {PV_BACKUP}"
    )]
    UnknownBlock {
        /// The unexpected data key.
        key: String,
    },
    /// A block is not valid YAML.
    #[error("{block}: not valid YAML ({message}); write one `setting: value` per line")]
    Yaml {
        /// `applicationBackup` or `pvBackup`.
        block: &'static str,
        /// The YAML parser's message, with line and column.
        message: String,
    },
    /// A block is YAML but not a mapping of settings.
    #[error("{block}: expected `setting: value` lines (a YAML mapping), got {got}")]
    NotAMapping {
        /// `applicationBackup` or `pvBackup`.
        block: &'static str,
        /// What was found instead.
        got: String,
    },
    /// A block has a setting this version does not know.
    #[error("{block}.{key}: unknown setting; known settings are {}", known.join(", "))]
    UnknownSetting {
        /// `applicationBackup` or `pvBackup`.
        block: &'static str,
        /// The unknown setting's name.
        key: String,
        /// The settings the block accepts.
        known: &'static [&'static str],
    },
    /// A setting has a value of the wrong kind or out of range.
    #[error("{block}.{key}: expected {expected}, got {got}")]
    InvalidValue {
        /// `applicationBackup` or `pvBackup`.
        block: &'static str,
        /// The setting's name.
        key: &'static str,
        /// What the setting accepts.
        expected: &'static str,
        /// The value found, as written (strings quoted).
        got: String,
    },
    /// A typed setting cannot be written in the ConfigMap's format.
    #[error("{block}.{key}: cannot be written to the ConfigMap: {reason}")]
    Unrepresentable {
        /// `applicationBackup` or `pvBackup`.
        block: &'static str,
        /// The setting's name.
        key: &'static str,
        /// Why not.
        reason: String,
    },
}

/// The whole engine configuration: the two blocks of the `csdr-config` ConfigMap.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Config {
    /// The `applicationBackup` block: worker pools, node policy, backup timeout.
    pub application_backup: ApplicationBackupConfig,
    /// The `pvBackup` block: volume snapshot settings.
    pub pv_backup: PvBackupConfig,
}

impl Config {
    /// Parses the `data` of the `csdr-config` ConfigMap. Absent blocks and settings take their
    /// defaults; an empty block is allowed.
    pub fn from_configmap_data(data: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        for (key, text) in data {
            match key.as_str() {
                APPLICATION_BACKUP => {
                    if let Some(settings) = parse_block(APPLICATION_BACKUP, text)? {
                        config.application_backup = ApplicationBackupConfig::try_from(settings)?;
                    }
                }
                PV_BACKUP => {
                    if let Some(settings) = parse_block(PV_BACKUP, text)? {
                        config.pv_backup = PvBackupConfig::try_from(settings)?;
                    }
                }
                _ => return Err(ConfigError::UnknownBlock { key: key.clone() }),
            }
        }
        Ok(config)
    }

    /// Writes the configuration as ConfigMap `data` (every setting spelled out), which
    /// [`from_configmap_data`](Self::from_configmap_data) reads back to an equal `Config`.
    pub fn to_configmap_data(&self) -> Result<BTreeMap<String, String>, ConfigError> {
        // Only the timeout can fail to serialize (checked first); the mapping is defensive.
        let block = |name: &'static str, value: Result<String, serde_yaml_ng::Error>| {
            value.map_err(|err| ConfigError::Unrepresentable {
                block: name,
                key: "velero_timeout_minutes",
                reason: err.to_string(),
            })
        };
        self.application_backup.check_representable()?;
        Ok(BTreeMap::from([
            (
                APPLICATION_BACKUP.to_owned(),
                block(
                    APPLICATION_BACKUP,
                    serde_yaml_ng::to_string(&self.application_backup),
                )?,
            ),
            (
                PV_BACKUP.to_owned(),
                block(PV_BACKUP, serde_yaml_ng::to_string(&self.pv_backup))?,
            ),
        ]))
    }
}

/// The `applicationBackup` block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Mapping")]
pub struct ApplicationBackupConfig {
    /// How many backups run at once (`backup_max_worker_num`, default 15).
    ///
    /// The engine also bounds the concurrent list requests of one backup with it; the
    /// in-cluster controller bounds its concurrent backup jobs with it.
    pub backup_max_worker_num: NonZeroUsize,
    /// How many restores run at once (`restore_max_worker_num`, default 5).
    ///
    /// The engine also bounds the concurrent creates of one restore with it; the in-cluster
    /// controller bounds its concurrent restore jobs with it.
    pub restore_max_worker_num: NonZeroUsize,
    /// How many deletions run at once (`delete_max_worker_num`, default 30).
    ///
    /// Read by the in-cluster controller (`csdr server`), which bounds its concurrent delete
    /// requests with it; the engine alone runs one deletion per call and does not read it.
    pub delete_max_worker_num: NonZeroUsize,
    /// How many schedules are evaluated at once (`schedule_max_worker_num`, default 20).
    ///
    /// Read by the in-cluster controller (`csdr server`), which bounds its concurrent schedule
    /// runs with it; the engine alone does not read it.
    pub schedule_max_worker_num: NonZeroUsize,
    /// How many StorageClass conversions run at once (`convert_max_worker_num`, default 15).
    ///
    /// Read by the StorageClass conversion task (`ConvertToSnapshot`, run by the in-cluster
    /// controller); the engine alone does not read it.
    pub convert_max_worker_num: NonZeroUsize,
    /// Which nodes run file-system volume backups (`node_schedule_policy`, default `exclude`).
    ///
    /// Read by the node-agent scheduling of file-system volume backups (C2,
    /// [`crate::node_policy`]); backups of resources and CSI snapshots do not use it.
    pub node_schedule_policy: NodeSchedulePolicy,
    /// How long a backup subtask may run before it fails with a timeout
    /// (`velero_timeout_minutes`, whole minutes, default 60).
    #[serde(rename = "velero_timeout_minutes", serialize_with = "whole_minutes")]
    pub backup_timeout: Duration,
}

/// The `pvBackup` block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Mapping")]
pub struct PvBackupConfig {
    /// How many volume snapshots are requested in one batch (`batch_snapshot_max_num`,
    /// default 20).
    pub batch_snapshot_max_num: NonZeroUsize,
    /// Whether disk volumes are backed up with ECS snapshots (`enable_ecs_snapshot`, default
    /// true; the FAQ writes it as the string `"true"`).
    ///
    /// Read by the volume policy that chooses between a snapshot and a file-system backup for
    /// each disk volume (D2); CSI snapshots of `backupVolumes` (B6) do not depend on it.
    pub enable_ecs_snapshot: bool,
}

const fn workers(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
    }
}

impl Default for ApplicationBackupConfig {
    fn default() -> Self {
        ApplicationBackupConfig {
            backup_max_worker_num: workers(15),
            restore_max_worker_num: workers(5),
            delete_max_worker_num: workers(30),
            schedule_max_worker_num: workers(20),
            convert_max_worker_num: workers(15),
            node_schedule_policy: NodeSchedulePolicy::Exclude,
            backup_timeout: Duration::from_secs(60 * 60),
        }
    }
}

impl Default for PvBackupConfig {
    fn default() -> Self {
        PvBackupConfig {
            batch_snapshot_max_num: workers(20),
            enable_ecs_snapshot: true,
        }
    }
}

impl ApplicationBackupConfig {
    /// The settings this block accepts.
    pub const KEYS: &'static [&'static str] = &[
        "backup_max_worker_num",
        "restore_max_worker_num",
        "delete_max_worker_num",
        "schedule_max_worker_num",
        "convert_max_worker_num",
        "node_schedule_policy",
        "velero_timeout_minutes",
    ];

    fn apply(&mut self, key: &str, value: &Value) -> Result<(), ConfigError> {
        let block = APPLICATION_BACKUP;
        match key {
            "backup_max_worker_num" => {
                self.backup_max_worker_num = positive(block, "backup_max_worker_num", value)?;
            }
            "restore_max_worker_num" => {
                self.restore_max_worker_num = positive(block, "restore_max_worker_num", value)?;
            }
            "delete_max_worker_num" => {
                self.delete_max_worker_num = positive(block, "delete_max_worker_num", value)?;
            }
            "schedule_max_worker_num" => {
                self.schedule_max_worker_num = positive(block, "schedule_max_worker_num", value)?;
            }
            "convert_max_worker_num" => {
                self.convert_max_worker_num = positive(block, "convert_max_worker_num", value)?;
            }
            "node_schedule_policy" => {
                self.node_schedule_policy = value
                    .as_str()
                    .and_then(|text| text.parse().ok())
                    .ok_or_else(|| ConfigError::InvalidValue {
                        block,
                        key: "node_schedule_policy",
                        expected: "exclude, include or prefer",
                        got: describe(value),
                    })?;
            }
            "velero_timeout_minutes" => {
                let minutes = positive(block, "velero_timeout_minutes", value)?;
                self.backup_timeout = u64::try_from(minutes.get())
                    .ok()
                    .and_then(|m| m.checked_mul(60))
                    .map(Duration::from_secs)
                    .ok_or_else(|| ConfigError::InvalidValue {
                        block,
                        key: "velero_timeout_minutes",
                        expected: "a positive integer number of minutes",
                        got: describe(value),
                    })?;
            }
            _ => return Err(unknown(block, key, Self::KEYS)),
        }
        Ok(())
    }

    fn check_representable(&self) -> Result<(), ConfigError> {
        minutes_of(self.backup_timeout)
            .map(|_| ())
            .map_err(|reason| ConfigError::Unrepresentable {
                block: APPLICATION_BACKUP,
                key: "velero_timeout_minutes",
                reason,
            })
    }
}

impl PvBackupConfig {
    /// The settings this block accepts.
    pub const KEYS: &'static [&'static str] = &["batch_snapshot_max_num", "enable_ecs_snapshot"];

    fn apply(&mut self, key: &str, value: &Value) -> Result<(), ConfigError> {
        let block = PV_BACKUP;
        match key {
            "batch_snapshot_max_num" => {
                self.batch_snapshot_max_num = positive(block, "batch_snapshot_max_num", value)?;
            }
            "enable_ecs_snapshot" => {
                self.enable_ecs_snapshot = boolean(block, "enable_ecs_snapshot", value)?;
            }
            _ => return Err(unknown(block, key, Self::KEYS)),
        }
        Ok(())
    }
}

impl TryFrom<Mapping> for ApplicationBackupConfig {
    type Error = ConfigError;

    fn try_from(settings: Mapping) -> Result<Self, ConfigError> {
        let mut config = ApplicationBackupConfig::default();
        for (key, value) in &settings {
            config.apply(&key_text(APPLICATION_BACKUP, key, Self::KEYS)?, value)?;
        }
        Ok(config)
    }
}

impl TryFrom<Mapping> for PvBackupConfig {
    type Error = ConfigError;

    fn try_from(settings: Mapping) -> Result<Self, ConfigError> {
        let mut config = PvBackupConfig::default();
        for (key, value) in &settings {
            config.apply(&key_text(PV_BACKUP, key, Self::KEYS)?, value)?;
        }
        Ok(config)
    }
}

/// Parses a block's YAML text; `None` for an empty block (only whitespace or comments).
fn parse_block(block: &'static str, text: &str) -> Result<Option<Mapping>, ConfigError> {
    let value: Value = serde_yaml_ng::from_str(text).map_err(|err| ConfigError::Yaml {
        block,
        message: err.to_string(),
    })?;
    match value {
        Value::Null => Ok(None),
        Value::Mapping(settings) => Ok(Some(settings)),
        other => Err(ConfigError::NotAMapping {
            block,
            got: describe(&other),
        }),
    }
}

fn unknown(block: &'static str, key: &str, known: &'static [&'static str]) -> ConfigError {
    ConfigError::UnknownSetting {
        block,
        key: key.to_owned(),
        known,
    }
}

/// A setting's name; settings are named by strings.
fn key_text(
    block: &'static str,
    key: &Value,
    known: &'static [&'static str],
) -> Result<String, ConfigError> {
    match key {
        Value::String(key) => Ok(key.clone()),
        other => Err(unknown(block, &describe(other), known)),
    }
}

/// A value as the user wrote it, for messages: strings quoted, scalars verbatim.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (an empty value)".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(tagged) => format!("a value tagged {}", tagged.tag),
    }
}

/// A positive integer, written as a number or as a quoted number (`15` or `"15"`).
fn positive(
    block: &'static str,
    key: &'static str,
    value: &Value,
) -> Result<NonZeroUsize, ConfigError> {
    let number = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    number
        .and_then(|n| usize::try_from(n).ok())
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| ConfigError::InvalidValue {
            block,
            key,
            expected: "a positive integer",
            got: describe(value),
        })
}

/// A boolean, written as `true`/`false` or quoted (`"true"`, any case).
fn boolean(block: &'static str, key: &'static str, value: &Value) -> Result<bool, ConfigError> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
    .ok_or_else(|| ConfigError::InvalidValue {
        block,
        key,
        expected: "true or false",
        got: describe(value),
    })
}

/// A timeout in whole, positive minutes.
fn minutes_of(timeout: Duration) -> Result<u64, String> {
    if timeout.subsec_nanos() != 0 || !timeout.as_secs().is_multiple_of(60) || timeout.is_zero() {
        return Err(format!(
            "a timeout of {timeout:?} is not a positive whole number of minutes"
        ));
    }
    Ok(timeout.as_secs() / 60)
}

fn whole_minutes<S: Serializer>(timeout: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    let minutes = minutes_of(*timeout).map_err(serde::ser::Error::custom)?;
    serializer.serialize_u64(minutes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        Config::from_configmap_data(&data(pairs))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_are_the_faqs() {
        let config = Config::default();
        let app = &config.application_backup;
        assert_eq!(
            [
                app.backup_max_worker_num.get(),
                app.restore_max_worker_num.get(),
                app.delete_max_worker_num.get(),
                app.schedule_max_worker_num.get(),
                app.convert_max_worker_num.get(),
            ],
            [15, 5, 30, 20, 15]
        );
        assert_eq!(app.node_schedule_policy, NodeSchedulePolicy::Exclude);
        assert_eq!(app.backup_timeout, Duration::from_secs(3600));
        assert_eq!(config.pv_backup.batch_snapshot_max_num.get(), 20);
        assert!(config.pv_backup.enable_ecs_snapshot);
        // An empty ConfigMap and empty blocks give the defaults too.
        assert_eq!(
            Config::from_configmap_data(&BTreeMap::new()).unwrap(),
            config
        );
        let empty = data(&[("applicationBackup", ""), ("pvBackup", "# nothing\n")]);
        assert_eq!(Config::from_configmap_data(&empty).unwrap(), config);
    }

    #[test]
    fn the_faqs_configmap_parses() {
        let faq = data(&[
            (
                "applicationBackup",
                "backup_max_worker_num: 15\nrestore_max_worker_num: 5\n\
                 delete_max_worker_num: 30\nschedule_max_worker_num: 20\n\
                 convert_max_worker_num: 15\n\
                 node_schedule_policy: include  # Valid values: include, exclude, prefer\n",
            ),
            (
                "pvBackup",
                "batch_snapshot_max_num: 20\nenable_ecs_snapshot: \"true\"\n",
            ),
        ]);
        let config = Config::from_configmap_data(&faq).unwrap();
        let mut expected = Config::default();
        expected.application_backup.node_schedule_policy = NodeSchedulePolicy::Include;
        assert_eq!(config, expected);
    }

    #[test]
    fn every_setting_is_read() {
        let config = Config::from_configmap_data(&data(&[
            (
                "applicationBackup",
                "backup_max_worker_num: 1\nrestore_max_worker_num: 2\n\
                 delete_max_worker_num: 3\nschedule_max_worker_num: \"4\"\n\
                 convert_max_worker_num: 5\nnode_schedule_policy: prefer\n\
                 velero_timeout_minutes: 100\n",
            ),
            (
                "pvBackup",
                "batch_snapshot_max_num: 7\nenable_ecs_snapshot: false\n",
            ),
        ]))
        .unwrap();
        let app = &config.application_backup;
        assert_eq!(
            [
                app.backup_max_worker_num.get(),
                app.restore_max_worker_num.get(),
                app.delete_max_worker_num.get(),
                app.schedule_max_worker_num.get(),
                app.convert_max_worker_num.get(),
            ],
            [1, 2, 3, 4, 5]
        );
        assert_eq!(app.node_schedule_policy, NodeSchedulePolicy::Prefer);
        assert_eq!(app.backup_timeout, Duration::from_secs(100 * 60));
        assert_eq!(config.pv_backup.batch_snapshot_max_num.get(), 7);
        assert!(!config.pv_backup.enable_ecs_snapshot);
    }

    #[test]
    fn enable_ecs_snapshot_takes_booleans_and_strings() {
        for (text, expected) in [
            ("true", true),
            ("false", false),
            ("\"true\"", true),
            ("\"false\"", false),
            ("'False'", false),
            ("\"TRUE\"", true),
        ] {
            let config = Config::from_configmap_data(&data(&[(
                "pvBackup",
                &format!("enable_ecs_snapshot: {text}"),
            )]))
            .unwrap();
            assert_eq!(config.pv_backup.enable_ecs_snapshot, expected, "{text}");
        }
    }

    #[test]
    fn bad_values_are_named_with_block_key_and_value() {
        let table = [
            (
                ("applicationBackup", "backup_max_worker_num: many"),
                r#"applicationBackup.backup_max_worker_num: expected a positive integer, got "many""#,
            ),
            (
                ("applicationBackup", "restore_max_worker_num: 0"),
                "applicationBackup.restore_max_worker_num: expected a positive integer, got 0",
            ),
            (
                ("applicationBackup", "delete_max_worker_num: -3"),
                "applicationBackup.delete_max_worker_num: expected a positive integer, got -3",
            ),
            (
                ("applicationBackup", "convert_max_worker_num: 1.5"),
                "applicationBackup.convert_max_worker_num: expected a positive integer, got 1.5",
            ),
            (
                ("applicationBackup", "schedule_max_worker_num:"),
                "applicationBackup.schedule_max_worker_num: expected a positive integer, \
                 got nothing (an empty value)",
            ),
            (
                ("applicationBackup", "velero_timeout_minutes: [1]"),
                "applicationBackup.velero_timeout_minutes: expected a positive integer, got a list",
            ),
            (
                ("applicationBackup", "node_schedule_policy: always"),
                r#"applicationBackup.node_schedule_policy: expected exclude, include or prefer, got "always""#,
            ),
            (
                ("pvBackup", "batch_snapshot_max_num: 0"),
                "pvBackup.batch_snapshot_max_num: expected a positive integer, got 0",
            ),
            (
                ("pvBackup", "enable_ecs_snapshot: \"yes\""),
                r#"pvBackup.enable_ecs_snapshot: expected true or false, got "yes""#,
            ),
        ];
        for ((block, text), expected) in table {
            assert_eq!(error(&[(block, text)]), expected, "{block}: {text}");
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        assert_eq!(
            error(&[("applicationBackup", "backup_max_workers: 3")]),
            "applicationBackup.backup_max_workers: unknown setting; known settings are \
             backup_max_worker_num, restore_max_worker_num, delete_max_worker_num, \
             schedule_max_worker_num, convert_max_worker_num, node_schedule_policy, \
             velero_timeout_minutes"
        );
        assert_eq!(
            error(&[("pvBackup", "velero_timeout_minutes: 3")]),
            "pvBackup.velero_timeout_minutes: unknown setting; known settings are \
             batch_snapshot_max_num, enable_ecs_snapshot"
        );
        assert_eq!(
            error(&[("restoreBackup", "a: 1")]),
            "csdr-config: unknown data key \"restoreBackup\"; the ConfigMap holds only \
             applicationBackup and pvBackup"
        );
    }

    #[test]
    fn malformed_blocks_are_named() {
        assert_eq!(
            error(&[("pvBackup", "- 1\n- 2")]),
            "pvBackup: expected `setting: value` lines (a YAML mapping), got a list"
        );
        let yaml = error(&[("applicationBackup", "a: [1")]);
        assert!(
            yaml.starts_with("applicationBackup: not valid YAML ("),
            "{yaml}"
        );
    }

    #[test]
    fn configmap_data_and_serde_round_trip() {
        let mut config = Config::default();
        config.application_backup.backup_max_worker_num = workers(3);
        config.application_backup.node_schedule_policy = NodeSchedulePolicy::Include;
        config.application_backup.backup_timeout = Duration::from_secs(90 * 60);
        config.pv_backup.enable_ecs_snapshot = false;

        let data = config.to_configmap_data().unwrap();
        assert!(data["applicationBackup"].contains("velero_timeout_minutes: 90"));
        assert_eq!(Config::from_configmap_data(&data).unwrap(), config);

        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["applicationBackup"]["node_schedule_policy"], "include");
        assert_eq!(json["pvBackup"]["enable_ecs_snapshot"], false);
        assert_eq!(serde_json::from_value::<Config>(json).unwrap(), config);

        // Deserializing goes through the same validation.
        let err = serde_json::from_str::<Config>(
            r#"{"applicationBackup": {"backup_max_worker_num": 0}}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(
                "applicationBackup.backup_max_worker_num: expected a positive integer, got 0"
            ),
            "{err}"
        );
        // Absent blocks default.
        assert_eq!(
            serde_json::from_str::<Config>("{}").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn sub_minute_timeouts_cannot_be_written() {
        let mut config = Config::default();
        config.application_backup.backup_timeout = Duration::from_secs(90);
        assert_eq!(
            config.to_configmap_data().unwrap_err().to_string(),
            "applicationBackup.velero_timeout_minutes: cannot be written to the ConfigMap: \
             a timeout of 90s is not a positive whole number of minutes"
        );
    }

    proptest::proptest! {
        /// Bad input gets a typed error, never a panic: arbitrary text in either block.
        #[test]
        fn parsing_never_panics(block in "(applicationBackup|pvBackup|other)", text in "\\PC{0,120}") {
            let data = BTreeMap::from([(block, text)]);
            let _ = Config::from_configmap_data(&data);
        }

        #[test]
        fn yaml_shaped_input_never_panics(key in "[a-z_]{1,24}", value in "\\PC{0,20}") {
            let data = BTreeMap::from([("applicationBackup".to_string(), format!("{key}: {value}"))]);
            let _ = Config::from_configmap_data(&data);
        }
    }
}
