//! Server-side encryption (E1) against the S3 test server: every object csdr writes carries
//! the vault's `sse` setting, as the server itself reports it, and the setting is part of the
//! vault's identity (V3).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod common;

use bytes::Bytes;
use common::*;
use csdr_core::model::JobPhase;
use csdr_core::ports::vault::{Vault, VaultPhase};
use csdr_core::testing::{companion_files, record};
use csdr_core::vault::VaultOpenError;
use csdr_storage::StorageError;
use jiff::Timestamp;

/// The `ServerSideEncryption` and `SSEKMSKeyId` the server reports for an object.
fn encryption_of(endpoint: &str, bucket: &str, key: &str) -> String {
    boto3(
        endpoint,
        &format!(
            "h = s3.head_object(Bucket={bucket:?}, Key={key:?})\nprint(h.get('ServerSideEncryption'), h.get('SSEKMSKeyId'))"
        ),
    )
}

#[tokio::test]
async fn every_object_is_written_with_the_vaults_server_side_encryption() {
    let Some((endpoint, bucket)) = s3_env() else {
        return;
    };
    let key_id = boto3(
        &endpoint,
        "print(kms.create_key(Description='csdr test')['KeyMetadata']['KeyId'])",
    );
    let cases = [
        ("sse=aes256".to_string(), "AES256 None".to_string()),
        (
            format!("sse=kms&kms_key_id={key_id}"),
            format!("aws:kms {key_id}"),
        ),
    ];
    for (query, expected) in cases {
        let plain = s3_url(&endpoint, &bucket);
        let prefix = plain
            .trim_start_matches(&format!("s3://{bucket}/"))
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let url = format!("{plain}&{query}");
        let vault = csdr_storage::open(&spec_for("sse", url.clone()), &options())
            .await
            .unwrap();
        let check = vault.validate(Timestamp::now()).await;
        assert_eq!(check.phase, VaultPhase::Available, "{}", check.message);

        let mut upload = vault.start_backup("b1").await.unwrap();
        upload.write(Bytes::from(vec![7u8; 1024])).await.unwrap();
        upload
            .commit(
                record("b1", JobPhase::Completed, None),
                companion_files("b1"),
            )
            .await
            .unwrap();
        for key in [
            "csdr-vault.json".to_string(),
            "backups/b1/b1.tar.gz".to_string(),
            "backups/b1/velero-backup.json".to_string(),
        ] {
            assert_eq!(
                encryption_of(&endpoint, &bucket, &format!("{prefix}/{key}")),
                expected,
                "{query}: {key}"
            );
        }
        assert_eq!(vault.list_backups().await.unwrap().len(), 1);

        // The setting is part of the identity: without it, or with another key, the vault
        // is refused, naming what was recorded.
        for other in [plain.clone(), format!("{plain}&sse=kms&kms_key_id=other")] {
            let err = csdr_storage::open(&spec_for("sse", other), &options())
                .await
                .err()
                .unwrap();
            assert!(
                matches!(
                    err,
                    StorageError::Identity(VaultOpenError::ConfigurationMismatch { .. })
                ),
                "{err:?}"
            );
            assert!(err.to_string().contains("server-side encryption"), "{err}");
        }
    }
}
