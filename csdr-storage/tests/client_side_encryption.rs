//! Client-side envelope encryption (E2) with `age` keys: the encryption suite on the file
//! store, the object_store memory store and the S3 test server, and interoperability with
//! the `age` command-line tool (scripts/test.sh installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;

use common::*;
use csdr_core::crypto::{DataKey, KeyEncryptionKey, KeyKind, WrappedKey};
use csdr_core::testing::encryption_conformance;
use csdr_storage::{AgeKey, StorageError};

fn keys() -> (
    tempfile::TempDir,
    Arc<dyn KeyEncryptionKey>,
    Arc<dyn KeyEncryptionKey>,
) {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = keygen(dir.path(), "a.txt");
    let (b, _) = keygen(dir.path(), "b.txt");
    (
        dir,
        Arc::new(AgeKey::from_identity_file(&a).unwrap()),
        Arc::new(AgeKey::from_identity_file(&b).unwrap()),
    )
}

#[tokio::test]
async fn encryption_with_an_age_key_on_the_file_store() {
    let (_dir, a, b) = keys();
    encryption_conformance(file_store(), a, b).await;
}

#[tokio::test]
async fn encryption_with_an_age_key_on_the_object_store_memory_store() {
    let (_dir, a, b) = keys();
    encryption_conformance(object_memory_store(), a, b).await;
}

#[tokio::test]
async fn encryption_with_an_age_key_on_s3() {
    let Some(store) = s3_store() else {
        return;
    };
    let (_dir, a, b) = keys();
    encryption_conformance(store, a, b).await;
}

#[tokio::test]
async fn the_age_tool_unwraps_what_csdr_wrapped_and_csdr_unwraps_what_the_tool_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let (identity, recipient) = keygen(dir.path(), "id.txt");
    let data_key = DataKey::from_bytes(*b"0123456789abcdef0123456789ABCDEF");

    // csdr wraps to the recipient alone; `age -d -i identity` gives the data key back.
    let wrapping = AgeKey::recipient(&recipient).unwrap();
    assert_eq!(wrapping.kind(), KeyKind::Age);
    assert_eq!(wrapping.key_id(), recipient);
    let wrapped = wrapping.wrap(&data_key).await.unwrap();
    let file = dir.path().join("wrapped.age");
    std::fs::write(&file, &wrapped.0).unwrap();
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&identity)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, data_key.bytes());
    // The recipient alone cannot unwrap, and says what is needed.
    let err = wrapping.unwrap(&wrapped).await.unwrap_err().to_string();
    assert!(
        err.contains(&recipient) && err.contains("identity"),
        "{err}"
    );

    // `age -r recipient` wraps; csdr unwraps with the identity file.
    let mut child = Command::new("age")
        .arg("-r")
        .arg(&recipient)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data_key.bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let unwrapping = AgeKey::from_identity_file(&identity).unwrap();
    assert_eq!(unwrapping.key_id(), recipient);
    let unwrapped = unwrapping.unwrap(&WrappedKey(out.stdout)).await.unwrap();
    assert_eq!(unwrapped.bytes(), data_key.bytes());

    // Another identity is refused, naming its recipient.
    let (other, other_recipient) = keygen(dir.path(), "other.txt");
    let err = AgeKey::from_identity_file(&other)
        .unwrap()
        .unwrap(&wrapped)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&other_recipient), "{err}");
}

#[test]
fn key_material_never_shows_and_bad_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (identity, recipient) = keygen(dir.path(), "id.txt");
    let secret = std::fs::read_to_string(&identity).unwrap();
    let secret_line = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap();
    let key = AgeKey::from_identity_file(&identity).unwrap();
    let debug = format!("{key:?}");
    assert!(debug.contains(&recipient), "{debug}");
    assert!(
        !debug.contains(secret_line) && !debug.contains("AGE-SECRET"),
        "{debug}"
    );

    let err = AgeKey::recipient("age1notarecipient").unwrap_err();
    assert!(matches!(err, StorageError::Key { .. }), "{err:?}");
    assert!(err.to_string().contains("age1notarecipient"), "{err}");
    // A damaged identity file is named, and its text is not shown.
    let damaged = dir.path().join("damaged.txt");
    let damaged_line = format!("{}X", &secret_line[..secret_line.len() - 1]);
    std::fs::write(&damaged, format!("{damaged_line}\n")).unwrap();
    let err = AgeKey::from_identity_file(&damaged)
        .unwrap_err()
        .to_string();
    assert!(err.contains("damaged.txt"), "{err}");
    assert!(!err.contains(&damaged_line[..30]), "{err}");
    let missing = AgeKey::from_identity_file(&dir.path().join("nope.txt"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("nope.txt"), "{missing}");
}

/// A new key of the test server's KMS; its id.
fn kms_key(endpoint: &str) -> String {
    boto3(
        endpoint,
        "print(kms.create_key(Description='csdr client-side encryption test')['KeyMetadata']['KeyId'])",
    )
}

#[tokio::test]
async fn encryption_with_an_aws_kms_key_on_s3() {
    let Some((endpoint, _)) = s3_env() else {
        return;
    };
    let Some(store) = s3_store() else {
        return;
    };
    let spec = |id: &str| format!("kms://{id}?region=us-east-1&endpoint={endpoint}");
    let a = csdr_storage::KmsKey::from_spec(&spec(&kms_key(&endpoint))).unwrap();
    let b = csdr_storage::KmsKey::from_spec(&spec(&kms_key(&endpoint))).unwrap();
    assert_eq!(a.kind(), KeyKind::Kms);
    encryption_conformance(store, Arc::new(a), Arc::new(b)).await;
}

#[tokio::test]
async fn a_kms_key_wraps_through_the_service_and_refuses_other_keys_ciphertext() {
    let Some((endpoint, _)) = s3_env() else {
        return;
    };
    let id = kms_key(&endpoint);
    let spec = format!("kms://{id}?region=us-east-1&endpoint={endpoint}");
    let key = csdr_storage::KmsKey::from_spec(&spec).unwrap();
    assert_eq!(key.key_id(), id);
    let debug = format!("{key:?}");
    assert!(debug.contains(&id) && !debug.contains("testing"), "{debug}");
    let data_key = DataKey::from_bytes([5; 32]);
    let wrapped = key.wrap(&data_key).await.unwrap();
    assert!(
        !wrapped.0.windows(32).any(|w| w == [5; 32]),
        "the data key is wrapped"
    );
    assert_eq!(key.unwrap(&wrapped).await.unwrap().bytes(), &[5; 32]);
    // The service decrypts it: boto3 agrees on the data key.
    let blob: Vec<String> = wrapped.0.iter().map(|b| b.to_string()).collect();
    let plain = boto3(
        &endpoint,
        &format!(
            "print(list(kms.decrypt(CiphertextBlob=bytes([{}]))['Plaintext']))",
            blob.join(",")
        ),
    );
    assert_eq!(plain, format!("{:?}", vec![5u8; 32]));
    // A damaged ciphertext is refused, naming the key.
    let mut damaged = wrapped.0.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    let err = key
        .unwrap(&WrappedKey(damaged))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&id), "{err}");
    // Malformed specs are refused before any request.
    for bad in ["kms://", "kms://k1?color=red", "age1x"] {
        let err = csdr_storage::KmsKey::from_spec(bad).unwrap_err();
        assert!(matches!(err, StorageError::Key { .. }), "{bad}: {err:?}");
    }
}
