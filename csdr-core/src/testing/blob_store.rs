//! The conformance suite of the [`BlobStore`] port: every documented behaviour, checked.

use bytes::Bytes;
use futures::TryStreamExt;

use super::{all_keys, data};
use crate::ports::blob_store::{BlobError, BlobStore, UploadOptions};

/// Checks every behaviour [`BlobStore`] documents on `store`, which must be empty and
/// writable. Panics, naming the behaviour, at the first that does not hold.
pub async fn blob_store_conformance(store: &dyn BlobStore) {
    assert!(
        all_keys(store).await.is_empty(),
        "the conformance suite needs an empty store"
    );
    absent_keys(store).await;
    put_get_head_overwrite(store).await;
    ranged_reads(store).await;
    create_only_writes(store).await;
    concurrent_create_only_writers(store).await;
    listing(store).await;
    deletes_are_idempotent(store).await;
    copies(store).await;
    uploads_are_invisible_until_complete(store).await;
    aborted_and_dropped_uploads_leave_nothing(store).await;
    invalid_keys_are_refused(store).await;
    // Leave the store as found.
    let keys = all_keys(store).await;
    store.delete_many(&keys).await.unwrap();
    assert!(all_keys(store).await.is_empty());
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

async fn listed(store: &dyn BlobStore, prefix: &str) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = store
        .list(prefix)
        .map_ok(|m| (m.key, m.size))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("list {prefix:?}: {}", e.chain()));
    v.sort();
    v
}

async fn absent_keys(store: &dyn BlobStore) {
    let e = store.get("absent/x").await.unwrap_err();
    assert!(
        matches!(e, BlobError::NotFound { ref key } if key == "absent/x"),
        "get: {e:?}"
    );
    let e = store.head("absent/x").await.unwrap_err();
    assert!(matches!(e, BlobError::NotFound { .. }), "head: {e:?}");
    let e = store.get_range("absent/x", 0..1).await.unwrap_err();
    assert!(matches!(e, BlobError::NotFound { .. }), "get_range: {e:?}");
    assert!(!store.exists("absent/x").await.unwrap());
    assert!(listed(store, "absent/").await.is_empty());
}

async fn put_get_head_overwrite(store: &dyn BlobStore) {
    let before = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(10);
    store.put("p/one.json", b("{\"a\":1}")).await.unwrap();
    assert_eq!(store.get("p/one.json").await.unwrap(), b("{\"a\":1}"));
    let meta = store.head("p/one.json").await.unwrap();
    assert_eq!(meta.key, "p/one.json");
    assert_eq!(meta.size, 7);
    assert!(
        meta.last_modified > before,
        "last_modified {}",
        meta.last_modified
    );
    assert!(store.exists("p/one.json").await.unwrap());
    // Last writer wins, whole.
    store.put("p/one.json", b("[]")).await.unwrap();
    assert_eq!(store.get("p/one.json").await.unwrap(), b("[]"));
    assert_eq!(store.head("p/one.json").await.unwrap().size, 2);
    // Empty objects exist.
    store.put("p/empty", Bytes::new()).await.unwrap();
    assert_eq!(store.get("p/empty").await.unwrap(), Bytes::new());
    assert_eq!(store.head("p/empty").await.unwrap().size, 0);
    store
        .delete_many(&["p/one.json".into(), "p/empty".into()])
        .await
        .unwrap();
}

async fn ranged_reads(store: &dyn BlobStore) {
    let bytes = Bytes::from(data(10_000, 1));
    store.put("r/pack", bytes.clone()).await.unwrap();
    assert_eq!(
        store.get_range("r/pack", 0..10).await.unwrap(),
        bytes.slice(0..10)
    );
    assert_eq!(
        store.get_range("r/pack", 1234..5678).await.unwrap(),
        bytes.slice(1234..5678)
    );
    // An end beyond the object is cut to its size.
    assert_eq!(
        store.get_range("r/pack", 9_990..20_000).await.unwrap(),
        bytes.slice(9_990..)
    );
    // An empty range reads nothing.
    assert!(store.get_range("r/pack", 5..5).await.unwrap().is_empty());
    // A start at or past the end is refused.
    let e = store.get_range("r/pack", 10_000..10_010).await.unwrap_err();
    assert!(
        matches!(e, BlobError::InvalidRange { size: 10_000, .. }),
        "{e:?}"
    );
    store.delete("r/pack").await.unwrap();
}

async fn create_only_writes(store: &dyn BlobStore) {
    store.put_if_absent("c/once", b("first")).await.unwrap();
    let e = store
        .put_if_absent("c/once", b("second"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, BlobError::AlreadyExists { ref key } if key == "c/once"),
        "{e:?}"
    );
    assert_eq!(store.get("c/once").await.unwrap(), b("first"));
    // Free again once deleted.
    store.delete("c/once").await.unwrap();
    store.put_if_absent("c/once", b("third")).await.unwrap();
    assert_eq!(store.get("c/once").await.unwrap(), b("third"));
    store.delete("c/once").await.unwrap();
}

async fn concurrent_create_only_writers(store: &dyn BlobStore) {
    let writers = (0..8u8).map(|i| async move {
        let body = Bytes::from(vec![i; 1000 + usize::from(i)]);
        (i, store.put_if_absent("c/race", body).await)
    });
    let outcomes = futures::future::join_all(writers).await;
    let mut winners = Vec::new();
    for (i, r) in outcomes {
        match r {
            Ok(()) => winners.push(i),
            Err(BlobError::AlreadyExists { .. }) => {}
            Err(e) => panic!("create-only writer {i}: {}", e.chain()),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one create-only writer wins: {winners:?}"
    );
    let w = winners[0];
    assert_eq!(
        store.get("c/race").await.unwrap(),
        Bytes::from(vec![w; 1000 + usize::from(w)]),
        "the winner's bytes are stored"
    );
    store.delete("c/race").await.unwrap();
}

async fn listing(store: &dyn BlobStore) {
    for (k, n) in [
        ("l/a", 1),
        ("l/b/c", 2),
        ("l/bc", 3),
        ("l2/x", 4),
        ("top-1", 5),
    ] {
        store.put(k, Bytes::from(vec![0u8; n])).await.unwrap();
    }
    let s = |v: &[(&str, u64)]| {
        v.iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(store, "l/").await,
        s(&[("l/a", 1), ("l/b/c", 2), ("l/bc", 3)]),
        "a folder lists recursively, with sizes"
    );
    assert_eq!(
        listed(store, "l/b").await,
        s(&[("l/b/c", 2), ("l/bc", 3)]),
        "a prefix is a plain string prefix"
    );
    assert_eq!(listed(store, "l/b/").await, s(&[("l/b/c", 2)]));
    assert_eq!(listed(store, "top-").await, s(&[("top-1", 5)]));
    assert_eq!(listed(store, "l").await.len(), 4);
    assert_eq!(
        listed(store, "").await.len(),
        5,
        "an empty prefix lists everything"
    );
    assert!(listed(store, "nothing/").await.is_empty());
    let keys: Vec<String> = ["l/a", "l/b/c", "l/bc", "l2/x", "top-1"]
        .map(String::from)
        .into();
    store.delete_many(&keys).await.unwrap();
    assert!(listed(store, "").await.is_empty());
}

async fn deletes_are_idempotent(store: &dyn BlobStore) {
    store.put("d/x", b("x")).await.unwrap();
    store.delete("d/x").await.unwrap();
    assert!(!store.exists("d/x").await.unwrap());
    store.delete("d/x").await.unwrap();
    store.delete("d/never").await.unwrap();
    store.put("d/y", b("y")).await.unwrap();
    store
        .delete_many(&["d/y".into(), "d/absent".into()])
        .await
        .unwrap();
    assert!(!store.exists("d/y").await.unwrap());
    store.delete_many(&[]).await.unwrap();
    // Many at once (S3 deletes in batches).
    let keys: Vec<String> = (0..30).map(|i| format!("d/many/{i}")).collect();
    for k in &keys {
        store.put(k, b("m")).await.unwrap();
    }
    store.delete_many(&keys).await.unwrap();
    assert!(listed(store, "d/").await.is_empty());
}

async fn copies(store: &dyn BlobStore) {
    store.put("k/from", b("source")).await.unwrap();
    store.copy("k/from", "k/to").await.unwrap();
    assert_eq!(store.get("k/to").await.unwrap(), b("source"));
    assert_eq!(store.get("k/from").await.unwrap(), b("source"));
    store.put("k/other", b("other")).await.unwrap();
    store.copy("k/other", "k/to").await.unwrap();
    assert_eq!(
        store.get("k/to").await.unwrap(),
        b("other"),
        "a copy replaces"
    );
    let e = store.copy("k/absent", "k/to2").await.unwrap_err();
    assert!(matches!(e, BlobError::NotFound { .. }), "{e:?}");
    assert!(!store.exists("k/to2").await.unwrap());
    store
        .delete_many(&["k/from".into(), "k/to".into(), "k/other".into()])
        .await
        .unwrap();
}

async fn uploads_are_invisible_until_complete(store: &dyn BlobStore) {
    // More than one 5 MiB part, in uneven chunks.
    let bytes = data(6 * 1024 * 1024 + 321, 2);
    store.put("u/big", b("old")).await.unwrap();
    let mut up = store
        .start_upload("u/big", UploadOptions::parts_in_flight(2))
        .await
        .unwrap();
    for c in bytes.chunks(700_001) {
        up.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
    assert_eq!(
        store.get("u/big").await.unwrap(),
        b("old"),
        "an upload is invisible until it completes"
    );
    assert_eq!(listed(store, "u/").await, vec![("u/big".to_string(), 3)]);
    let size = up.complete().await.unwrap();
    assert_eq!(size, bytes.len() as u64);
    assert_eq!(
        store.get("u/big").await.unwrap(),
        Bytes::from(bytes.clone())
    );
    assert_eq!(store.head("u/big").await.unwrap().size, bytes.len() as u64);
    // A small upload in one part.
    let mut up = store
        .start_upload("u/small", UploadOptions::default())
        .await
        .unwrap();
    assert!(!store.exists("u/small").await.unwrap());
    up.write(b("tiny")).await.unwrap();
    up.write(b(" part")).await.unwrap();
    assert_eq!(up.complete().await.unwrap(), 9);
    assert_eq!(store.get("u/small").await.unwrap(), b("tiny part"));
    store
        .delete_many(&["u/big".into(), "u/small".into()])
        .await
        .unwrap();
}

async fn aborted_and_dropped_uploads_leave_nothing(store: &dyn BlobStore) {
    let bytes = data(6 * 1024 * 1024, 3);
    let mut up = store
        .start_upload("a/aborted", UploadOptions::default())
        .await
        .unwrap();
    for c in bytes.chunks(1024 * 1024) {
        up.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
    up.abort().await.unwrap();
    assert!(!store.exists("a/aborted").await.unwrap());
    // Abort before any byte.
    store
        .start_upload("a/empty", UploadOptions::default())
        .await
        .unwrap()
        .abort()
        .await
        .unwrap();
    // An aborted upload leaves an existing object as it was.
    store.put("a/kept", b("kept")).await.unwrap();
    let mut up = store
        .start_upload("a/kept", UploadOptions::default())
        .await
        .unwrap();
    up.write(b("replacement")).await.unwrap();
    up.abort().await.unwrap();
    assert_eq!(store.get("a/kept").await.unwrap(), b("kept"));
    // Dropped.
    let mut up = store
        .start_upload("a/dropped", UploadOptions::default())
        .await
        .unwrap();
    up.write(Bytes::from(bytes)).await.unwrap();
    drop(up);
    assert!(!store.exists("a/dropped").await.unwrap());
    assert_eq!(listed(store, "a/").await, vec![("a/kept".to_string(), 4)]);
    store.delete("a/kept").await.unwrap();
}

async fn invalid_keys_are_refused(store: &dyn BlobStore) {
    for bad in ["", "/abs", "a//b", "a/../b", "dir/", "a#1"] {
        let e = store.put(bad, b("x")).await.unwrap_err();
        assert!(
            matches!(e, BlobError::InvalidKey { .. }),
            "put {bad:?}: {e:?}"
        );
        let e = store.get(bad).await.unwrap_err();
        assert!(
            matches!(e, BlobError::InvalidKey { .. }),
            "get {bad:?}: {e:?}"
        );
        let e = store.put_if_absent(bad, b("x")).await.unwrap_err();
        assert!(
            matches!(e, BlobError::InvalidKey { .. }),
            "create {bad:?}: {e:?}"
        );
    }
    assert!(all_keys(store).await.is_empty(), "nothing was written");
}
