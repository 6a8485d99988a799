#!/usr/bin/env python3
"""Regenerates the Kubernetes protobuf tables the API simulator decodes request bodies with.

Writes, beside this script:
  kubernetes.desc.gz  a FileDescriptorSet (gzip) compiled from the official `generated.proto`
                      of every group version the simulated releases serve, each taken from the
                      newest release that serves it (fields are only ever added, so that
                      version reads every body any served release accepts);
  go-fields.tsv.gz    for every field of those messages, how Go's encoding/json writes it (the
                      JSON name, pointer, omitempty, inline), read from the `json:` and
                      `protobuf:` tags of the same packages' Go types (gzip, tab-separated:
                      message, field number, JSON name, flags `p`ointer `o`mitempty `i`nline
                      `s`lice-or-map).

Needs git mirrors of kubernetes/api, apimachinery, apiextensions-apiserver and kube-aggregator
(paths in the arguments) and `grpcio-tools` from PyPI (it ships protoc):
    python3 -m venv venv && venv/bin/pip install grpcio-tools
    venv/bin/python generate.py API APIMACHINERY APIEXTENSIONS AGGREGATOR
"""
import gzip, os, re, subprocess, sys, tempfile

API, MACHINERY, EXTENSIONS, AGGREGATOR = sys.argv[1:5]
LATEST = "v0.32.13"  # Kubernetes 1.32, the newest release the simulator serves
# (repository, tag, directory, Go import path); the tag is the newest release serving that
# group version (see csdr-core/src/releases/table.rs).
PACKAGES = [
    (MACHINERY, LATEST, "pkg/apis/meta/v1", "k8s.io/apimachinery/pkg/apis/meta/v1"),
    (MACHINERY, LATEST, "pkg/runtime", "k8s.io/apimachinery/pkg/runtime"),
    (MACHINERY, LATEST, "pkg/runtime/schema", "k8s.io/apimachinery/pkg/runtime/schema"),
    (MACHINERY, LATEST, "pkg/util/intstr", "k8s.io/apimachinery/pkg/util/intstr"),
    (MACHINERY, LATEST, "pkg/api/resource", "k8s.io/apimachinery/pkg/api/resource"),
    (EXTENSIONS, LATEST, "pkg/apis/apiextensions/v1", "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"),
    (EXTENSIONS, "v0.21.14", "pkg/apis/apiextensions/v1beta1", "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"),
    (AGGREGATOR, LATEST, "pkg/apis/apiregistration/v1", "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"),
    (AGGREGATOR, "v0.21.14", "pkg/apis/apiregistration/v1beta1", "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1beta1"),
]
for gv, tag in [
    ("core/v1", LATEST),
    ("apps/v1", LATEST), ("apps/v1beta1", "v0.16.15"), ("apps/v1beta2", "v0.16.15"),
    ("events/v1", LATEST), ("events/v1beta1", "v0.24.17"),
    ("authentication/v1", LATEST), ("authentication/v1beta1", LATEST),
    ("authorization/v1", LATEST), ("authorization/v1beta1", "v0.21.14"),
    ("autoscaling/v1", LATEST), ("autoscaling/v2", LATEST),
    ("autoscaling/v2beta2", "v0.25.16"), ("autoscaling/v2beta1", "v0.24.17"),
    ("batch/v1", LATEST), ("batch/v1beta1", "v0.24.17"),
    ("certificates/v1", LATEST), ("certificates/v1beta1", "v0.21.14"),
    ("networking/v1", LATEST), ("networking/v1beta1", "v0.21.14"),
    ("extensions/v1beta1", "v0.21.14"),
    ("policy/v1", LATEST), ("policy/v1beta1", "v0.24.17"),
    ("rbac/v1", LATEST), ("rbac/v1beta1", "v0.21.14"),
    ("storage/v1", LATEST), ("storage/v1beta1", "v0.26.15"),
    ("admissionregistration/v1", LATEST), ("admissionregistration/v1beta1", "v0.21.14"),
    ("scheduling/v1", LATEST), ("scheduling/v1beta1", "v0.21.14"),
    ("coordination/v1", LATEST), ("coordination/v1beta1", "v0.21.14"),
    ("node/v1", LATEST), ("node/v1beta1", "v0.24.17"),
    ("discovery/v1", LATEST), ("discovery/v1beta1", "v0.24.17"),
    ("flowcontrol/v1", LATEST), ("flowcontrol/v1beta3", "v0.31.14"),
    ("flowcontrol/v1beta2", "v0.28.15"), ("flowcontrol/v1beta1", "v0.25.16"),
]:
    PACKAGES.append((API, tag, gv, "k8s.io/api/" + gv))


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True).stdout


STRUCT = re.compile(r"^type (\w+) struct \{\s*$")
FIELD = re.compile(r"^\s+(?:(\w+)\s+)?(\S+)\s+`(.*)`\s*(?://.*)?$")
TAG = re.compile(r'(\w+):"([^"]*)"')


def go_fields(source, message_prefix, rows):
    current = None
    for line in source.splitlines():
        if current is None:
            m = STRUCT.match(line)
            if m:
                current = message_prefix + m.group(1)
            continue
        if line.startswith("}"):
            current = None
            continue
        m = FIELD.match(line)
        if not m:
            continue
        tags = dict(TAG.findall(m.group(3)))
        proto, js = tags.get("protobuf"), tags.get("json")
        if not proto or proto == "-" or js is None or js == "-":
            continue
        number = proto.split(",")[1]
        parts = js.split(",")
        name = parts[0]
        go_type = m.group(2)
        flags = ""
        if go_type.startswith("*"):
            flags += "p"
        if "omitempty" in parts[1:]:
            flags += "o"
        if "inline" in parts[1:]:
            flags += "i"
        if go_type.startswith("[]") or go_type.startswith("map["):
            flags += "s"
        rows.append(f"{current}\t{number}\t{name}\t{flags}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    rows = []
    with tempfile.TemporaryDirectory() as tree:
        protos = []
        for repo, tag, directory, go_path in PACKAGES:
            prefix = go_path.replace("/", ".").replace("-", "_") + "."
            names = git(repo, "ls-tree", "--name-only", f"{tag}:{directory}").decode().split()
            for name in sorted(names):
                if (not name.endswith(".go") or name.endswith("_test.go")
                        or name.startswith("zz_generated") or name.endswith(".pb.go")):
                    continue
                go_fields(git(repo, "show", f"{tag}:{directory}/{name}").decode(), prefix, rows)
            if "generated.proto" not in names:
                continue
            text = git(repo, "show", f"{tag}:{directory}/generated.proto").decode()
            target = os.path.join(tree, go_path, "generated.proto")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as f:
                f.write(text)
            protos.append(os.path.join(go_path, "generated.proto"))
        out = os.path.join(tree, "set.desc")
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", tree,
                        f"--descriptor_set_out={out}", "--include_imports", *protos], check=True, capture_output=True)
        with open(out, "rb") as f, gzip.GzipFile(os.path.join(here, "kubernetes.desc.gz"), "wb", mtime=0) as g:
            g.write(f.read())
    with gzip.GzipFile(os.path.join(here, "go-fields.tsv.gz"), "wb", mtime=0) as g:
        g.write(("\n".join(rows) + "\n").encode())


main()
