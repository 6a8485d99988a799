#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

use proptest::prelude::*;

use super::format::{CHUNK, HEADER, TAG, sealed_len};
use super::*;

const LABEL: &str = "backups/b1/b1.tar.gz";

fn key(n: u8) -> DataKey {
    DataKey::from_bytes([n; 32])
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn rejected(r: Result<Vec<u8>, CryptoError>) -> bool {
    matches!(r, Err(CryptoError::Rejected { .. }))
}

#[test]
fn files_of_every_size_round_trip_and_have_the_documented_length() {
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
        let plain = data(len);
        let sealed = seal(&key(1), [9; 16], LABEL, &plain).unwrap();
        assert_eq!(sealed.len() as u64, sealed_len(len as u64), "{len}");
        assert!(format::is_encrypted(&sealed));
        assert_eq!(open(&key(1), LABEL, &sealed).unwrap(), plain, "{len}");
    }
}

#[test]
fn the_same_file_sealed_with_another_salt_differs_entirely() {
    let plain = data(1000);
    let a = seal(&key(1), [1; 16], LABEL, &plain).unwrap();
    let b = seal(&key(1), [2; 16], LABEL, &plain).unwrap();
    assert_ne!(a[HEADER..], b[HEADER..]);
}

#[test]
fn every_flipped_byte_is_rejected() {
    let plain = data(2 * CHUNK + 100);
    let sealed = seal(&key(1), [3; 16], LABEL, &plain).unwrap();
    let positions = (0..sealed.len()).step_by(997).chain([
        HEADER - 1,
        HEADER,
        HEADER + CHUNK + TAG - 1,
        sealed.len() - 1,
    ]);
    for at in positions {
        let mut bad = sealed.clone();
        bad[at] ^= 0x40;
        let r = open(&key(1), LABEL, &bad);
        assert!(r.is_err(), "a flip at {at} was accepted");
        if at >= 10 {
            assert!(rejected(r), "flip at {at}");
        }
    }
}

#[test]
fn truncated_extended_and_reordered_files_are_rejected() {
    let plain = data(3 * CHUNK + 7);
    let sealed = seal(&key(1), [4; 16], LABEL, &plain).unwrap();
    let full = CHUNK + TAG;
    // Cut at a chunk boundary: what is left is a valid prefix, but not marked last.
    assert!(rejected(open(&key(1), LABEL, &sealed[..HEADER + 3 * full])));
    assert!(rejected(open(&key(1), LABEL, &sealed[..HEADER + full])));
    assert!(rejected(open(&key(1), LABEL, &sealed[..sealed.len() - 1])));
    assert!(rejected(open(&key(1), LABEL, &sealed[..HEADER + 5])));
    let mut longer = sealed.clone();
    longer.extend_from_slice(&[0; 20]);
    assert!(rejected(open(&key(1), LABEL, &longer)));
    let mut swapped = sealed[..HEADER].to_vec();
    swapped.extend_from_slice(&sealed[HEADER + full..HEADER + 2 * full]);
    swapped.extend_from_slice(&sealed[HEADER..HEADER + full]);
    swapped.extend_from_slice(&sealed[HEADER + 2 * full..]);
    let err = open(&key(1), LABEL, &swapped).unwrap_err();
    assert_eq!(
        err,
        CryptoError::Rejected {
            label: LABEL.into(),
            at: "chunk 0".into()
        }
    );
}

#[test]
fn a_wrong_key_or_another_place_is_rejected_naming_the_file() {
    let sealed = seal(&key(1), [5; 16], LABEL, b"password: hunter2").unwrap();
    let err = open(&key(2), LABEL, &sealed).unwrap_err();
    assert!(err.to_string().contains(LABEL), "{err}");
    assert!(err.to_string().contains("wrong key"), "{err}");
    assert!(rejected(open(&key(1), "backups/b2/b2.tar.gz", &sealed)));
}

#[test]
fn plain_and_foreign_files_are_told_apart() {
    assert_eq!(
        open(&key(1), LABEL, b"\x1f\x8b plain gzip").unwrap_err(),
        CryptoError::NotEncrypted {
            label: LABEL.into()
        }
    );
    assert!(matches!(
        open(&key(1), LABEL, b"CSDR"),
        Err(CryptoError::NotEncrypted { .. })
    ));
    let mut future = seal(&key(1), [6; 16], LABEL, b"x").unwrap();
    future[8] = 2;
    let err = open(&key(1), LABEL, &future).unwrap_err();
    assert!(matches!(err, CryptoError::Unsupported { .. }), "{err:?}");
}

#[test]
fn key_material_never_shows_in_debug_output() {
    let k = DataKey::from_bytes([0xAB; 32]);
    let shown = format!("{k:?} {:?}", Sealer::new(&k, [0; 16], LABEL));
    assert!(!shown.to_lowercase().contains("ab, ab"), "{shown}");
    assert!(!shown.contains("171"), "{shown}");
    assert!(shown.contains("redacted"), "{shown}");
}

#[cfg(feature = "testing")]
#[test]
fn the_record_unwraps_with_its_own_key_only() {
    use crate::testing::LocalKek;
    let kek = LocalKek::new("local:team-a", 40);
    let other = LocalKek::new("local:team-b", 41);
    let data_key = key(7);
    let record = futures::executor::block_on(EncryptionRecord::wrap(&kek, &data_key)).unwrap();
    let json = serde_json::to_string(&record).unwrap();
    assert!(json.contains("\"keyId\":\"local:team-a\""), "{json}");
    let back: EncryptionRecord = serde_json::from_str(&json).unwrap();
    let unwrapped = futures::executor::block_on(back.data_key(&kek)).unwrap();
    assert_eq!(unwrapped.bytes(), data_key.bytes());

    let err = futures::executor::block_on(back.data_key(&other)).unwrap_err();
    assert!(
        matches!(&err, CryptoError::Key { key_id, .. } if key_id == "local:team-a"),
        "{err:?}"
    );
    assert!(err.to_string().contains("local:team-b"), "{err}");

    // Another backup's wrapped key swapped in: refused by the key, naming it.
    let mut swapped = back.clone();
    swapped.wrapped_key = futures::executor::block_on(other.wrap(&data_key)).unwrap();
    let err = futures::executor::block_on(swapped.data_key(&kek)).unwrap_err();
    assert!(err.to_string().contains("local:team-a"), "{err}");

    let bad: Result<EncryptionRecord, _> = serde_json::from_str(
        r#"{"algorithm":"x","keyKind":"age","keyId":"age1x","wrappedKey":"%%%"}"#,
    );
    assert!(bad.unwrap_err().to_string().contains("not base64"));
}

#[test]
fn the_writer_form_seals_the_same_file() {
    use std::io::Write;
    let plain = data(2 * CHUNK + 3);
    let mut writer = SealingWriter::new(Vec::new(), &key(1), [8; 16], LABEL);
    for piece in plain.chunks(1000) {
        writer.write_all(piece).unwrap();
    }
    let sealed = writer.finish().unwrap();
    assert_eq!(sealed, seal(&key(1), [8; 16], LABEL, &plain).unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// However the input is split into pieces, sealing gives the same file, and opening it in
    /// any other pieces gives the plaintext back.
    #[test]
    fn pieces_do_not_matter(
        len in 0usize..(3 * CHUNK),
        seal_cuts in proptest::collection::vec(0usize..(3 * CHUNK), 0..6),
        open_cuts in proptest::collection::vec(0usize..(4 * CHUNK), 0..6),
    ) {
        let plain = data(len);
        let whole = seal(&key(1), [8; 16], LABEL, &plain).unwrap();
        let pieces = |bytes: &[u8], cuts: &[usize]| -> Vec<Vec<u8>> {
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut out = Vec::new();
            let mut from = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                out.push(bytes[from..c].to_vec());
                from = c;
            }
            out
        };
        let mut sealed = Vec::new();
        let mut sealer = Sealer::new(&key(1), [8; 16], LABEL);
        for p in pieces(&plain, &seal_cuts) {
            sealer.update(&p, &mut sealed).unwrap();
        }
        sealer.finish(&mut sealed).unwrap();
        prop_assert_eq!(&sealed, &whole);

        let mut opened = Vec::new();
        let mut opener = Opener::new(&key(1), LABEL);
        for p in pieces(&whole, &open_cuts) {
            opener.update(&p, &mut opened).unwrap();
        }
        opener.finish(&mut opened).unwrap();
        prop_assert_eq!(opened, plain);
    }
}
