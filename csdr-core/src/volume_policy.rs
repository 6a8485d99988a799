//! How each volume's data is backed up (DESIGN D2): a CSI snapshot (B6), a file-system backup
//! into the vault (D1), or not at all — chosen per volume by rules on its storage class, CSI
//! driver, volume type and capacity, in the format of Velero's volume policies.
//!
//! ```yaml
//! version: v1
//! volumePolicies:
//! - conditions:
//!     storageClass: [alicloud-disk-essd]
//!   action: {type: snapshot}
//! - conditions:
//!     csi: {driver: ossplugin.csi.alibabacloud.com}
//!   action: {type: skip}
//! - conditions:
//!     volumeTypes: [nfs, hostPath, local]
//!     capacity: "0,100Gi"
//!   action: {type: fs-backup}
//! ```
//!
//! The first rule whose conditions all hold decides. Without a matching rule the FAQ's default
//! applies: a CSI volume whose driver can take snapshots in this cluster (it has a
//! VolumeSnapshotClass) is snapshotted; every other volume (NAS, OSS, CPFS, local, hostPath,
//! NFS, disks without a snapshot class) is backed up through its files. A block-mode volume
//! has no files: asked for a file-system backup it is refused with the reason.
//!
//! ```
//! use csdr_core::volume_policy::{VolumeAction, VolumeFacts, VolumePolicy};
//! use serde_json::json;
//!
//! let policy = VolumePolicy::from_yaml("version: v1\nvolumePolicies:\n- conditions: {storageClass: [scratch]}\n  action: {type: skip}\n")?;
//! let nas = json!({"spec": {"storageClassName": "alicloud-nas", "capacity": {"storage": "50Gi"},
//!     "csi": {"driver": "nasplugin.csi.alibabacloud.com", "volumeHandle": "n1"}}});
//! let facts = VolumeFacts::of_persistent_volume(&nas)?;
//! let snapshot_drivers = ["diskplugin.csi.alibabacloud.com"];
//! assert_eq!(policy.decide(&facts, &snapshot_drivers)?, VolumeAction::FsBackup);
//! # Ok::<(), csdr_core::volume_policy::VolumePolicyError>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::quantity::Quantity;

/// What happens to a volume's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeAction {
    /// A CSI VolumeSnapshot (B6).
    Snapshot,
    /// The volume's files into the vault's volume repository (D1).
    FsBackup,
    /// Only the claim's and volume's YAML.
    Skip,
}

impl VolumeAction {
    /// The name used in policies and records: `snapshot`, `fs-backup`, `skip`.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeAction::Snapshot => "snapshot",
            VolumeAction::FsBackup => "fs-backup",
            VolumeAction::Skip => "skip",
        }
    }
}

impl std::fmt::Display for VolumeAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A volume policy that cannot be used, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("volume policy: {field}: {reason}")]
pub struct VolumePolicyError {
    /// The field (`volumePolicies[1].conditions.capacity`, `spec.capacity.storage`, …).
    pub field: String,
    /// What is wrong and the expected form.
    pub reason: String,
}

fn policy_error(field: impl Into<String>, reason: impl Into<String>) -> VolumePolicyError {
    VolumePolicyError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The PV volume source fields a policy can name in `volumeTypes` (the PV spec's own names).
pub const VOLUME_TYPES: &[&str] = &[
    "csi",
    "nfs",
    "hostPath",
    "local",
    "flexVolume",
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "gcePersistentDisk",
    "cephfs",
    "rbd",
    "iscsi",
    "fc",
    "glusterfs",
    "cinder",
    "vsphereVolume",
    "portworxVolume",
    "storageos",
    "scaleIO",
    "quobyte",
    "photonPersistentDisk",
    "flocker",
];

/// What a policy looks at, read from a PersistentVolume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeFacts {
    /// `spec.storageClassName`, if any.
    pub storage_class: Option<String>,
    /// `spec.csi.driver` (or a flexVolume's driver), if any.
    pub driver: Option<String>,
    /// The volume source's field name ([`VOLUME_TYPES`]), if a known one is set.
    pub volume_type: Option<String>,
    /// `spec.capacity.storage`, if set.
    pub capacity: Option<Quantity>,
    /// `spec.volumeMode: Block`.
    pub block_mode: bool,
}

impl VolumeFacts {
    /// The facts of a PersistentVolume object.
    pub fn of_persistent_volume(pv: &Value) -> Result<Self, VolumePolicyError> {
        let spec = &pv["spec"];
        let volume_type = VOLUME_TYPES
            .iter()
            .find(|t| spec.get(**t).is_some_and(Value::is_object))
            .map(|t| t.to_string());
        let driver = spec["csi"]["driver"]
            .as_str()
            .or_else(|| spec["flexVolume"]["driver"].as_str())
            .map(str::to_string);
        let capacity = match spec["capacity"]["storage"].as_str() {
            Some(text) => Some(
                Quantity::parse(text)
                    .map_err(|e| policy_error("spec.capacity.storage", format!("{text:?}: {e}")))?,
            ),
            None => None,
        };
        Ok(VolumeFacts {
            storage_class: spec["storageClassName"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            driver,
            volume_type,
            capacity,
            block_mode: spec["volumeMode"].as_str() == Some("Block"),
        })
    }
}

/// A volume policy: ordered rules, the first that matches decides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumePolicy {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    storage_classes: Vec<String>,
    drivers: Vec<String>,
    nfs: bool,
    volume_types: Vec<String>,
    capacity: Option<(Quantity, Option<Quantity>)>,
    action: VolumeAction,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document {
    version: String,
    #[serde(default)]
    volume_policies: Vec<RuleDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    #[serde(default)]
    conditions: ConditionsDoc,
    action: ActionDoc,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConditionsDoc {
    #[serde(default)]
    storage_class: Vec<String>,
    csi: Option<CsiDoc>,
    nfs: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    volume_types: Vec<String>,
    capacity: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsiDoc {
    driver: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionDoc {
    #[serde(rename = "type")]
    kind: String,
}

impl VolumePolicy {
    /// The policy of a YAML document in Velero's format (`version: v1`, `volumePolicies`).
    pub fn from_yaml(text: &str) -> Result<Self, VolumePolicyError> {
        let doc: Document = serde_yaml_ng::from_str(text)
            .map_err(|e| policy_error("document", format!("not a volume policy: {e}")))?;
        if doc.version != "v1" {
            return Err(policy_error(
                "version",
                format!("{:?} is not supported; use v1", doc.version),
            ));
        }
        let mut rules = Vec::with_capacity(doc.volume_policies.len());
        for (i, rule) in doc.volume_policies.into_iter().enumerate() {
            let at = |field: &str| format!("volumePolicies[{i}].{field}");
            let action = match rule.action.kind.as_str() {
                "snapshot" => VolumeAction::Snapshot,
                "fs-backup" => VolumeAction::FsBackup,
                "skip" => VolumeAction::Skip,
                other => {
                    return Err(policy_error(
                        at("action.type"),
                        format!("{other:?} is not an action; use snapshot, fs-backup or skip"),
                    ));
                }
            };
            for t in &rule.conditions.volume_types {
                if !VOLUME_TYPES.contains(&t.as_str()) {
                    return Err(policy_error(
                        at("conditions.volumeTypes"),
                        format!(
                            "{t:?} is not a volume type; use one of {}",
                            VOLUME_TYPES.join(", ")
                        ),
                    ));
                }
            }
            let capacity = match &rule.conditions.capacity {
                Some(text) => Some(
                    parse_range(text).map_err(|r| policy_error(at("conditions.capacity"), r))?,
                ),
                None => None,
            };
            rules.push(Rule {
                storage_classes: rule.conditions.storage_class,
                drivers: rule
                    .conditions
                    .csi
                    .map(|c| vec![c.driver])
                    .unwrap_or_default(),
                nfs: rule.conditions.nfs.is_some(),
                volume_types: rule.conditions.volume_types,
                capacity,
                action,
            });
        }
        Ok(VolumePolicy { rules })
    }

    /// The action for a volume. `snapshot_drivers` are the CSI drivers that have a
    /// VolumeSnapshotClass in the cluster (the default snapshots only those). A block-mode
    /// volume that would get a file-system backup is refused with the reason.
    pub fn decide(
        &self,
        facts: &VolumeFacts,
        snapshot_drivers: &[&str],
    ) -> Result<VolumeAction, VolumePolicyError> {
        let action = self
            .rules
            .iter()
            .find(|rule| rule.matches(facts))
            .map(|rule| rule.action)
            .unwrap_or_else(|| default_action(facts, snapshot_drivers));
        if action == VolumeAction::FsBackup && facts.block_mode {
            return Err(policy_error(
                "spec.volumeMode",
                "a Block volume has no file system to back up; snapshot it with a CSI driver that has a VolumeSnapshotClass, or skip it",
            ));
        }
        Ok(action)
    }
}

/// The FAQ's default: snapshots for CSI volumes whose driver can take them, files otherwise.
fn default_action(facts: &VolumeFacts, snapshot_drivers: &[&str]) -> VolumeAction {
    let snapshottable = facts.volume_type.as_deref() == Some("csi")
        && facts
            .driver
            .as_deref()
            .is_some_and(|d| snapshot_drivers.contains(&d));
    if snapshottable {
        VolumeAction::Snapshot
    } else if facts.block_mode {
        VolumeAction::Skip
    } else {
        VolumeAction::FsBackup
    }
}

impl Rule {
    fn matches(&self, facts: &VolumeFacts) -> bool {
        let class_ok = self.storage_classes.is_empty()
            || facts
                .storage_class
                .as_ref()
                .is_some_and(|c| self.storage_classes.contains(c));
        let driver_ok = self.drivers.is_empty()
            || (facts.volume_type.as_deref() == Some("csi")
                && facts
                    .driver
                    .as_ref()
                    .is_some_and(|d| self.drivers.contains(d)));
        let nfs_ok = !self.nfs || facts.volume_type.as_deref() == Some("nfs");
        let type_ok = self.volume_types.is_empty()
            || facts
                .volume_type
                .as_ref()
                .is_some_and(|t| self.volume_types.contains(t));
        let capacity_ok = match (&self.capacity, &facts.capacity) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((min, max)), Some(size)) => size >= min && max.as_ref().is_none_or(|m| size <= m),
        };
        class_ok && driver_ok && nfs_ok && type_ok && capacity_ok
    }
}

/// `"min,max"` (either may be empty: `"100Gi,"`, `",10Gi"`), inclusive.
fn parse_range(text: &str) -> Result<(Quantity, Option<Quantity>), String> {
    let Some((min, max)) = text.split_once(',') else {
        return Err(format!(
            "{text:?} is not a range; use \"min,max\", e.g. \"0,100Gi\""
        ));
    };
    let parse = |s: &str| Quantity::parse(s.trim()).map_err(|e| format!("{s:?}: {e}"));
    let min = if min.trim().is_empty() {
        Quantity::parse("0").map_err(|e| e.to_string())?
    } else {
        parse(min)?
    };
    let max = if max.trim().is_empty() {
        None
    } else {
        Some(parse(max)?)
    };
    if max.as_ref().is_some_and(|m| *m < min) {
        return Err(format!("{text:?}: the maximum is below the minimum"));
    }
    Ok((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DISK: &str = "diskplugin.csi.alibabacloud.com";
    const NAS: &str = "nasplugin.csi.alibabacloud.com";
    const OSS: &str = "ossplugin.csi.alibabacloud.com";

    fn pv(spec: Value) -> VolumeFacts {
        VolumeFacts::of_persistent_volume(&json!({"spec": spec})).unwrap()
    }

    fn csi(class: &str, driver: &str, size: &str) -> VolumeFacts {
        pv(
            json!({"storageClassName": class, "capacity": {"storage": size},
            "csi": {"driver": driver, "volumeHandle": "h"}}),
        )
    }

    #[test]
    fn the_default_snapshots_csi_disks_and_backs_up_the_files_of_the_rest() {
        let none = VolumePolicy::default();
        let snap = [DISK];
        assert_eq!(
            none.decide(&csi("essd", DISK, "20Gi"), &snap),
            Ok(VolumeAction::Snapshot)
        );
        assert_eq!(
            none.decide(&csi("nas", NAS, "20Gi"), &snap),
            Ok(VolumeAction::FsBackup)
        );
        assert_eq!(
            none.decide(&csi("oss", OSS, "20Gi"), &snap),
            Ok(VolumeAction::FsBackup)
        );
        // A disk driver without a snapshot class in this cluster: its files.
        assert_eq!(
            none.decide(&csi("essd", DISK, "20Gi"), &[]),
            Ok(VolumeAction::FsBackup)
        );
        let host = pv(json!({"hostPath": {"path": "/data"}, "capacity": {"storage": "1Gi"}}));
        assert_eq!(host.volume_type.as_deref(), Some("hostPath"));
        assert_eq!(none.decide(&host, &snap), Ok(VolumeAction::FsBackup));
        let local = pv(json!({"local": {"path": "/mnt/ssd"}}));
        assert_eq!(none.decide(&local, &snap), Ok(VolumeAction::FsBackup));
        let flex = pv(json!({"flexVolume": {"driver": "alicloud/disk"}}));
        assert_eq!(flex.driver.as_deref(), Some("alicloud/disk"));
        assert_eq!(none.decide(&flex, &snap), Ok(VolumeAction::FsBackup));
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let policy = VolumePolicy::from_yaml(
            r#"
version: v1
volumePolicies:
- conditions: {storageClass: [scratch, tmp]}
  action: {type: skip}
- conditions: {csi: {driver: diskplugin.csi.alibabacloud.com}, capacity: "0,100Gi"}
  action: {type: fs-backup}
- conditions: {nfs: {}}
  action: {type: skip}
- conditions: {volumeTypes: [hostPath]}
  action: {type: skip}
"#,
        )
        .unwrap();
        let snap = [DISK];
        assert_eq!(
            policy.decide(&csi("tmp", NAS, "1Gi"), &snap),
            Ok(VolumeAction::Skip)
        );
        assert_eq!(
            policy.decide(&csi("essd", DISK, "100Gi"), &snap),
            Ok(VolumeAction::FsBackup)
        );
        // Outside the capacity range: no rule, the default.
        assert_eq!(
            policy.decide(&csi("essd", DISK, "101Gi"), &snap),
            Ok(VolumeAction::Snapshot)
        );
        let nfs = pv(json!({"nfs": {"server": "s", "path": "/"}}));
        assert_eq!(policy.decide(&nfs, &snap), Ok(VolumeAction::Skip));
        let host = pv(json!({"hostPath": {"path": "/x"}}));
        assert_eq!(policy.decide(&host, &snap), Ok(VolumeAction::Skip));
        assert_eq!(
            policy.decide(&csi("nas", NAS, "5Gi"), &snap),
            Ok(VolumeAction::FsBackup)
        );
    }

    #[test]
    fn block_volumes_are_never_backed_up_through_files() {
        let block = pv(json!({"volumeMode": "Block", "storageClassName": "essd",
            "csi": {"driver": DISK, "volumeHandle": "d"}}));
        assert_eq!(
            VolumePolicy::default().decide(&block, &[DISK]),
            Ok(VolumeAction::Snapshot)
        );
        assert_eq!(
            VolumePolicy::default().decide(&block, &[]),
            Ok(VolumeAction::Skip)
        );
        let forced = VolumePolicy::from_yaml(
            "version: v1\nvolumePolicies:\n- conditions: {storageClass: [essd]}\n  action: {type: fs-backup}\n",
        )
        .unwrap();
        let err = forced.decide(&block, &[DISK]).unwrap_err();
        assert_eq!(err.field, "spec.volumeMode");
        assert!(err.to_string().contains("Block"), "{err}");
    }

    #[test]
    fn bad_policies_name_the_field() {
        let cases = [
            ("version: v2\n", "version"),
            (
                "version: v1\nvolumePolicies:\n- action: {type: copy}\n",
                "volumePolicies[0].action.type",
            ),
            (
                "version: v1\nvolumePolicies:\n- conditions: {volumeTypes: [floppy]}\n  action: {type: skip}\n",
                "volumePolicies[0].conditions.volumeTypes",
            ),
            (
                "version: v1\nvolumePolicies:\n- conditions: {capacity: \"10Gi\"}\n  action: {type: skip}\n",
                "volumePolicies[0].conditions.capacity",
            ),
            (
                "version: v1\nvolumePolicies:\n- conditions: {capacity: \"10Gi,1Gi\"}\n  action: {type: skip}\n",
                "volumePolicies[0].conditions.capacity",
            ),
            (
                "version: v1\nvolumePolicies:\n- conditions: {capacity: \"x,1Gi\"}\n  action: {type: skip}\n",
                "volumePolicies[0].conditions.capacity",
            ),
            (
                "version: v1\nvolumePolicies:\n- conditions: {colour: red}\n  action: {type: skip}\n",
                "document",
            ),
            ("{not yaml", "document"),
        ];
        for (text, field) in cases {
            let err = VolumePolicy::from_yaml(text).unwrap_err();
            assert_eq!(err.field, field, "{text}: {err}");
        }
        let err =
            VolumeFacts::of_persistent_volume(&json!({"spec": {"capacity": {"storage": "lots"}}}))
                .unwrap_err();
        assert_eq!(err.field, "spec.capacity.storage");
    }
}
