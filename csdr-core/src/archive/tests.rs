//! Behaviour of the archive writer and reader as a backup and a restore rely on it.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::Digest;

use super::*;
use crate::gzip::gzip;
use crate::model::EntryDigest;
use crate::object::{GroupVersionResource, KubeObject};

fn object(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> KubeObject {
    let mut meta = json!({"name": name});
    if let Some(ns) = namespace {
        meta["namespace"] = json!(ns);
    }
    KubeObject::new(
        json!({"apiVersion": api_version, "kind": kind, "metadata": meta,
        "data": {"key": format!("value of {name}")}}),
    )
    .unwrap()
}

fn item(gvr: (&str, &str, &str), preferred: bool, obj: KubeObject) -> ArchiveItem {
    ArchiveItem {
        object: obj,
        placement: Placement {
            resource: GroupVersionResource::new(gvr.0, gvr.1, gvr.2),
            preferred,
        },
    }
}

fn sample_items() -> Vec<ArchiveItem> {
    vec![
        item(
            ("apps", "v1", "deployments"),
            true,
            object("apps/v1", "Deployment", Some("shop"), "web"),
        ),
        item(
            ("apps", "v1beta2", "deployments"),
            false,
            object("apps/v1beta2", "Deployment", Some("shop"), "web"),
        ),
        item(
            ("", "v1", "configmaps"),
            true,
            object("v1", "ConfigMap", Some("shop"), "settings"),
        ),
        item(
            ("", "v1", "persistentvolumes"),
            true,
            object("v1", "PersistentVolume", None, "pv-0001"),
        ),
    ]
}

/// What [`write`] returns: the writer's summary with the digests it collected.
#[derive(Debug, PartialEq)]
struct Written {
    entries: Vec<EntryDigest>,
    objects: u64,
    tarball_sha256: String,
    tarball_size: u64,
}

fn write(items: &[ArchiveItem], options: WriterOptions) -> (Vec<u8>, Written) {
    let mut out = Vec::new();
    let mut writer = ArchiveWriter::new(&mut out, options).unwrap();
    for item in items {
        writer.add(item).unwrap();
    }
    let (summary, _, entries): (ArchiveSummary, _, _) = writer.finish().unwrap();
    assert_eq!(summary.entries, entries.len() as u64);
    let summary = Written {
        entries,
        objects: summary.objects,
        tarball_sha256: summary.tarball_sha256,
        tarball_size: summary.tarball_size,
    };
    (out, summary)
}

fn options(threads: usize) -> WriterOptions {
    WriterOptions {
        mtime: 1_700_000_000,
        threads,
        // Small members, so that tests cover many of them.
        block_size: 4096,
        ..WriterOptions::default()
    }
}

fn read_all(bytes: &[u8]) -> Result<Vec<ArchiveEntry>, ArchiveError> {
    ArchiveReader::new(bytes).collect()
}

/// One tar header block with raw name bytes, so paths the `tar` crate would refuse can be made.
fn raw_header(name: &[u8], kind: u8, size: u64) -> [u8; 512] {
    let mut header = tar::Header::new_ustar();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::new(kind));
    header.set_cksum();
    *header.as_bytes()
}

/// A gzip-compressed tar of raw entries, ended by two zero blocks.
fn raw_tarball(entries: &[(&[u8], u8, &[u8])]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, kind, data) in entries {
        tar.extend_from_slice(&raw_header(name, *kind, data.len() as u64));
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.extend_from_slice(&[0; 1024]);
    gzip(&tar)
}

fn expected_paths(items: &[ArchiveItem]) -> Vec<String> {
    let mut paths = Vec::new();
    for item in items {
        let gvr = &item.placement.resource;
        let ns = item.object.namespace();
        let name = item.object.name();
        if item.placement.preferred {
            let plain = ItemPath::new(&gvr.resource, &gvr.group, VersionDir::Unversioned, ns, name);
            paths.push(plain.unwrap().to_string());
            let dir = VersionDir::Preferred(gvr.version.clone());
            let versioned = ItemPath::new(&gvr.resource, &gvr.group, dir, ns, name);
            paths.push(versioned.unwrap().to_string());
        } else {
            let dir = VersionDir::Served(gvr.version.clone());
            let versioned = ItemPath::new(&gvr.resource, &gvr.group, dir, ns, name);
            paths.push(versioned.unwrap().to_string());
        }
    }
    paths
}

#[test]
fn writes_velero_layout_and_reads_it_back() {
    let items = sample_items();
    let (bytes, summary) = write(&items, options(2));
    let read = read_all(&bytes).unwrap();
    let paths: Vec<String> = read.iter().map(|e| e.path.to_string()).collect();
    assert_eq!(
        paths,
        [
            "resources/deployments.apps/namespaces/shop/web.json",
            "resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json",
            "resources/deployments.apps/v1beta2/namespaces/shop/web.json",
            "resources/configmaps/namespaces/shop/settings.json",
            "resources/configmaps/v1-preferredversion/namespaces/shop/settings.json",
            "resources/persistentvolumes/cluster/pv-0001.json",
            "resources/persistentvolumes/v1-preferredversion/cluster/pv-0001.json",
        ]
    );
    assert_eq!(read[0].object, items[0].object);
    assert_eq!(read[2].object, items[1].object);
    assert_eq!(summary.objects, 4);
    assert_eq!(summary.entries[0].path, "metadata/version");
    assert_eq!(summary.entries[0].size, 6);
    let digests: Vec<EntryDigest> = read.into_iter().map(|e| e.digest).collect();
    assert_eq!(digests, summary.entries[1..]);
    assert_eq!(summary.tarball_size, bytes.len() as u64);
    assert_eq!(summary.tarball_sha256, hex(&sha2::Sha256::digest(&bytes)));
}

#[test]
fn entries_have_fixed_owner_mode_and_mtime() {
    let (bytes, _) = write(&sample_items(), options(1));
    let mut archive = tar::Archive::new(MultiGzDecoder::new(&bytes[..]));
    let mut count = 0;
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        assert_eq!(header.mode().unwrap(), 0o644);
        assert_eq!(header.uid().unwrap(), 0);
        assert_eq!(header.gid().unwrap(), 0);
        assert_eq!(header.mtime().unwrap(), 1_700_000_000);
        assert_eq!(header.username().unwrap(), Some(""));
        count += 1;
    }
    assert_eq!(count, 8);
}

#[test]
fn output_is_deterministic_and_independent_of_threads() {
    let items: Vec<ArchiveItem> = (0..300)
        .map(|i| {
            item(
                ("", "v1", "configmaps"),
                true,
                object("v1", "ConfigMap", Some("ns"), &format!("cm-{i}")),
            )
        })
        .collect();
    let (one, one_summary) = write(&items, options(1));
    let (again, again_summary) = write(&items, options(1));
    let (two, two_summary) = write(&items, options(2));
    assert_eq!(one, again);
    assert_eq!(one_summary, again_summary);
    assert_eq!(one, two);
    assert_eq!(one_summary.tarball_sha256, two_summary.tarball_sha256);
    assert_eq!(read_all(&two).unwrap().len(), 600);
    // Another mtime gives other bytes: the mtime really is in the headers.
    let (other, _) = write(
        &items,
        WriterOptions {
            mtime: 0,
            ..options(2)
        },
    );
    assert_ne!(one, other);
}

#[test]
fn system_tar_extracts_the_archive_and_multigz_reads_it_whole() {
    // Long names (GNU long-name entries) and several gzip members.
    let long_name = format!("a-very-long-config-map-name-{}", "x".repeat(150));
    let mut items = sample_items();
    items.push(item(
        ("", "v1", "configmaps"),
        true,
        object("v1", "ConfigMap", Some("shop"), &long_name),
    ));
    for i in 0..200 {
        items.push(item(
            ("", "v1", "configmaps"),
            true,
            object("v1", "ConfigMap", Some("bulk"), &format!("cm-{i}")),
        ));
    }
    let (bytes, summary) = write(&items, options(2));

    let mut whole = Vec::new();
    MultiGzDecoder::new(&bytes[..])
        .read_to_end(&mut whole)
        .unwrap();
    let entries_in_tar = tar::Archive::new(&whole[..]).entries().unwrap().count();
    assert_eq!(entries_in_tar, summary.entries.len());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.tar.gz");
    std::fs::write(&file, &bytes).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&file)
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    for digest in &summary.entries {
        let content = std::fs::read(out.join(&digest.path)).unwrap();
        assert_eq!(content.len() as u64, digest.size, "{}", digest.path);
        assert_eq!(hex(&sha2::Sha256::digest(&content)), digest.sha256);
    }
    assert_eq!(
        std::fs::read_to_string(out.join("metadata/version")).unwrap(),
        "1.1.0\n"
    );
    let long = out.join(format!(
        "resources/configmaps/v1-preferredversion/namespaces/shop/{long_name}.json"
    ));
    let value: Value = serde_json::from_slice(&std::fs::read(long).unwrap()).unwrap();
    assert_eq!(value["metadata"]["name"], json!(long_name));
}

/// A tarball as Velero writes it: Go's archive/tar (USTAR headers, a PAX record for a path too
/// long for USTAR), mode 0755, real mtimes, `metadata/version` first, the plain path then the
/// `-preferredversion` copy, another served version, and an Ingress under two groups.
#[test]
fn reads_a_backup_written_the_way_velero_writes_it() {
    let deployment = object("apps/v1", "Deployment", Some("shop"), "web");
    let deployment_v1beta2 = object("apps/v1beta2", "Deployment", Some("shop"), "web");
    let ingress_ext = object("extensions/v1beta1", "Ingress", Some("shop"), "front");
    let ingress_net = object("networking.k8s.io/v1", "Ingress", Some("shop"), "front");
    let pv = object("v1", "PersistentVolume", None, "pvc-0a1b2c3d");
    let long_name = "n".repeat(240);
    let long_cm = object("v1", "ConfigMap", Some("shop"), &long_name);
    let json_of = |o: &KubeObject| serde_json::to_vec(o.fields()).unwrap();
    let files: Vec<(String, Vec<u8>)> = vec![
        ("metadata/version".into(), b"1.1.0\n".to_vec()),
        (
            "resources/deployments.apps/namespaces/shop/web.json".into(),
            json_of(&deployment),
        ),
        (
            "resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json".into(),
            json_of(&deployment),
        ),
        (
            "resources/deployments.apps/v1beta2/namespaces/shop/web.json".into(),
            json_of(&deployment_v1beta2),
        ),
        (
            "resources/ingresses.extensions/namespaces/shop/front.json".into(),
            json_of(&ingress_ext),
        ),
        (
            "resources/ingresses.extensions/v1beta1-preferredversion/namespaces/shop/front.json"
                .into(),
            json_of(&ingress_ext),
        ),
        (
            "resources/ingresses.networking.k8s.io/namespaces/shop/front.json".into(),
            json_of(&ingress_net),
        ),
        (
            "resources/ingresses.networking.k8s.io/v1-preferredversion/namespaces/shop/front.json"
                .into(),
            json_of(&ingress_net),
        ),
        (
            "resources/persistentvolumes/cluster/pvc-0a1b2c3d.json".into(),
            json_of(&pv),
        ),
        (
            "resources/persistentvolumes/v1-preferredversion/cluster/pvc-0a1b2c3d.json".into(),
            json_of(&pv),
        ),
        (
            format!("resources/configmaps/v1-preferredversion/namespaces/shop/{long_name}.json"),
            json_of(&long_cm),
        ),
    ];
    let mut tar = Vec::new();
    for (path, data) in &files {
        let mut header = tar::Header::new_ustar();
        if header.set_path(path).is_err() {
            // Go writes a PAX record for paths that do not fit USTAR's name and prefix.
            let record_body = format!(" path={path}\n");
            let mut len = record_body.len();
            len += len.to_string().len();
            let record = format!("{len}{record_body}");
            let mut pax = tar::Header::new_ustar();
            pax.set_path("PaxHeaders.0/long.json").unwrap();
            pax.set_size(record.len() as u64);
            pax.set_entry_type(tar::EntryType::XHeader);
            pax.set_cksum();
            tar.extend_from_slice(pax.as_bytes());
            tar.extend_from_slice(record.as_bytes());
            tar.resize(tar.len().div_ceil(512) * 512, 0);
            header
                .set_path("resources/configmaps/truncated.json")
                .unwrap();
        }
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        header.set_mtime(1_716_000_123);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.extend_from_slice(&[0; 1024]);
    let bytes = gzip(&tar);

    let mut reader = ArchiveReader::new(&bytes[..]);
    let entries: Vec<ArchiveEntry> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(reader.format_version(), Some("1.1.0"));
    let got: Vec<(String, KubeObject)> = entries
        .into_iter()
        .map(|e| (e.digest.path, e.object))
        .collect();
    let want: Vec<(String, KubeObject)> = files[1..]
        .iter()
        .map(|(p, d)| {
            (
                p.clone(),
                KubeObject::from_json(std::str::from_utf8(d).unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    let ingress = ItemPath::parse(&got[5].0).unwrap();
    assert_eq!(ingress.group, "networking.k8s.io");
    assert_eq!(ingress.version_dir, VersionDir::Unversioned);
}

#[test]
fn directory_entries_are_skipped() {
    let cm = serde_json::to_vec(object("v1", "ConfigMap", Some("a"), "b").fields()).unwrap();
    let bytes = raw_tarball(&[
        (b"resources/", b'5', b""),
        (b"resources/configmaps/namespaces/a/", b'5', b""),
        (b"resources/configmaps/namespaces/a/b.json", b'0', &cm),
    ]);
    let entries = read_all(&bytes).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].object.name(), "b");
}

fn first_error(bytes: &[u8], limits: ReadLimits) -> ArchiveError {
    ArchiveReader::new(bytes)
        .with_limits(limits)
        .find_map(Result::err)
        .expect("the archive should be rejected")
}

#[test]
fn rejects_hostile_paths_and_entry_types() {
    let cm = serde_json::to_vec(object("v1", "ConfigMap", Some("a"), "b").fields()).unwrap();
    let cases: [(&[u8], u8, &str); 7] = [
        (b"resources/../../etc/cron.d/x.json", b'0', "`..`"),
        (b"/etc/passwd", b'0', "absolute"),
        (b"resources\\..\\x.json", b'0', "backslash"),
        (b"resources/pods/namespaces/a/b.json", b'2', "symbolic link"),
        (b"resources/pods/namespaces/a/b.json", b'1', "hard link"),
        (
            b"resources/pods/namespaces/a/b.json",
            b'3',
            "character device",
        ),
        (b"plugins/x.json", b'0', "unknown top-level"),
    ];
    for (name, kind, needle) in cases {
        let bytes = raw_tarball(&[(name, kind, &cm)]);
        let err = first_error(&bytes, ReadLimits::default());
        assert!(err.to_string().contains(needle), "{err}");
        match kind {
            b'0' => assert!(matches!(err, ArchiveError::Layout(_)), "{err:?}"),
            _ => assert!(
                matches!(err, ArchiveError::UnsupportedEntryType { .. }),
                "{err:?}"
            ),
        }
    }
}

#[test]
fn extended_headers_are_bounded_and_their_paths_checked() {
    // A GNU long name claiming 1 GiB is refused before anything is read into memory.
    let mut tar = raw_header(b"././@LongLink", b'L', 1 << 30).to_vec();
    tar.extend_from_slice(&[0; 1024]);
    let err = first_error(&gzip(&tar), ReadLimits::default());
    assert!(
        matches!(&err, ArchiveError::Corrupt { reason, .. } if reason.contains("GNU long name")),
        "{err:?}"
    );

    // A PAX path replaces the header's name, and is checked like any other path.
    let record = "43 path=resources/../../../etc/shadow.json\n";
    assert_eq!(record.len(), 43);
    let cm = serde_json::to_vec(object("v1", "ConfigMap", Some("a"), "b").fields()).unwrap();
    let bytes = raw_tarball(&[
        (b"PaxHeaders/x", b'x', record.as_bytes()),
        (b"resources/configmaps/namespaces/a/b.json", b'0', &cm),
    ]);
    let err = first_error(&bytes, ReadLimits::default());
    assert!(
        matches!(
            err,
            ArchiveError::Layout(LayoutError::ParentComponent { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn rejects_oversize_entries_before_reading_them() {
    // The header claims 10 GiB; the data is not there at all.
    let mut tar = raw_header(b"resources/configmaps/namespaces/a/b.json", b'0', 10 << 30).to_vec();
    tar.extend_from_slice(&[0; 1024]);
    let err = first_error(&gzip(&tar), ReadLimits::default());
    assert!(
        matches!(err, ArchiveError::EntryTooLarge { size, .. } if size == 10 << 30),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("resources/configmaps/namespaces/a/b.json")
    );

    let (bytes, _) = write(&sample_items(), options(1));
    let limits = ReadLimits {
        max_entry_size: 50,
        ..ReadLimits::default()
    };
    assert!(matches!(
        first_error(&bytes, limits),
        ArchiveError::EntryTooLarge { limit: 50, .. }
    ));
    let limits = ReadLimits {
        max_entries: 3,
        ..ReadLimits::default()
    };
    assert!(matches!(
        first_error(&bytes, limits),
        ArchiveError::TooManyEntries { limit: 3, .. }
    ));
}

#[test]
fn rejects_deep_nesting_and_bad_json_naming_the_entry() {
    // 100,000 levels: parsing (or even dropping) such a value would overflow the stack.
    let deep = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"deep"}},"data":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let bytes = raw_tarball(&[(
        b"resources/configmaps/cluster/deep.json",
        b'0',
        deep.as_bytes(),
    )]);
    let err = first_error(&bytes, ReadLimits::default());
    assert!(
        matches!(&err, ArchiveError::TooDeep { path, limit: 100 } if path.ends_with("deep.json")),
        "{err:?}"
    );

    let shallow = object("v1", "ConfigMap", Some("a"), "shallow");
    let (bytes, _) = write(&[item(("", "v1", "configmaps"), true, shallow)], options(1));
    let limits = ReadLimits {
        max_depth: 1,
        ..ReadLimits::default()
    };
    assert!(matches!(
        first_error(&bytes, limits),
        ArchiveError::TooDeep { limit: 1, .. }
    ));

    let path = b"resources/configmaps/namespaces/a/b.json";
    let bytes = raw_tarball(&[(path, b'0', b"{\"apiVersion\": ")]);
    let err = first_error(&bytes, ReadLimits::default());
    assert!(matches!(err, ArchiveError::MalformedJson { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("resources/configmaps/namespaces/a/b.json")
    );

    let bytes = raw_tarball(&[(path, b'0', b"{\"kind\": \"ConfigMap\"}")]);
    let err = first_error(&bytes, ReadLimits::default());
    assert!(matches!(err, ArchiveError::InvalidObject { .. }), "{err:?}");
    assert!(err.to_string().contains("apiVersion"), "{err}");

    let bytes = raw_tarball(&[(b"metadata/version", b'0', b"2.0.0\n")]);
    assert!(matches!(
        first_error(&bytes, ReadLimits::default()),
        ArchiveError::UnsupportedFormatVersion { .. }
    ));
}

#[test]
fn truncated_archives_are_rejected_at_every_length() {
    let (bytes, _) = write(&sample_items(), options(2));
    for len in 0..bytes.len() {
        let result = read_all(&bytes[..len]);
        let err = result.expect_err(&format!("cut at {len} of {}", bytes.len()));
        assert!(
            matches!(
                err,
                ArchiveError::Truncated { .. } | ArchiveError::Corrupt { .. }
            ),
            "cut at {len}: {err:?}"
        );
    }
}

#[test]
fn truncation_at_a_member_boundary_is_detected() {
    // Many members: cut after a whole member, so the gzip stream itself looks complete.
    let items: Vec<ArchiveItem> = (0..100)
        .map(|i| {
            item(
                ("", "v1", "configmaps"),
                false,
                object("v1", "ConfigMap", Some("ns"), &format!("cm-{i}")),
            )
        })
        .collect();
    let (bytes, _) = write(&items, options(2));
    let second_member = bytes
        .windows(4)
        .enumerate()
        .skip(1)
        .find(|(_, w)| w == &[0x1f, 0x8b, 8, 0])
        .map(|(i, _)| i)
        .unwrap();
    let err = read_all(&bytes[..second_member]).unwrap_err();
    assert!(matches!(err, ArchiveError::Truncated { .. }), "{err:?}");
}

#[test]
fn a_flipped_byte_in_the_compressed_data_is_rejected() {
    let (bytes, summary) = write(&sample_items(), options(1));
    // Every member starts with the same 10-byte header (mtime 0); its flag, mtime, extra-flags
    // and OS bytes are not covered by the gzip CRC, everything else is.
    let header_starts: Vec<usize> = bytes
        .windows(8)
        .enumerate()
        .filter(|(_, w)| w == &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0])
        .map(|(i, _)| i)
        .collect();
    assert!(header_starts.len() > 1, "several members");
    let unprotected = |pos: usize| {
        header_starts
            .iter()
            .any(|&s| (s + 3..s + 10).contains(&pos))
    };
    let original = read_all(&bytes).unwrap();
    for pos in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x01;
        if !unprotected(pos) {
            // Without the backup's digests (a Velero backup has none) the gzip CRC is the only
            // check: a flip is either rejected or falls on bits deflate ignores (the padding
            // of a stored or final block), which leave every entry exactly as written — never
            // a changed object read without an error.
            match read_all(&bad) {
                Err(_) => {}
                Ok(entries) => assert!(
                    entries == original,
                    "flip at {pos} changed the content without being detected"
                ),
            }
        }
        // With the tarball digest from the backup's metadata, every flip is caught.
        let result: Result<Vec<_>, _> = ArchiveReader::new(&bad[..])
            .with_expected_tarball(summary.tarball_sha256.clone(), summary.tarball_size)
            .collect();
        assert!(result.is_err(), "flip at {pos} was not detected");
    }
}

#[test]
fn verifies_entries_against_expected_digests() {
    let items = sample_items();
    let (bytes, summary) = write(&items, options(2));
    let verified: Vec<_> = ArchiveReader::new(&bytes[..])
        .with_expected_digests(summary.entries.clone())
        .with_expected_tarball(summary.tarball_sha256.clone(), summary.tarball_size)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(verified.len(), 7);

    // Same paths, other content: a mismatch naming the entry, before it is yielded.
    let mut changed = items.clone();
    changed[2].object.set_label("tampered", "yes");
    let (bytes_changed, _) = write(&changed, options(2));
    let mut reader =
        ArchiveReader::new(&bytes_changed[..]).with_expected_digests(summary.entries.clone());
    let yielded: Vec<_> = reader.by_ref().collect();
    assert_eq!(yielded.iter().filter(|r| r.is_ok()).count(), 3);
    let err = yielded.into_iter().find_map(Result::err).unwrap();
    assert!(
        matches!(&err, ArchiveError::Integrity(IntegrityError::EntryMismatch { path, .. })
            if path == "resources/configmaps/namespaces/shop/settings.json"),
        "{err:?}"
    );

    // An entry that is not listed.
    let mut listed = summary.entries.clone();
    let dropped = listed.remove(3);
    let err = ArchiveReader::new(&bytes[..])
        .with_expected_digests(listed)
        .find_map(Result::err)
        .unwrap();
    assert!(
        matches!(&err, ArchiveError::Integrity(IntegrityError::UnexpectedEntry { path }) if *path == dropped.path),
        "{err:?}"
    );

    // A listed entry that never comes: reported at the end.
    let mut listed = summary.entries.clone();
    listed.push(EntryDigest {
        path: "resources/pods/namespaces/a/gone.json".into(),
        sha256: "00".repeat(32),
        size: 1,
    });
    let results: Vec<_> = ArchiveReader::new(&bytes[..])
        .with_expected_digests(listed)
        .collect();
    assert_eq!(results.len(), 8);
    assert!(matches!(
        results.last(),
        Some(Err(ArchiveError::Integrity(IntegrityError::MissingEntries { count: 1, first })))
            if first == "resources/pods/namespaces/a/gone.json"
    ));
}

#[test]
fn listed_digests_are_read_as_the_archive_is() {
    // In archive order (as csdr lists them), each entry takes the next listed digest and
    // nothing is read ahead: a million digests are not held while the archive is read (R13).
    let items = sample_items();
    let (bytes, summary) = write(&items, options(2));
    let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = pulled.clone();
    let listed = summary.entries.clone().into_iter().map(move |d| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(d)
    });
    let mut reader = ArchiveReader::new(&bytes[..]).with_listed_digests(listed);
    let objects = summary.entries.len() - 1;
    for n in 1..=objects {
        assert!(reader.next().unwrap().is_ok());
        // metadata/version and the n entries yielded so far.
        assert_eq!(pulled.load(std::sync::atomic::Ordering::SeqCst), n + 1);
    }
    assert!(reader.next().is_none(), "{objects} objects");

    // Listed in another order (another writer's), every entry is still verified.
    let mut reversed = summary.entries.clone();
    reversed.reverse();
    let read: Vec<_> = ArchiveReader::new(&bytes[..])
        .with_expected_digests(reversed.clone())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(read.len(), objects);
    let mut changed = items.clone();
    changed[2].object.set_label("tampered", "yes");
    let (bytes_changed, _) = write(&changed, options(2));
    let err = ArchiveReader::new(&bytes_changed[..])
        .with_expected_digests(reversed)
        .find_map(Result::err)
        .unwrap();
    assert!(
        matches!(
            &err,
            ArchiveError::Integrity(IntegrityError::EntryMismatch { .. })
        ),
        "{err:?}"
    );

    // A list that cannot be read fails the reading, naming why.
    let mut listed: Vec<Result<EntryDigest, String>> =
        summary.entries.iter().cloned().map(Ok).collect();
    listed[3] = Err("digests.jsonl.gz: line 4: missing field `sha256`".into());
    let results: Vec<_> = ArchiveReader::new(&bytes[..])
        .with_listed_digests(listed.into_iter())
        .collect();
    let err = results.into_iter().find_map(Result::err).unwrap();
    assert!(
        matches!(&err, ArchiveError::Integrity(IntegrityError::UnreadableDigests { reason })
            if reason.contains("line 4")),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("entry digests cannot be read"),
        "{err}"
    );
}

#[test]
fn writer_refuses_names_that_are_not_paths() {
    let mut out = Vec::new();
    let mut writer = ArchiveWriter::new(&mut out, options(1)).unwrap();
    let bad = object("v1", "ConfigMap", Some("a"), "../../escape");
    let err = writer
        .add(&item(("", "v1", "configmaps"), true, bad))
        .unwrap_err();
    assert!(matches!(err, ArchiveError::Layout(_)), "{err:?}");
    // The writer is still usable and the archive valid.
    writer
        .add(&item(
            ("", "v1", "configmaps"),
            true,
            object("v1", "ConfigMap", Some("a"), "fine"),
        ))
        .unwrap();
    let (summary, _, _) = writer.finish().unwrap();
    assert_eq!(summary.objects, 1);
    assert_eq!(read_all(&out).unwrap().len(), 2);
}

#[test]
fn archive_errors_convert_into_the_crate_error() {
    let err: crate::Error = ArchiveError::Truncated {
        position: "after entry x".into(),
    }
    .into();
    assert_eq!(
        err.to_string(),
        "the archive is truncated: it ends after entry x"
    );
}

fn arb_name() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9.:-]{0,20}"
        .prop_filter("not a dot name", |s| s != "." && s != "..")
        .prop_map(|s| s.to_string())
}

fn arb_item() -> impl Strategy<Value = ArchiveItem> {
    let gvr = prop_oneof![
        Just(("", "configmaps", "ConfigMap", true)),
        Just(("", "persistentvolumes", "PersistentVolume", false)),
        Just(("apps", "deployments", "Deployment", true)),
        Just(("networking.k8s.io", "ingresses", "Ingress", true)),
        Just(("example.com", "widgets", "Widget", false)),
    ];
    let version = prop_oneof![Just("v1"), Just("v1beta1"), Just("v2alpha3")];
    let data = proptest::collection::btree_map("[a-z]{1,8}", any::<String>(), 0..4);
    (
        gvr,
        version,
        any::<bool>(),
        arb_name(),
        arb_name(),
        data,
        any::<i64>(),
    )
        .prop_map(
            |((group, resource, kind, namespaced), version, preferred, ns, name, data, number)| {
                let api_version = if group.is_empty() {
                    version.to_string()
                } else {
                    format!("{group}/{version}")
                };
                let mut meta = json!({"name": name});
                if namespaced {
                    meta["namespace"] = json!(ns);
                }
                let obj = KubeObject::new(json!({"apiVersion": api_version, "kind": kind,
                "metadata": meta, "data": data, "spec": {"n": number, "list": [null, true, 1.5]}}))
                .unwrap();
                item((group, version, resource), preferred, obj)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn round_trip_gives_the_same_objects_placements_and_digests(
        items in proptest::collection::vec(arb_item(), 0..20),
        threads in 1usize..3,
    ) {
        let (bytes, summary) = write(&items, options(threads));
        let read: Vec<ArchiveEntry> = ArchiveReader::new(&bytes[..])
            .with_expected_digests(summary.entries.clone())
            .with_expected_tarball(summary.tarball_sha256.clone(), summary.tarball_size)
            .collect::<Result<_, _>>()
            .unwrap();
        let paths: Vec<String> = read.iter().map(|e| e.path.to_string()).collect();
        prop_assert_eq!(paths, expected_paths(&items));
        let mut expected_objects = Vec::new();
        for item in &items {
            expected_objects.push(&item.object);
            if item.placement.preferred {
                expected_objects.push(&item.object);
            }
        }
        let objects: Vec<&KubeObject> = read.iter().map(|e| &e.object).collect();
        prop_assert_eq!(objects, expected_objects);
        for entry in &read {
            if let Some(version) = entry.path.version_dir.version() {
                prop_assert_eq!(version, entry.object.group_version().version);
            }
            prop_assert_eq!(&entry.path.group, &entry.object.group_version().group);
        }
        let digests: Vec<EntryDigest> = read.into_iter().map(|e| e.digest).collect();
        prop_assert_eq!(&digests[..], &summary.entries[1..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = read_all(&bytes);
        // Also as the decompressed tar stream.
        let _ = read_all(&gzip(&bytes));
    }

    #[test]
    fn mutated_archives_never_panic_and_are_caught_by_the_digest(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let (bytes, summary) = write(&sample_items(), options(1));
        let mut tar = Vec::new();
        MultiGzDecoder::new(&bytes[..]).read_to_end(&mut tar).unwrap();
        // Corrupt the tar itself (so gzip is valid and the tar parser sees the damage).
        let mut bad_tar = tar.clone();
        for (index, mask) in &flips {
            let i = index.index(bad_tar.len());
            bad_tar[i] ^= mask;
        }
        let _ = read_all(&gzip(&bad_tar));
        // Again with every header checksum made valid, so the damaged fields are parsed.
        for block in bad_tar.chunks_exact_mut(512) {
            if block.iter().any(|&b| b != 0) {
                let mut header = tar::Header::new_old();
                header.as_mut_bytes().copy_from_slice(block);
                header.set_cksum();
                block.copy_from_slice(header.as_bytes());
            }
        }
        let _ = read_all(&gzip(&bad_tar));
        // Corrupt the compressed stream: with the tarball digest, always rejected.
        let mut bad = bytes.clone();
        let (index, mask) = &flips[0];
        let at = index.index(bad.len());
        bad[at] ^= mask;
        let result: Result<Vec<_>, _> = ArchiveReader::new(&bad[..])
            .with_expected_tarball(summary.tarball_sha256.clone(), summary.tarball_size)
            .collect();
        prop_assert!(result.is_err());
    }
}

#[test]
fn two_entries_at_one_path_are_each_verified_against_their_own_digest() {
    // A tar stream may hold two entries at one path (an object listed twice while it
    // changed): each occurrence is checked against its own recorded digest, in order.
    let widget = |n: i64| {
        let obj = KubeObject::new(
            json!({"apiVersion": "example.com/v1beta1", "kind": "Widget",
            "metadata": {"name": "7"}, "spec": {"n": n}}),
        )
        .unwrap();
        item(("example.com", "v1beta1", "widgets"), false, obj)
    };
    let items = vec![widget(1), widget(22)];
    let (bytes, summary) = write(&items, options(1));
    let read: Vec<ArchiveEntry> = ArchiveReader::new(&bytes[..])
        .with_expected_digests(summary.entries.clone())
        .collect::<Result<_, _>>()
        .unwrap();
    let numbers: Vec<Option<&Value>> = read.iter().map(|e| e.object.pointer("/spec/n")).collect();
    assert_eq!(numbers, [Some(&json!(1)), Some(&json!(22))]);

    // The second occurrence's digest swapped for the first's: the second entry fails.
    let mut forged = summary.entries.clone();
    forged[2] = forged[1].clone();
    let err = ArchiveReader::new(&bytes[..])
        .with_expected_digests(forged)
        .collect::<Result<Vec<_>, _>>()
        .unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Integrity(IntegrityError::EntryMismatch { path, .. })
            if path == "resources/widgets.example.com/v1beta1/cluster/7.json"),
        "{err:?}"
    );

    // One occurrence listed, two in the archive: the second is unexpected.
    let err = ArchiveReader::new(&bytes[..])
        .with_expected_digests(summary.entries[..2].to_vec())
        .collect::<Result<Vec<_>, _>>()
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ArchiveError::Integrity(IntegrityError::UnexpectedEntry { .. })
        ),
        "{err:?}"
    );
}
