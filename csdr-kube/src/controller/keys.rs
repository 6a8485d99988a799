//! Client-side encryption of the controller's jobs (E2, E3).
//!
//! An ApplicationBackup with `spec.encryptionKey` (`age1…` or `kms://…`) is written through a
//! vault that wraps its data key with that key; its status names the key (kind and public
//! id). An ApplicationRestore of an encrypted backup gets its key before anything runs: the
//! backup's record says which key it needs; an age key's identity is read from the Secret of
//! `spec.decryptionKeySecretRef`, a KMS key is used with the controller's AWS credentials. A
//! ConvertToSnapshot, which reads the backup too, gets its key the same way.
//! A missing or wrong key fails the restore before anything is applied, naming the key id
//! and the Secret. Key material never reaches a status, an Event, a log or `Debug` output:
//! only [`KeyRequest::AgeIdentity`] carries it, to the opener, and its `Debug` hides it.

use std::sync::Arc;

use csdr_core::crypto::{KeyEncryptionKey, KeyKind};
use csdr_core::ports::vault::Vault;
use k8s_openapi::api::core::v1::Secret;

use super::{Context, KeyRequest};
use crate::resources::{
    ApplicationBackupSpec, ApplicationRestoreSpec, ConvertToSnapshotSpec, SecretKeyRef,
};

/// The start of an age identity: key material that must never be echoed.
const AGE_IDENTITY_PREFIX: &str = "AGE-SECRET-KEY-";

/// The key-encryption key of a backup's `spec.encryptionKey`, or `None` for a plain backup;
/// the error is the status message.
pub async fn backup_key(
    ctx: &Context,
    spec: &ApplicationBackupSpec,
) -> Result<Option<Arc<dyn KeyEncryptionKey>>, String> {
    let Some(key) = spec.encryption_key.as_deref() else {
        return Ok(None);
    };
    if let Some(reason) = misplaced_identity(key) {
        return Err(format!("spec.encryptionKey: {reason}"));
    }
    ctx.opener
        .key(&KeyRequest::Spec(key.trim().to_string()))
        .await
        .map(Some)
        .map_err(|e| format!("spec.encryptionKey: {e}"))
}

/// Why `key` must not be used as a public key id: it is an age identity (key material).
fn misplaced_identity(key: &str) -> Option<&'static str> {
    key.to_ascii_uppercase()
        .contains(AGE_IDENTITY_PREFIX)
        .then_some(
            "this is an age identity (secret key material), not a recipient: give its public recipient (age1…, the `# public key:` line of the identity file) and keep the identity in a Secret for restores",
        )
}

/// The key a restore needs: `None` when its backup is plain (or not found: the engine says
/// so), else the key that unwraps the backup's data key, checked by unwrapping it. The error
/// is the status message, naming the key id and where the key was looked for.
pub async fn restore_key(
    ctx: &Context,
    spec: &ApplicationRestoreSpec,
    vault: &dyn Vault,
) -> Result<Option<Arc<dyn KeyEncryptionKey>>, String> {
    let keys = DecryptionKeys {
        secret_ref: spec.decryption_key_secret_ref.as_ref(),
        key: spec.decryption_key.as_deref(),
        nothing_done: "nothing was restored",
    };
    backup_key_for_reading(ctx, &spec.backup_name, &keys, vault).await
}

/// The key a StorageClass conversion needs to read its backup, as [`restore_key`] finds a
/// restore's: from the conversion's `spec.decryptionKeySecretRef` or `spec.decryptionKey`.
pub async fn convert_key(
    ctx: &Context,
    spec: &ConvertToSnapshotSpec,
    vault: &dyn Vault,
) -> Result<Option<Arc<dyn KeyEncryptionKey>>, String> {
    let keys = DecryptionKeys {
        secret_ref: spec.decryption_key_secret_ref.as_ref(),
        key: spec.decryption_key.as_deref(),
        nothing_done: "nothing was converted",
    };
    backup_key_for_reading(ctx, &spec.backup_name, &keys, vault).await
}

/// Where a job that reads a backup looks for its key, and what its messages say was not done.
struct DecryptionKeys<'a> {
    secret_ref: Option<&'a SecretKeyRef>,
    key: Option<&'a str>,
    nothing_done: &'static str,
}

/// The key that unwraps `backup`'s data key (`None` for a plain or missing backup), checked by
/// unwrapping it.
async fn backup_key_for_reading(
    ctx: &Context,
    backup: &str,
    keys: &DecryptionKeys<'_>,
    vault: &dyn Vault,
) -> Result<Option<Arc<dyn KeyEncryptionKey>>, String> {
    let nothing_done = keys.nothing_done;
    let record = match vault.backup_record(backup).await {
        Ok(Some(record)) => record,
        Ok(None) => return Ok(None),
        Err(e) => return Err(format!("reading backup {backup}: {e}")),
    };
    let Some(enc) = &record.encryption else {
        return Ok(None);
    };
    let ns = &ctx.options.namespace;
    let what = format!(
        "backup {backup} is encrypted with the {} key {}",
        enc.key_kind, enc.key_id
    );
    let (request, from) = match enc.key_kind {
        KeyKind::Age => {
            let Some(secret) = keys.secret_ref else {
                return Err(format!(
                    "{what}: set spec.decryptionKeySecretRef to the Secret in namespace {ns} holding its age identity (name and key); {nothing_done}"
                ));
            };
            let source = format!("Secret {ns}/{} key {}", secret.name, secret.key);
            let text = secret_value(ctx, secret)
                .await
                .map_err(|e| format!("{what}: spec.decryptionKeySecretRef: {e}; {nothing_done}"))?;
            (
                KeyRequest::AgeIdentity {
                    source: source.clone(),
                    text,
                },
                source,
            )
        }
        KeyKind::Kms => {
            let key = keys
                .key
                .map(str::to_string)
                .unwrap_or_else(|| format!("kms://{}", enc.key_id));
            (
                KeyRequest::Spec(key.clone()),
                format!("{key} with the controller's AWS credentials"),
            )
        }
        KeyKind::Local => {
            return Err(format!(
                "{what}, a key held by the program that made it, which the controller cannot use; {nothing_done}"
            ));
        }
    };
    let key =
        ctx.opener.key(&request).await.map_err(|e| {
            format!("{what}; the key from {from} cannot be used: {e}; {nothing_done}")
        })?;
    enc.data_key(key.as_ref()).await.map_err(|e| {
        format!("{what}; the key from {from} cannot decrypt it: {e}; {nothing_done}")
    })?;
    Ok(Some(key))
}

/// The text of a Secret's key; errors name the Secret and the key, never the value.
async fn secret_value(ctx: &Context, secret: &SecretKeyRef) -> Result<String, String> {
    let ns = &ctx.options.namespace;
    let api: kube::Api<Secret> = ctx.api();
    let found = api
        .get_opt(&secret.name)
        .await
        .map_err(|e| format!("cannot read Secret {ns}/{}: {e}", secret.name))?
        .ok_or_else(|| format!("Secret {ns}/{} not found", secret.name))?;
    let bytes = found
        .data
        .unwrap_or_default()
        .remove(&secret.key)
        .ok_or_else(|| format!("Secret {ns}/{} has no key {}", secret.name, secret.key))?;
    String::from_utf8(bytes.0).map_err(|_| {
        format!(
            "Secret {ns}/{} key {} is not text (expected an age identity file)",
            secret.name, secret.key
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: &str =
        "AGE-SECRET-KEY-1HRU4PMNF3R0SCJFDDDPP6LPL24NRY20P86MFR0LRQ5WUK7VLRT8QEX5K2R";

    #[test]
    fn key_requests_never_show_their_material() {
        let request = KeyRequest::AgeIdentity {
            source: "Secret csdr/age key identity.txt".into(),
            text: format!("# public key: age1…\n{IDENTITY}\n"),
        };
        let debug = format!("{request:?}");
        assert!(
            debug.contains("Secret csdr/age key identity.txt"),
            "{debug}"
        );
        assert!(!debug.contains("AGE-SECRET"), "{debug}");
        assert!(!debug.contains("1HRU4PMNF3R0SCJ"), "{debug}");
    }

    #[test]
    fn an_identity_given_as_encryption_key_is_refused_without_echoing_it() {
        for given in [IDENTITY.to_string(), IDENTITY.to_lowercase()] {
            let reason = misplaced_identity(&given).expect("refused");
            assert!(
                !reason.to_uppercase().contains("1HRU4PMNF3R0SCJ"),
                "{reason}"
            );
            assert!(reason.contains("age1"), "{reason}");
        }
        assert_eq!(misplaced_identity("age1qyqszqgpqyqszqgpqyqszqgp"), None);
        assert_eq!(misplaced_identity("kms://alias/csdr"), None);
    }
}
