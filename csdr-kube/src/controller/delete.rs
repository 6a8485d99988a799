//! The DeleteRequest reconciler (C3, V6): deletes the named object and everything it owns,
//! then removes the request.
//!
//! - `Backup`: the backup's volume snapshots in this cluster, its files in its vault (found
//!   through its ApplicationBackup's location, or by asking every Available location), then
//!   the ApplicationBackup; other
//!   clusters lose their synced copy at their next sync.
//! - `Restore`: the ApplicationRestore (the vault's restore record stays: the vault port
//!   has no deletion of restore records yet).
//! - `Schedule`: the BackupSchedule (its backups stay, as Velero does).
//! - `Convert`: StorageClass conversion tasks (`ConvertToSnapshot`) are not modelled yet:
//!   there is nothing to reset, the request says so in an Event and removes itself.
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
    ApplicationBackup, ApplicationRestore, BackupLocation, BackupSchedule, DeleteRequest,
    DeleteRequestStatus, LocationPhase,
};

fn gone<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

async fn delete_backup(ctx: &Context, name: &str) -> Result<String, String> {
    let backups = ctx.api::<ApplicationBackup>();
    let object = backups
        .get_opt(name)
        .await
        .map_err(|e| format!("reading ApplicationBackup {name}: {e}"))?;
    let locations: Vec<BackupLocation> = match &object {
        Some(b) => {
            let location = &b.spec.backup_location;
            vec![
                ctx.api::<BackupLocation>()
                    .get(location)
                    .await
                    .map_err(|e| format!("BackupLocation {location} of backup {name}: {e}"))?,
            ]
        }
        None => ctx
            .api::<BackupLocation>()
            .list(&ListParams::default())
            .await
            .map_err(|e| format!("listing BackupLocations: {e}"))?
            .items
            .into_iter()
            .filter(|l| l.status.as_ref().and_then(|s| s.phase) == Some(LocationPhase::Available))
            .collect(),
    };
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
            super::jobs::engine(ctx, vault, ctx.config().await)?
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

/// Reconciles one DeleteRequest.
pub async fn reconcile(
    request: Arc<DeleteRequest>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let name = request.name_any();
    let target = request.spec.delete_object_name.clone();
    let result: Result<String, String> = match request.spec.delete_object_type {
        DeleteObjectType::Backup => delete_backup(&ctx, &target).await,
        DeleteObjectType::Restore => gone(
            ctx.api::<ApplicationRestore>()
                .delete(&target, &DeleteParams::default())
                .await,
        )
        .map(|()| format!("ApplicationRestore {target} deleted"))
        .map_err(|e| format!("deleting ApplicationRestore {target}: {e}")),
        DeleteObjectType::Schedule => gone(
            ctx.api::<BackupSchedule>()
                .delete(&target, &DeleteParams::default())
                .await,
        )
        .map(|()| format!("BackupSchedule {target} deleted (its backups stay)"))
        .map_err(|e| format!("deleting BackupSchedule {target}: {e}")),
        DeleteObjectType::Convert => Ok(format!(
            "no StorageClass conversion of {target} is recorded: nothing to reset"
        )),
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
