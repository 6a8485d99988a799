//! The BackupLocation reconciler: vault validation (V2) and sync (K3, V5).
//!
//! On every reconcile (a change, or every sync period) it validates the vault when the spec
//! changed or the last validation is older than the validation period, and, when the vault is
//! Available, makes the namespace's ApplicationBackups match the vault's restorable backups:
//! each Completed or PartiallyFailed backup not yet in the cluster appears as an
//! ApplicationBackup labelled [`SYNCED_LABEL`] (its phase as recorded, never run), and a
//! synced one whose backup left the vault disappears.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use csdr_core::model::JobPhase;
use csdr_core::ports::vault::{Vault, VaultPhase};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::controller::Action;

use super::{Context, ControllerError, VaultCredentials, VaultRequest, unknown_fields_message};
use crate::resources::{
    ApplicationBackup, ApplicationBackupSpec, ApplicationJobStatus, BackupLocation,
    BackupLocationStatus, JobEncryption, LocationPhase, SYNCED_LABEL,
};

/// The annotation naming the BackupLocation a synced ApplicationBackup came from.
pub const LOCATION_ANNOTATION: &str = "csdr.alibabacloud.com/backup-location";

/// Whether a location must be validated now: never validated, its spec changed since, or its
/// last validation is older than `period`.
pub fn validation_due(
    status: Option<&BackupLocationStatus>,
    generation: Option<i64>,
    now: Timestamp,
    period: Duration,
) -> bool {
    let Some(status) = status else { return true };
    if status.observed_generation != generation || status.phase.is_none() {
        return true;
    }
    match status.last_validation_time {
        Some(t) => now.duration_since(t).unsigned_abs() >= period,
        None => true,
    }
}

/// What sync changes in a cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncPlan {
    /// Backups to show as synced ApplicationBackups.
    pub create: Vec<String>,
    /// Synced ApplicationBackups whose backups left the vault.
    pub delete: Vec<String>,
}

/// An ApplicationBackup as sync sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingBackup {
    /// Its name.
    pub name: String,
    /// Its BackupLocation.
    pub location: String,
    /// Whether it was synced from a vault.
    pub synced: bool,
    /// Its phase, if it ran.
    pub phase: Option<JobPhase>,
}

/// Diffs the vault's restorable backups against the cluster's ApplicationBackups: backups
/// not in the cluster under any name are created; ApplicationBackups of `location` that are
/// synced, or Completed/PartiallyFailed here, whose backup the vault no longer holds are
/// deleted (deleted elsewhere). Running and failed backups of this cluster are never touched.
pub fn sync_plan(
    vault: &[(String, JobPhase)],
    existing: &[ExistingBackup],
    location: &str,
) -> SyncPlan {
    let restorable: BTreeMap<&str, JobPhase> = vault
        .iter()
        .filter(|(_, p)| p.is_restorable())
        .map(|(n, p)| (n.as_str(), *p))
        .collect();
    let mut plan = SyncPlan::default();
    for name in restorable.keys() {
        if !existing.iter().any(|e| e.name == *name) {
            plan.create.push((*name).to_string());
        }
    }
    for e in existing {
        let recorded = e.synced || e.phase.is_some_and(JobPhase::is_restorable);
        if e.location == location && recorded && !restorable.contains_key(e.name.as_str()) {
            plan.delete.push(e.name.clone());
        }
    }
    plan
}

async fn credentials(
    ctx: &Context,
    location: &BackupLocation,
) -> Result<Option<VaultCredentials>, String> {
    location_credentials(&ctx.client, &ctx.options.namespace, location).await
}

/// What opens a BackupLocation's vault: its name, URL, `spec.config` and the access key of
/// `spec.credential` read from its Secret in `namespace`. The node agents use it to open
/// the vault a volume job names.
pub async fn vault_request(
    client: &kube::Client,
    namespace: &str,
    location: &BackupLocation,
) -> Result<VaultRequest, String> {
    Ok(VaultRequest {
        name: location.name_any(),
        url: location.spec.url.clone(),
        config: location.spec.config.clone(),
        credentials: location_credentials(client, namespace, location).await?,
    })
}

async fn location_credentials(
    client: &kube::Client,
    namespace: &str,
    location: &BackupLocation,
) -> Result<Option<VaultCredentials>, String> {
    let Some(cred) = &location.spec.credential else {
        return Ok(None);
    };
    let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), namespace);
    let secret = api
        .get_opt(&cred.name)
        .await
        .map_err(|e| format!("spec.credential: cannot read Secret {}: {e}", cred.name))?
        .ok_or_else(|| {
            format!(
                "spec.credential: Secret {} not found in namespace {namespace}",
                cred.name
            )
        })?;
    let data = secret.data.unwrap_or_default();
    let read = |key: &str| {
        data.get(key)
            .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
            .ok_or_else(|| format!("spec.credential: Secret {} has no key {key}", cred.name))
    };
    Ok(Some(VaultCredentials {
        access_key_id: read(cred.access_key_id_key.as_deref().unwrap_or("access_key_id"))?,
        secret_access_key: read(
            cred.secret_access_key_key
                .as_deref()
                .unwrap_or("secret_access_key"),
        )?,
    }))
}

/// Opens the vault of a location; the error is the `VaultError: …` users see.
pub async fn open_vault(
    ctx: &Context,
    location: &BackupLocation,
) -> Result<Arc<dyn Vault>, String> {
    open_vault_with_key(ctx, location, None).await
}

/// [`open_vault`], encrypting new backups and opening encrypted ones with `key` when given
/// (E2).
pub async fn open_vault_with_key(
    ctx: &Context,
    location: &BackupLocation,
    key: Option<Arc<dyn csdr_core::crypto::KeyEncryptionKey>>,
) -> Result<Arc<dyn Vault>, String> {
    let credentials = credentials(ctx, location)
        .await
        .map_err(|e| format!("VaultError: {e}"))?;
    let request = VaultRequest {
        name: location.name_any(),
        url: location.spec.url.clone(),
        config: location.spec.config.clone(),
        credentials,
    };
    let opened = match key {
        None => ctx.opener.open(&request).await,
        Some(key) => ctx.opener.open_with_key(&request, key).await,
    };
    opened.map_err(|e| {
        if e.starts_with("VaultError") {
            e
        } else {
            format!("VaultError: {e}")
        }
    })
}

/// Reconciles one BackupLocation.
pub async fn reconcile(
    location: Arc<BackupLocation>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let name = location.name_any();
    let now = Timestamp::now();
    let period = ctx.options.sync_period.min(ctx.options.validation_period);
    let previous = location.status.clone();
    let due = validation_due(
        previous.as_ref(),
        location.metadata.generation,
        now,
        ctx.options.validation_period,
    );
    let unknown = super::unknown_fields_of(&ctx, location.as_ref()).await;
    let mut vault = None;
    if due || !unknown.is_empty() {
        let (phase, message) = if !unknown.is_empty() {
            (LocationPhase::Unavailable, unknown_fields_message(&unknown))
        } else {
            match open_vault(&ctx, &location).await {
                Ok(v) => {
                    let validation = v.validate(now).await;
                    let phase = match validation.phase {
                        VaultPhase::Available => LocationPhase::Available,
                        VaultPhase::Unavailable => LocationPhase::Unavailable,
                    };
                    if phase == LocationPhase::Available {
                        vault = Some(v);
                    }
                    (phase, validation.message)
                }
                Err(e) => (LocationPhase::Unavailable, e),
            }
        };
        let status = BackupLocationStatus {
            phase: Some(phase),
            last_validation_time: Some(now),
            message: Some(message.clone()),
            observed_generation: location.metadata.generation,
        };
        ctx.apply_status::<BackupLocation, _>(&name, &status)
            .await?;
        let before = previous.as_ref().and_then(|s| s.phase);
        if before != Some(phase) {
            ctx.event(
                location.as_ref(),
                phase == LocationPhase::Unavailable,
                &phase.to_string(),
                format!("vault {}: {message}", location.spec.url),
            )
            .await;
        }
        if phase == LocationPhase::Unavailable {
            return Ok(Action::requeue(period));
        }
    } else if previous.as_ref().and_then(|s| s.phase) != Some(LocationPhase::Available) {
        return Ok(Action::requeue(period));
    }
    let vault = match vault {
        Some(v) => v,
        None => match open_vault(&ctx, &location).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(location = %name, error = %e, "sync: cannot open the vault");
                return Ok(Action::requeue(period));
            }
        },
    };
    if let Err(e) = sync(&ctx, &name, vault.as_ref()).await {
        tracing::warn!(location = %name, error = %e, "sync failed");
    }
    Ok(Action::requeue(period))
}

/// Makes the cluster's ApplicationBackups match the vault's restorable backups (K3).
pub async fn sync(ctx: &Context, location: &str, vault: &dyn Vault) -> Result<SyncPlan, String> {
    // The cluster first, the vault second: a backup Completed in the list was committed to
    // the vault before it, so the vault's list holds it (never deleted as "gone").
    let api = ctx.api::<ApplicationBackup>();
    let existing = api
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    let records = vault.list_backups().await.map_err(|e| e.to_string())?;
    let existing: Vec<ExistingBackup> = existing
        .items
        .iter()
        .map(|b| ExistingBackup {
            name: b.name_any(),
            location: b.spec.backup_location.clone(),
            synced: b.labels().contains_key(SYNCED_LABEL),
            phase: b.status.as_ref().and_then(|s| s.phase),
        })
        .collect();
    let phases: Vec<(String, JobPhase)> = records
        .iter()
        .map(|r| (r.spec.name.clone(), r.status.phase))
        .collect();
    let plan = sync_plan(&phases, &existing, location);
    for name in &plan.create {
        let Some(record) = records.iter().find(|r| &r.spec.name == name) else {
            continue;
        };
        let object = ApplicationBackup {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ctx.options.namespace.clone()),
                labels: Some([(SYNCED_LABEL.to_string(), "true".to_string())].into()),
                annotations: Some([(LOCATION_ANNOTATION.to_string(), location.to_string())].into()),
                ..ObjectMeta::default()
            },
            spec: ApplicationBackupSpec::from_model(&record.spec, location),
            status: None,
        };
        match api.create(&PostParams::default(), &object).await {
            Ok(created) => {
                let mut status = ApplicationJobStatus::from_job(&record.status, false);
                status.backup_location = Some(location.to_string());
                status.encryption = record.encryption.as_ref().map(JobEncryption::of);
                if let Err(e) = ctx
                    .apply_status::<ApplicationBackup, _>(name, &status)
                    .await
                {
                    tracing::warn!(backup = %name, error = %e, "sync: cannot write the status");
                }
                ctx.event(
                    &created,
                    false,
                    "Synced",
                    format!(
                        "backup {name} found in BackupLocation {location} ({})",
                        record.status.phase
                    ),
                )
                .await;
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(format!("creating ApplicationBackup {name}: {e}")),
        }
    }
    for name in &plan.delete {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(format!("deleting ApplicationBackup {name}: {e}")),
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(
        name: &str,
        location: &str,
        synced: bool,
        phase: Option<JobPhase>,
    ) -> ExistingBackup {
        ExistingBackup {
            name: name.into(),
            location: location.into(),
            synced,
            phase,
        }
    }

    #[test]
    fn sync_shows_restorable_backups_and_forgets_deleted_ones() {
        let vault = vec![
            ("a".to_string(), JobPhase::Completed),
            ("b".to_string(), JobPhase::PartiallyFailed),
            ("c".to_string(), JobPhase::Failed),
            ("d".to_string(), JobPhase::Completed),
        ];
        let done = Some(JobPhase::Completed);
        let cluster = vec![
            existing("d", "oss", false, done), // made here, in the vault: left alone
            existing("gone", "oss", true, done), // synced, deleted elsewhere
            existing("gone-local", "oss", false, done), // made here, deleted elsewhere
            existing("other", "nas", true, done), // another location's
            existing("running", "oss", false, Some(JobPhase::InProgress)),
            existing("new", "oss", false, None),
            existing("failed", "oss", false, Some(JobPhase::Failed)),
        ];
        let plan = sync_plan(&vault, &cluster, "oss");
        assert_eq!(plan.create, ["a", "b"]);
        assert_eq!(plan.delete, ["gone", "gone-local"]);
        // Idempotent: once applied, nothing more to do.
        let mut after = cluster.clone();
        after.retain(|e| !plan.delete.contains(&e.name));
        after.push(existing("a", "oss", true, done));
        after.push(existing("b", "oss", true, Some(JobPhase::PartiallyFailed)));
        assert_eq!(sync_plan(&vault, &after, "oss"), SyncPlan::default());
    }

    #[test]
    fn validation_is_due_on_change_and_after_the_period() {
        let now: Timestamp = "2026-12-04T12:00:00Z".parse().unwrap();
        let period = Duration::from_secs(300);
        assert!(validation_due(None, Some(1), now, period));
        let status = BackupLocationStatus {
            phase: Some(LocationPhase::Available),
            last_validation_time: Some("2026-12-04T11:58:00Z".parse().unwrap()),
            message: Some("ok".into()),
            observed_generation: Some(1),
        };
        assert!(!validation_due(Some(&status), Some(1), now, period));
        assert!(
            validation_due(Some(&status), Some(2), now, period),
            "spec changed"
        );
        let later: Timestamp = "2026-12-04T12:03:00Z".parse().unwrap();
        assert!(validation_due(Some(&status), Some(1), later, period));
    }
}
