//! What the commands print: text in the style of `velero … describe`, or JSON / YAML documents.

use std::fmt::Write as _;

use csdr::core::engine::{BackupReport, GcReport, RestoreReport};
use csdr::core::model::{Issue, JobStatus, duration_text};
use csdr::core::object::KubeObject;
use csdr::core::plan::PlanStep;
use csdr::core::vault_record::{
    BackupCompanions, BackupRecord, MessageGroups, RestoreEncryption, RestoreRecord,
};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::{CliError, Output};

/// Prints `value` as JSON or YAML, or `table` as it is.
pub fn print(
    output: Output,
    value: &Value,
    table: impl FnOnce() -> String,
) -> Result<(), CliError> {
    let text = match output {
        Output::Table => table(),
        Output::Json => {
            let mut s = serde_json::to_string_pretty(value)
                .map_err(|e| CliError::failed(format!("cannot write JSON: {e}")))?;
            s.push('\n');
            s
        }
        Output::Yaml => serde_yaml_ng::to_string(value)
            .map_err(|e| CliError::failed(format!("cannot write YAML: {e}")))?,
    };
    print!("{text}");
    Ok(())
}

/// A value as JSON, for documents built from serializable parts.
pub fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// An instant to the second, or `<none>`.
pub fn time(t: Option<Timestamp>) -> String {
    match t {
        Some(t) => t.round(jiff::Unit::Second).unwrap_or(t).to_string(),
        None => "<none>".into(),
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "<none>".into()
    } else {
        items.join(", ")
    }
}

fn issues(out: &mut String, title: &str, list: &[Issue]) {
    if list.is_empty() {
        let _ = writeln!(out, "{title}: <none>");
    } else {
        let _ = writeln!(out, "{title}:");
        for issue in list {
            let _ = writeln!(out, "  {issue}");
        }
    }
}

/// `Failure:` with the failure's kind, whether trying again may help, and its causes.
fn failure_lines(out: &mut String, status: &JobStatus, width: usize) {
    let Some(reason) = &status.failure_reason else {
        return;
    };
    let label = |l: &str| format!("{l}:{}", " ".repeat(width.saturating_sub(l.len() + 1)));
    let _ = writeln!(out, "{}{reason}", label("Failure"));
    if let Some(f) = &status.failure {
        let retry = if f.transient {
            "transient: running it again may succeed"
        } else {
            "not transient: it fails the same way until the cause is fixed"
        };
        let _ = writeln!(out, "{}{} ({retry})", label("  Kind"), f.kind);
        for cause in &f.causes {
            let _ = writeln!(out, "{}{cause}", label("  Caused by"));
        }
    }
}

fn status_lines(out: &mut String, status: &JobStatus) {
    let _ = writeln!(out, "Phase:       {}", status.phase);
    failure_lines(out, status, 13);
    let _ = writeln!(out, "Started:     {}", time(status.start_timestamp));
    let _ = writeln!(out, "Completed:   {}", time(status.completion_timestamp));
}

/// The JSON of a backup report.
pub fn backup_report_value(report: &BackupReport) -> Value {
    json!({
        "name": report.name,
        "status": to_value(&report.status),
        "resourceCounts": to_value(&report.resource_counts),
        "volumeSnapshots": to_value(&report.volume_snapshots),
        "archiveEntries": report.archive_entries,
        "archiveSha256": report.archive_sha256,
    })
}

/// The text of a backup report: phase, counts per kind, warnings, errors.
pub fn backup_report_table(report: &BackupReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Backup:      {}", report.name);
    status_lines(&mut out, &report.status);
    let _ = writeln!(out, "Expiration:  {}", time(report.status.expiration));
    let p = report.status.progress;
    let _ = writeln!(
        out,
        "Items:       {} of {} backed up",
        p.items_done, p.total_items
    );
    if let Some(sha) = &report.archive_sha256 {
        let _ = writeln!(
            out,
            "Archive:     {} entries, sha256 {sha}",
            report.archive_entries
        );
    }
    let _ = writeln!(out);
    resource_counts(
        &mut out,
        report.resource_counts.iter().map(|(k, n)| (k, *n)),
    );
    if !report.volume_snapshots.is_empty() {
        let _ = writeln!(out, "Volume snapshots:");
        for s in &report.volume_snapshots {
            let _ = writeln!(
                out,
                "  {}/{}: PVC {}/{}, handle {}",
                s.pvc_namespace, s.snapshot_name, s.pvc_namespace, s.pvc_name, s.snapshot_handle
            );
        }
    }
    issues(&mut out, "Warnings", &report.status.warnings);
    issues(&mut out, "Errors", &report.status.errors);
    out
}

fn resource_counts<'a>(out: &mut String, counts: impl Iterator<Item = (&'a String, u64)>) {
    let counts: Vec<(&String, u64)> = counts.collect();
    if counts.is_empty() {
        let _ = writeln!(out, "Resources: <none>");
        return;
    }
    let width = counts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let _ = writeln!(out, "Resources:");
    for (kind, n) in counts {
        let _ = writeln!(out, "  {kind:<width$}  {n}");
    }
}

/// One row of `backup list`.
pub fn backup_list_value(records: &[BackupRecord]) -> Value {
    Value::Array(
        records
            .iter()
            .map(|r| {
                json!({
                    "name": r.name(),
                    "spec": to_value(&r.spec),
                    "status": to_value(&r.status),
                    "created": r.created,
                    "resourceCounts": to_value(&r.resource_counts),
                })
            })
            .collect(),
    )
}

/// `backup list` as a table (Velero's `backup get` columns).
pub fn backup_list_table(records: &[BackupRecord], location: &str) -> String {
    let mut rows = vec![[
        "NAME".to_string(),
        "STATUS".into(),
        "ERRORS".into(),
        "WARNINGS".into(),
        "CREATED".into(),
        "EXPIRES".into(),
        "STORAGE LOCATION".into(),
        "SELECTOR".into(),
    ]];
    for r in records {
        rows.push([
            r.name().to_string(),
            r.status.phase.to_string(),
            r.status.errors.len().to_string(),
            r.status.warnings.len().to_string(),
            time(Some(r.created)),
            time(r.status.expiration),
            r.spec
                .storage_location
                .clone()
                .unwrap_or_else(|| location.to_string()),
            r.spec
                .scope
                .label_selector
                .clone()
                .unwrap_or_else(|| "<none>".into()),
        ]);
    }
    table(&rows)
}

/// Aligns rows into columns.
pub fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}   ", width = widths[i]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// `backup describe` as JSON: the record and, with details, the companions.
pub fn backup_describe_value(
    record: &BackupRecord,
    companions: Option<&BackupCompanions>,
) -> Value {
    let mut v = json!({
        "name": record.name(),
        "spec": to_value(&record.spec),
        "status": to_value(&record.status),
        "created": record.created,
        "formatVersion": record.format_version,
        "archive": to_value(&record.archive),
        "resourceCounts": to_value(&record.resource_counts),
    });
    // How the backup is encrypted (E2): the key's kind and public id, never the wrapped key.
    if let Some(e) = &record.encryption {
        v["encryption"] = json!({
            "algorithm": e.algorithm,
            "keyKind": e.key_kind.to_string(),
            "keyId": e.key_id,
        });
    }
    if let Some(c) = companions {
        v["resourceList"] = to_value(&c.resource_list);
        v["csiVolumeSnapshots"] = to_value(&c.csi_volume_snapshots);
        v["csiVolumeSnapshotContents"] = to_value(&c.csi_volume_snapshot_contents);
        if !c.pod_volume_backups.is_empty() {
            v["podVolumeBackups"] = to_value(&c.pod_volume_backups);
        }
        v["results"] = to_value(&c.results);
    }
    v
}

fn groups(out: &mut String, title: &str, g: &MessageGroups) {
    let _ = writeln!(out, "{title}:");
    let _ = writeln!(
        out,
        "  Velero:     {}",
        if g.velero.is_empty() { "<none>" } else { "" }
    );
    for m in &g.velero {
        let _ = writeln!(out, "    {m}");
    }
    let _ = writeln!(
        out,
        "  Cluster:    {}",
        if g.cluster.is_empty() { "<none>" } else { "" }
    );
    for m in &g.cluster {
        let _ = writeln!(out, "    {m}");
    }
    let _ = writeln!(
        out,
        "  Namespaces: {}",
        if g.namespaces.is_empty() {
            "<none>"
        } else {
            ""
        }
    );
    for (ns, ms) in &g.namespaces {
        let _ = writeln!(out, "    {ns}:");
        for m in ms {
            let _ = writeln!(out, "      {m}");
        }
    }
}

/// `backup describe [--details]` as text, like `velero backup describe [--details]`.
pub fn backup_describe_table(
    record: &BackupRecord,
    companions: Option<&BackupCompanions>,
    location: &str,
    url: &str,
) -> String {
    let spec = &record.spec;
    let st = &record.status;
    let mut out = String::new();
    let _ = writeln!(out, "Name:         {}", record.name());
    let _ = writeln!(out, "Phase:        {}", st.phase);
    failure_lines(&mut out, st, 14);
    let _ = writeln!(out, "Errors:       {}", st.errors.len());
    let _ = writeln!(out, "Warnings:     {}", st.warnings.len());
    match &record.encryption {
        None => {
            let _ = writeln!(out, "Encryption:   none (client-side)");
        }
        Some(e) => {
            let _ = writeln!(out, "Encryption:   {} key {}", e.key_kind, e.key_id);
            let _ = writeln!(out, "  Algorithm:  {}", e.algorithm);
        }
    }
    if !record.is_restorable() {
        let _ = writeln!(
            out,
            "Restorable:   no (only Completed and PartiallyFailed backups are restored)"
        );
        let _ = writeln!(
            out,
            "Logs:         csdr backup logs {} --vault {url}",
            record.name()
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Namespaces:");
    let included = if spec.scope.included_namespaces.is_empty() {
        "*".to_string()
    } else {
        spec.scope.included_namespaces.join(", ")
    };
    let _ = writeln!(out, "  Included:  {included}");
    let _ = writeln!(
        out,
        "  Excluded:  {}",
        list(&spec.scope.excluded_namespaces)
    );
    let _ = writeln!(out);
    write_resource_filter(
        &mut out,
        &spec.scope.included_resources,
        &spec.scope.excluded_resources,
    );
    let cluster = match spec.scope.include_cluster_resources {
        None => "auto",
        Some(true) => "included",
        Some(false) => "excluded",
    };
    let _ = writeln!(out, "  Cluster-scoped:  {cluster}");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Label selector:  {}",
        spec.scope.label_selector.as_deref().unwrap_or("<none>")
    );
    let _ = writeln!(
        out,
        "Storage Location:  {}",
        spec.storage_location.as_deref().unwrap_or(location)
    );
    let _ = writeln!(out, "Snapshot PVs:  {}", spec.backup_volumes);
    let _ = writeln!(out, "TTL:  {}", duration_text::format(&spec.ttl));
    let _ = writeln!(out);
    let _ = writeln!(out, "Backup Format Version:  {}", record.format_version);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Started:    {}",
        time(st.start_timestamp.or(Some(record.created)))
    );
    let _ = writeln!(out, "Completed:  {}", time(st.completion_timestamp));
    let _ = writeln!(out);
    let _ = writeln!(out, "Expiration:  {}", time(st.expiration));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Total items to be backed up:  {}",
        st.progress.total_items
    );
    let _ = writeln!(
        out,
        "Items backed up:              {}",
        st.progress.items_done
    );
    let _ = writeln!(out);
    match companions {
        None if !record.is_restorable() => {
            resource_counts(
                &mut out,
                record.resource_counts.iter().map(|(k, n)| (k, *n)),
            );
            let _ = writeln!(out);
            issues(&mut out, "Errors", &st.errors);
            issues(&mut out, "Warnings", &st.warnings);
        }
        None => {
            resource_counts(
                &mut out,
                record.resource_counts.iter().map(|(k, n)| (k, *n)),
            );
            let _ = writeln!(out);
            let _ = writeln!(out, "Resource List:  <use --details for more information>");
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "CSI Volume Snapshots:  <use --details for more information>"
            );
        }
        Some(c) => {
            if c.resource_list.is_empty() {
                let _ = writeln!(out, "Resource List:  <none>");
            } else {
                let _ = writeln!(out, "Resource List:");
                for (kind, names) in &c.resource_list {
                    let _ = writeln!(out, "  {kind}:");
                    for name in names {
                        let _ = writeln!(out, "    - {name}");
                    }
                }
            }
            let _ = writeln!(out);
            if c.csi_volume_snapshots.is_empty() {
                let _ = writeln!(out, "CSI Volume Snapshots:  <none included>");
            } else {
                let _ = writeln!(out, "CSI Volume Snapshots:");
                for vs in &c.csi_volume_snapshots {
                    snapshot_lines(&mut out, vs, &c.csi_volume_snapshot_contents);
                }
            }
            if !c.pod_volume_backups.is_empty() {
                let _ = writeln!(out);
                pod_volume_lines(&mut out, c);
            }
            let _ = writeln!(out);
            groups(&mut out, "Errors", &c.results.errors);
            let _ = writeln!(out);
            groups(&mut out, "Warnings", &c.results.warnings);
        }
    }
    out
}

fn str_at<'a>(obj: &'a KubeObject, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("<unknown>")
}

/// The file-system volume backups of `backup describe --details` (D3), one block per volume.
fn pod_volume_lines(out: &mut String, c: &BackupCompanions) {
    let records = match csdr::core::engine::recorded_pod_volume_backups(c) {
        Ok(records) => records,
        Err(e) => {
            let _ = writeln!(out, "Pod Volume Backups:  <unreadable: {e}>");
            return;
        }
    };
    let _ = writeln!(out, "Pod Volume Backups:");
    for r in &records {
        let claim = if r.pvc_name.is_empty() {
            "<unknown>".to_string()
        } else {
            r.claim()
        };
        let _ = writeln!(out, "  {claim}:");
        let _ = writeln!(
            out,
            "    Pod:          {}/{} (volume {})",
            r.pod_namespace, r.pod_name, r.pod_volume
        );
        let _ = writeln!(out, "    Node:         {}", r.node);
        let _ = writeln!(
            out,
            "    Snapshot ID:  {}",
            if r.snapshot_id.is_empty() {
                "<none>"
            } else {
                &r.snapshot_id
            }
        );
        let _ = writeln!(out, "    Bytes:        {}", r.bytes);
        let _ = writeln!(out, "    Files:        {}", r.files);
        let _ = writeln!(out, "    Duration:     {} ms", r.duration_ms);
        let _ = writeln!(out, "    Phase:        {}", r.phase.as_str());
        if !r.message.is_empty() {
            let _ = writeln!(out, "    Message:      {}", r.message);
        }
    }
}

fn snapshot_lines(out: &mut String, vs: &KubeObject, contents: &[KubeObject]) {
    let content_name = str_at(vs, "/status/boundVolumeSnapshotContentName");
    let _ = writeln!(
        out,
        "  {}/{}:",
        vs.namespace().unwrap_or("<none>"),
        vs.name()
    );
    let _ = writeln!(
        out,
        "    PVC:                    {}",
        str_at(vs, "/spec/source/persistentVolumeClaimName")
    );
    let _ = writeln!(
        out,
        "    Snapshot Class:         {}",
        str_at(vs, "/spec/volumeSnapshotClassName")
    );
    let _ = writeln!(out, "    Snapshot Content Name:  {content_name}");
    if let Some(content) = contents.iter().find(|c| c.name() == content_name) {
        let _ = writeln!(
            out,
            "    Driver:                 {}",
            str_at(content, "/spec/driver")
        );
        let _ = writeln!(
            out,
            "    Storage Snapshot ID:    {}",
            str_at(content, "/status/snapshotHandle")
        );
        let _ = writeln!(
            out,
            "    Source Volume:          {}",
            content
                .annotation("csdr.io/source-pv")
                .unwrap_or("<unknown>")
        );
        let policy = str_at(content, "/spec/deletionPolicy");
        let _ = writeln!(out, "    Deletion Policy:        {policy}");
        let state = match (
            policy,
            content
                .pointer("/status/readyToUse")
                .and_then(Value::as_bool),
        ) {
            ("Retain", Some(true)) => {
                "Retained (survives its VolumeSnapshot, namespace and cluster until the backup is deleted)"
            }
            (_, Some(true)) => "Ready (deleted with its VolumeSnapshot)",
            _ => "Not ready",
        };
        let _ = writeln!(out, "    State:                  {state}");
    }
    let _ = writeln!(
        out,
        "    Restore Size:           {}",
        str_at(vs, "/status/restoreSize")
    );
    let ready = vs
        .pointer("/status/readyToUse")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let _ = writeln!(out, "    Ready to use:           {ready}");
}

/// The `--dry-run -o json` document: `{"plan", "objects", "warnings", "errors"}`. Plan
/// entries name their object; the objects themselves are in `objects`, exactly as they would
/// be created.
pub fn dry_run_value(report: &RestoreReport) -> Value {
    let plan: Vec<Value> = report
        .plan
        .steps
        .iter()
        .map(|step| {
            let mut v = to_value(step);
            if let (PlanStep::Create(c), Some(map)) = (step, v.as_object_mut()) {
                map.insert(
                    "object".into(),
                    json!({
                        "apiVersion": c.object.api_version(),
                        "kind": c.object.kind(),
                        "namespace": c.object.namespace(),
                        "name": c.object.name(),
                    }),
                );
            }
            v
        })
        .collect();
    let mut errors: Vec<Value> = report.status.errors.iter().map(to_value).collect();
    if let Some(reason) = &report.status.failure_reason {
        errors.push(json!({ "message": reason }));
    }
    let mut out = json!({
        "plan": plan,
        "objects": report.objects().map(KubeObject::to_value).collect::<Vec<_>>(),
        "warnings": to_value(&report.status.warnings),
        "errors": errors,
    });
    if let (Some(pre), Some(map)) = (&report.preflight, out.as_object_mut()) {
        map.insert("preflight".into(), to_value(pre));
    }
    out
}

/// A restore report (or dry-run plan) as text.
pub fn restore_report_table(report: &RestoreReport) -> String {
    let mut out = String::new();
    let dry = if report.dry_run { " (dry run)" } else { "" };
    let _ = writeln!(out, "Restore:     {}{dry}", report.name);
    let _ = writeln!(out, "Backup:      {}", report.backup_name);
    status_lines(&mut out, &report.status);
    let _ = writeln!(out);
    if report.dry_run {
        let _ = writeln!(out, "Plan:");
        let mut n = 0;
        for step in &report.plan.steps {
            n += 1;
            match step {
                PlanStep::Create(c) => {
                    let how = match &c.version {
                        Some(v) if !v.migrations.is_empty() => format!(
                            " (from {} by {})",
                            v.backed_up.api_version(),
                            v.migrations.join(", ")
                        ),
                        _ => String::new(),
                    };
                    let _ = writeln!(
                        out,
                        "  {n:>3}. create {} at {}{how}",
                        c.object.describe(),
                        c.object.api_version()
                    );
                }
                PlanStep::CreateSpooled(c) => {
                    let _ = writeln!(
                        out,
                        "  {n:>3}. create {} at {}",
                        c.object.describe(),
                        c.object.api_version()
                    );
                }
                PlanStep::WaitEstablished { crd } => {
                    let _ = writeln!(out, "  {n:>3}. wait until CRD {crd} is Established");
                }
                PlanStep::RefreshDiscovery => {
                    let _ = writeln!(out, "  {n:>3}. refresh discovery");
                }
            }
        }
        if !report.plan.skipped.is_empty() {
            let _ = writeln!(out, "Skipped:");
            for (object, reason) in &report.plan.skipped {
                let _ = writeln!(out, "  {object}: {reason}");
            }
        }
    } else {
        let _ = writeln!(
            out,
            "Items:       {} of {} restored",
            report.status.progress.items_done, report.status.progress.total_items
        );
        let _ = writeln!(out, "Created:     {}", report.counts.created);
        let _ = writeln!(out, "Existing:    {}", report.counts.existing);
        let _ = writeln!(out, "Patched:     {}", report.counts.patched);
    }
    if let Some(pre) = &report.preflight {
        let _ = writeln!(
            out,
            "Pre-flight:  {} accepted, {} existing, {} rejected by the target (dryRun=All)",
            pre.accepted,
            pre.existing,
            pre.rejected.len()
        );
        for (reason, count) in &pre.deferred {
            let when = if pre.deferred_checked {
                "checked once it existed, before any of them was written"
            } else {
                "not checked"
            };
            let _ = writeln!(out, "  {count} objects {when}: {reason}");
        }
    }
    issues(&mut out, "Warnings", &report.status.warnings);
    issues(&mut out, "Errors", &report.status.errors);
    out
}

/// `restore describe` as JSON.
pub fn restore_describe_value(record: &RestoreRecord) -> Value {
    let mut v = json!({
        "name": record.name(),
        "spec": to_value(&record.spec),
        "status": to_value(&record.status),
        "created": record.created,
    });
    // How the restore's record is sealed (E2): the key's kind and public id, and whether the
    // details could be read; without the key only the listing fields are shown.
    if let Some(e) = &record.encryption {
        v["encryption"] = json!({
            "keyKind": e.record.key_kind.to_string(),
            "keyId": e.record.key_id,
            "detailsReadable": e.opened,
        });
        if !e.opened {
            v["details"] = json!(e.sealed_message());
        }
    }
    v
}

/// The lines of `restore describe` for a sealed record read without its key: the listing
/// fields and which key seals the rest.
fn restore_sealed_table(record: &RestoreRecord, sealing: &RestoreEncryption) -> String {
    let st = &record.status;
    let mut out = String::new();
    let _ = writeln!(out, "Name:         {}", record.name());
    let _ = writeln!(out, "Phase:        {}", st.phase);
    let _ = writeln!(out, "Started:      {}", time(st.start_timestamp));
    let _ = writeln!(out, "Completed:    {}", time(st.completion_timestamp));
    let _ = writeln!(out, "Backup:       {}", record.spec.backup_name);
    let _ = writeln!(
        out,
        "Encryption:   {} key {}",
        sealing.record.key_kind, sealing.record.key_id
    );
    let hint = match sealing.record.key_kind {
        csdr::core::crypto::KeyKind::Age => "--decryption-key-file <age identity file>",
        _ => "--decryption-key kms://<key>",
    };
    let _ = writeln!(out, "Details:      {} ({hint})", sealing.sealed_message());
    out
}

/// `restore describe` as text, like `velero restore describe`.
pub fn restore_describe_table(record: &RestoreRecord) -> String {
    if let Some(sealing) = record.encryption.as_ref().filter(|e| !e.opened) {
        return restore_sealed_table(record, sealing);
    }
    let spec = &record.spec;
    let st = &record.status;
    let mut out = String::new();
    let _ = writeln!(out, "Name:         {}", record.name());
    let _ = writeln!(out, "Phase:        {}", st.phase);
    failure_lines(&mut out, st, 14);
    let _ = writeln!(
        out,
        "Total items to be restored:  {}",
        st.progress.total_items
    );
    let _ = writeln!(
        out,
        "Items restored:              {}",
        st.progress.items_done
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Started:    {}", time(st.start_timestamp));
    let _ = writeln!(out, "Completed:  {}", time(st.completion_timestamp));
    let _ = writeln!(out);
    let _ = writeln!(out, "Backup:  {}", spec.backup_name);
    let _ = writeln!(out);
    let _ = writeln!(out, "Namespaces:");
    let included = if spec.scope.included_namespaces.is_empty() {
        "all namespaces found in the backup".to_string()
    } else {
        spec.scope.included_namespaces.join(", ")
    };
    let _ = writeln!(out, "  Included:  {included}");
    let _ = writeln!(
        out,
        "  Excluded:  {}",
        list(&spec.scope.excluded_namespaces)
    );
    let _ = writeln!(out);
    write_resource_filter(
        &mut out,
        &spec.scope.included_resources,
        &spec.scope.excluded_resources,
    );
    let _ = writeln!(out);
    let mapping = |m: &std::collections::BTreeMap<String, String>, sep: &str| {
        if m.is_empty() {
            "<none>".to_string()
        } else {
            m.iter()
                .map(|(a, b)| format!("{a}{sep}{b}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let _ = writeln!(
        out,
        "Namespace mappings:       {}",
        mapping(&spec.namespace_mapping, ":")
    );
    let _ = writeln!(
        out,
        "Image registry mappings:  {}",
        mapping(&spec.image_registry_mapping, "=")
    );
    let _ = writeln!(
        out,
        "Change-image cases:       {}",
        list(&spec.change_image_cases)
    );
    let _ = writeln!(
        out,
        "StorageClass mappings:    {}",
        mapping(&spec.storage_class_mapping, "=")
    );
    let _ = writeln!(
        out,
        "Existing resource policy: {}",
        match spec.existing_resource_policy {
            csdr::core::model::ExistingResourcePolicy::None => "none",
            csdr::core::model::ExistingResourcePolicy::Update => "update",
        }
    );
    let _ = writeln!(
        out,
        "Preserve node ports:      {}",
        spec.preserve_node_ports
    );
    let _ = writeln!(out);
    issues(&mut out, "Warnings", &st.warnings);
    let _ = writeln!(out);
    issues(&mut out, "Errors", &st.errors);
    out
}

/// `gc` as JSON.
pub fn gc_value(report: &GcReport) -> Value {
    json!({
        "expired": report.expired,
        "failed": report.failed.iter().map(|(n, r)| json!({"name": n, "reason": r})).collect::<Vec<_>>(),
        "orphans": {
            "removed": report.orphans.removed,
            "finishedCommits": report.orphans.finished_commits,
            "finishedDeletions": report.orphans.finished_deletions,
        },
        "volumeSnapshotsDeleted": report.snapshots_deleted,
        "volumeSnapshotsLeft": report.snapshots_left,
        "volumePodsDeleted": report.volume_pods_deleted,
    })
}

/// `gc` as text.
pub fn gc_table(report: &GcReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Expired backups deleted:  {}", list(&report.expired));
    for (name, reason) in &report.failed {
        let _ = writeln!(out, "Could not delete {name}: {reason}");
    }
    let _ = writeln!(
        out,
        "Unfinished deletions finished:  {}",
        list(&report.orphans.finished_deletions)
    );
    let _ = writeln!(
        out,
        "Unfinished commits finished:    {}",
        list(&report.orphans.finished_commits)
    );
    let _ = writeln!(
        out,
        "Orphaned objects removed:       {}",
        report.orphans.removed.len()
    );
    for s in &report.snapshots_deleted {
        let _ = writeln!(out, "Deleted {s}");
    }
    for p in &report.volume_pods_deleted {
        let _ = writeln!(out, "Deleted left-over volume pod {p}");
    }
    if !report.snapshots_left.is_empty() {
        let _ = writeln!(
            out,
            "Volume snapshots left in the cluster (their data is kept; pass --cluster to delete them):"
        );
        for s in &report.snapshots_left {
            let _ = writeln!(out, "  {s}");
        }
    }
    out
}

/// The `Resources:` block of `backup describe` and `restore describe`.
fn write_resource_filter(out: &mut String, included: &[String], excluded: &[String]) {
    let _ = writeln!(out, "Resources:");
    let included = if included.is_empty() {
        "*".to_string()
    } else {
        included.join(", ")
    };
    let _ = writeln!(out, "  Included:        {included}");
    let _ = writeln!(out, "  Excluded:        {}", list(excluded));
}
