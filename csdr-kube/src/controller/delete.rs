//! The DeleteRequest reconciler (C3, V6): deletes the named object and everything it owns,
//! then removes the request.
//!
//! - `Backup`: the backup's volume snapshots in this cluster, its files in its vault (found
//!   through its ApplicationBackup's location, or by asking every Available location), then
//!   the ApplicationBackup; other
//!   clusters lose their synced copy at their next sync.
//! - `Restore`: the restore's record and files in its vault (found through its
//!   ApplicationRestore's location, or by asking every Available location), then the
//!   ApplicationRestore; the restored objects and the backup stay.
//! - `Schedule`: the BackupSchedule (its backups stay, as Velero does).
//! - `Convert`: resets the StorageClass conversion `ConvertToSnapshot` of that name: the
//!   retained snapshots it made (listed in its status) are deleted with their data, then the
//!   object; a restore then goes back to the volumes' files. Nothing to reset is not an
//!   error (the Event says so).
//!
//! A request that fails stays with phase `Failed` and a message, and is retried; its name
//! stays taken until it succeeds or is deleted (`kubectl -n csdr delete deleterequests …`).

use std::sync::Arc;
use std::time::Duration;

use csdr_core::model::DeleteObjectType;
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams};
use kube::runtime::controller::Action;

use super::location::open_vault;
use super::{Context, ControllerError};
use crate::resources::{
    ApplicationBackup, ApplicationRestore, BackupLocation, BackupSchedule, ConvertToSnapshot,
    DeleteRequest, DeleteRequestStatus, LocationPhase,
};

fn gone<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// The locations that may hold `what`: the one its cluster object names, else every
/// Available location.
async fn candidate_locations(
    ctx: &Context,
    named: Option<&str>,
    what: &str,
) -> Result<Vec<BackupLocation>, String> {
    match named {
        Some(location) => Ok(vec![
            ctx.api::<BackupLocation>()
                .get(location)
                .await
                .map_err(|e| format!("BackupLocation {location} of {what}: {e}"))?,
        ]),
        None => Ok(ctx
            .api::<BackupLocation>()
            .list(&ListParams::default())
            .await
            .map_err(|e| format!("listing BackupLocations: {e}"))?
            .items
            .into_iter()
            .filter(|l| l.status.as_ref().and_then(|s| s.phase) == Some(LocationPhase::Available))
            .collect()),
    }
}

async fn delete_backup(ctx: &Context, name: &str) -> Result<String, String> {
    let backups = ctx.api::<ApplicationBackup>();
    let object = backups
        .get_opt(name)
        .await
        .map_err(|e| format!("reading ApplicationBackup {name}: {e}"))?;
    let named = object.as_ref().map(|b| b.spec.backup_location.as_str());
    let locations = candidate_locations(ctx, named, &format!("backup {name}")).await?;
    let mut deleted_from = Vec::new();
    for location in &locations {
        let vault = open_vault(ctx, location).await?;
        let present = vault
            .backup(name)
            .await
            .map_err(|e| format!("VaultError: {e}"))?
            .is_some();
        if present {
            // Its volume snapshots go first, then its files (§9).
            super::jobs::engine(ctx, &location.name_any(), vault, ctx.config().await)?
                .delete_backup(name)
                .await
                .map_err(|e| format!("VaultError: deleting backup {name}: {e}"))?;
            deleted_from.push(location.name_any());
        }
    }
    gone(backups.delete(name, &DeleteParams::default()).await)
        .map_err(|e| format!("deleting ApplicationBackup {name}: {e}"))?;
    Ok(if deleted_from.is_empty() {
        format!("backup {name}: no vault held it; its ApplicationBackup is gone")
    } else {
        format!(
            "backup {name} deleted from BackupLocation {}",
            deleted_from.join(", ")
        )
    })
}

/// Deletes a restore's record and files from its vault (the location its ApplicationRestore
/// ran on, or every Available location when the object is gone), then the ApplicationRestore.
/// The restored objects in the cluster and the backup stay.
async fn delete_restore(ctx: &Context, name: &str) -> Result<String, String> {
    let restores = ctx.api::<ApplicationRestore>();
    let object = restores
        .get_opt(name)
        .await
        .map_err(|e| format!("reading ApplicationRestore {name}: {e}"))?;
    let named = object.as_ref().and_then(|r| {
        r.status
            .as_ref()
            .and_then(|s| s.backup_location.as_deref())
            .or(r.spec.backup_location.as_deref())
    });
    let locations = candidate_locations(ctx, named, &format!("restore {name}")).await?;
    let mut deleted_from = Vec::new();
    for location in &locations {
        let vault = open_vault(ctx, location).await?;
        let present = vault
            .restore(name)
            .await
            .map_err(|e| format!("VaultError: {e}"))?
            .is_some();
        if present {
            vault
                .delete_restore(name)
                .await
                .map_err(|e| format!("VaultError: deleting restore {name}: {e}"))?;
            deleted_from.push(location.name_any());
        }
    }
    gone(restores.delete(name, &DeleteParams::default()).await)
        .map_err(|e| format!("deleting ApplicationRestore {name}: {e}"))?;
    Ok(if deleted_from.is_empty() {
        format!("restore {name}: no vault held its record; its ApplicationRestore is gone")
    } else {
        format!(
            "restore {name} deleted from BackupLocation {} (the restored objects stay)",
            deleted_from.join(", ")
        )
    })
}

/// Resets the StorageClass conversion `name`: deletes the snapshots its status lists (and
/// their data), then the ConvertToSnapshot.
async fn delete_convert(ctx: &Context, name: &str) -> Result<String, String> {
    use csdr_core::ports::snapshot::{CsiSnapshotter, VolumeSnapshotRecord, VolumeSnapshotter};
    let converts = ctx.api::<ConvertToSnapshot>();
    let Some(object) = converts
        .get_opt(name)
        .await
        .map_err(|e| format!("reading ConvertToSnapshot {name}: {e}"))?
    else {
        return Ok(format!(
            "no StorageClass conversion {name} exists: nothing to reset"
        ));
    };
    let converted = object
        .status
        .map(|s| s.converted_volumes)
        .unwrap_or_default();
    let snapshotter = CsiSnapshotter::new(ctx.cluster.clone());
    let mut failures = Vec::new();
    for volume in &converted {
        let record = VolumeSnapshotRecord::from(volume.snapshot.clone());
        if let Err(e) = snapshotter.delete_snapshot(&record).await {
            failures.push(format!(
                "{}: {e}",
                csdr_core::engine::describe_snapshot(&record)
            ));
        }
    }
    if !failures.is_empty() {
        // The object stays so that the next try finds the snapshots again.
        return Err(format!(
            "resetting StorageClass conversion {name}: {}",
            failures.join("; ")
        ));
    }
    gone(converts.delete(name, &DeleteParams::default()).await)
        .map_err(|e| format!("deleting ConvertToSnapshot {name}: {e}"))?;
    Ok(format!(
        "StorageClass conversion {name} reset: {} snapshot{} deleted",
        converted.len(),
        if converted.len() == 1 { "" } else { "s" }
    ))
}

/// Reconciles one DeleteRequest.
pub async fn reconcile(
    request: Arc<DeleteRequest>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let name = request.name_any();
    let target = request.spec.delete_object_name.clone();
    let result: Result<String, String> = match request.spec.delete_object_type {
        DeleteObjectType::Backup => delete_backup(&ctx, &target).await,
        DeleteObjectType::Restore => delete_restore(&ctx, &target).await,
        DeleteObjectType::Schedule => gone(
            ctx.api::<BackupSchedule>()
                .delete(&target, &DeleteParams::default())
                .await,
        )
        .map(|()| format!("BackupSchedule {target} deleted (its backups stay)"))
        .map_err(|e| format!("deleting BackupSchedule {target}: {e}")),
        DeleteObjectType::Convert => delete_convert(&ctx, &target).await,
    };
    match result {
        Ok(note) => {
            ctx.event(request.as_ref(), false, "Deleted", note).await;
            gone(
                ctx.api::<DeleteRequest>()
                    .delete(&name, &DeleteParams::default())
                    .await,
            )?;
            Ok(Action::await_change())
        }
        Err(message) => {
            let status = DeleteRequestStatus {
                phase: Some("Failed".into()),
                message: Some(message.clone()),
            };
            if request.status.as_ref() != Some(&status) {
                ctx.event(request.as_ref(), true, "Failed", message).await;
                ctx.apply_status::<DeleteRequest, _>(&name, &status).await?;
            }
            Ok(Action::requeue(Duration::from_secs(30)))
        }
    }
}
