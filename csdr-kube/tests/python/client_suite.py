"""The official Kubernetes Python client (`kubernetes` on PyPI) against csdr's API simulator.

Run by `csdr-kube/tests/python_client.rs`, which starts an `ApiServer` and passes:

- `KUBECONFIG`: a kubeconfig whose current context points at the server;
- `CSDR_RELEASE`: the simulated Kubernetes release (`1.16`, `1.28`, ...).

Every test uses the typed or dynamic APIs as an application would and asserts the objects
the server answers, not only that a call returned.
"""

import base64
import json
import os
import tempfile
import threading
import time
import unittest
import uuid

from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

RELEASE = os.environ.get("CSDR_RELEASE", "unknown")


def api_client():
    return config.new_client_from_config(config_file=os.environ["KUBECONFIG"])


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def status_reason(error):
    """The `reason` of the Status object in an ApiException's body."""
    return json.loads(error.body)["reason"]


class ClientSuite(unittest.TestCase):
    def setUp(self):
        self.api = api_client()
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.ns = unique("py")
        created = self.core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=self.ns, labels={"suite": "python"}))
        )
        self.assertEqual(created.metadata.name, self.ns)

    def tearDown(self):
        try:
            self.core.delete_namespace(self.ns)
        except ApiException as e:
            if e.status != 404:
                raise
        self.api.close()

    # --- Namespace -----------------------------------------------------------------------

    def test_namespace_create_read_list_patch_replace_delete(self):
        name = unique("ns")
        ns = self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        self.assertEqual(ns.metadata.name, name)
        self.assertTrue(ns.metadata.uid)
        self.assertTrue(ns.metadata.resource_version)
        self.assertIsNotNone(ns.metadata.creation_timestamp)

        read = self.core.read_namespace(name)
        self.assertEqual(read.metadata.uid, ns.metadata.uid)
        self.assertEqual(read.status.phase, "Active")

        names = [n.metadata.name for n in self.core.list_namespace().items]
        self.assertIn(name, names)
        self.assertIn("default", names)

        patched = self.core.patch_namespace(name, {"metadata": {"labels": {"team": "shop"}}})
        self.assertEqual(patched.metadata.labels["team"], "shop")

        patched.metadata.annotations = {"owner": "ops"}
        replaced = self.core.replace_namespace(name, patched)
        self.assertEqual(replaced.metadata.annotations, {"owner": "ops"})
        self.assertEqual(replaced.metadata.labels["team"], "shop")
        self.assertNotEqual(replaced.metadata.resource_version, patched.metadata.resource_version)

        self.core.delete_namespace(name)

        def gone():
            try:
                self.core.read_namespace(name)
                return False
            except ApiException as e:
                self.assertEqual(e.status, 404)
                return True

        wait_until(gone, f"namespace {name} to be deleted")

    # --- ConfigMap -----------------------------------------------------------------------

    def test_configmap_create_read_patch_replace_delete(self):
        body = client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="settings", labels={"app": "web"}),
            data={"mode": "fast", "level": "3"},
        )
        created = self.core.create_namespaced_config_map(self.ns, body)
        self.assertEqual(created.metadata.namespace, self.ns)
        self.assertEqual(created.data, {"mode": "fast", "level": "3"})

        read = self.core.read_namespaced_config_map("settings", self.ns)
        self.assertEqual(read.data["mode"], "fast")
        self.assertEqual(read.metadata.labels, {"app": "web"})

        # A dict body is sent as a strategic merge patch.
        patched = self.core.patch_namespaced_config_map("settings", self.ns, {"data": {"mode": "slow"}})
        self.assertEqual(patched.data, {"mode": "slow", "level": "3"})
        # A list body is sent as a JSON patch.
        patched = self.core.patch_namespaced_config_map(
            "settings", self.ns, [{"op": "remove", "path": "/data/level"}]
        )
        self.assertEqual(patched.data, {"mode": "slow"})

        patched.data = {"replaced": "yes"}
        replaced = self.core.replace_namespaced_config_map("settings", self.ns, patched)
        self.assertEqual(replaced.data, {"replaced": "yes"})

        self.core.delete_namespaced_config_map("settings", self.ns)
        with self.assertRaises(ApiException) as missing:
            self.core.read_namespaced_config_map("settings", self.ns)
        self.assertEqual(missing.exception.status, 404)

    def test_secret_create_read_patch_delete(self):
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name="db"),
            type="Opaque",
            data={"password": base64.b64encode(b"s3cret").decode()},
        )
        created = self.core.create_namespaced_secret(self.ns, body)
        self.assertEqual(created.type, "Opaque")
        read = self.core.read_namespaced_secret("db", self.ns)
        self.assertEqual(base64.b64decode(read.data["password"]), b"s3cret")
        patched = self.core.patch_namespaced_secret(
            "db", self.ns, {"data": {"user": base64.b64encode(b"app").decode()}}
        )
        self.assertEqual(sorted(patched.data), ["password", "user"])
        self.assertEqual(
            [s.metadata.name for s in self.core.list_namespaced_secret(self.ns).items if s.metadata.name == "db"],
            ["db"],
        )
        self.core.delete_namespaced_secret("db", self.ns)
        with self.assertRaises(ApiException) as missing:
            self.core.read_namespaced_secret("db", self.ns)
        self.assertEqual(missing.exception.status, 404)

    # --- Deployment (apps/v1) ------------------------------------------------------------

    def deployment(self, name, replicas=2, image="nginx:1.25"):
        labels = {"app": name}
        return client.V1Deployment(
            api_version="apps/v1",
            kind="Deployment",
            metadata=client.V1ObjectMeta(name=name, labels=labels),
            spec=client.V1DeploymentSpec(
                replicas=replicas,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        containers=[
                            client.V1Container(
                                name="web",
                                image=image,
                                ports=[client.V1ContainerPort(container_port=80)],
                            )
                        ]
                    ),
                ),
            ),
        )

    def test_deployment_create_read_list_patch_replace_delete(self):
        created = self.apps.create_namespaced_deployment(self.ns, self.deployment("web"))
        self.assertEqual(created.spec.replicas, 2)
        self.assertEqual(created.spec.selector.match_labels, {"app": "web"})
        self.assertEqual(created.spec.template.spec.containers[0].image, "nginx:1.25")

        read = self.apps.read_namespaced_deployment("web", self.ns)
        self.assertEqual(read.metadata.uid, created.metadata.uid)
        self.assertEqual(read.spec.template.spec.containers[0].ports[0].container_port, 80)

        listed = self.apps.list_namespaced_deployment(self.ns, label_selector="app=web")
        self.assertEqual([d.metadata.name for d in listed.items], ["web"])
        everywhere = self.apps.list_deployment_for_all_namespaces(label_selector="app=web")
        self.assertIn((self.ns, "web"), [(d.metadata.namespace, d.metadata.name) for d in everywhere.items])

        patched = self.apps.patch_namespaced_deployment("web", self.ns, {"spec": {"replicas": 3}})
        self.assertEqual(patched.spec.replicas, 3)
        # The strategic merge keys containers by name: only the image changes.
        patched = self.apps.patch_namespaced_deployment(
            "web",
            self.ns,
            {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}},
        )
        containers = patched.spec.template.spec.containers
        self.assertEqual([(c.name, c.image) for c in containers], [("web", "nginx:1.27")])
        self.assertEqual(containers[0].ports[0].container_port, 80)

        patched.spec.replicas = 5
        replaced = self.apps.replace_namespaced_deployment("web", self.ns, patched)
        self.assertEqual(replaced.spec.replicas, 5)
        self.assertEqual(self.apps.read_namespaced_deployment("web", self.ns).spec.replicas, 5)

        self.apps.delete_namespaced_deployment("web", self.ns)
        wait_until(
            lambda: self.apps.list_namespaced_deployment(self.ns).items == [],
            "the deployment to be deleted",
        )

    # --- Lists: label selectors and pagination -------------------------------------------

    def test_list_with_label_selector_and_pagination(self):
        for i in range(7):
            tier = "front" if i % 2 == 0 else "back"
            self.core.create_namespaced_config_map(
                self.ns,
                client.V1ConfigMap(
                    metadata=client.V1ObjectMeta(name=f"cm-{i}", labels={"tier": tier}), data={"i": str(i)}
                ),
            )
        front = self.core.list_namespaced_config_map(self.ns, label_selector="tier=front")
        self.assertEqual(sorted(c.metadata.name for c in front.items), ["cm-0", "cm-2", "cm-4", "cm-6"])
        not_front = self.core.list_namespaced_config_map(self.ns, label_selector="tier!=front,tier")
        self.assertEqual(sorted(c.metadata.name for c in not_front.items), ["cm-1", "cm-3", "cm-5"])
        in_set = self.core.list_namespaced_config_map(self.ns, label_selector="tier in (back)")
        self.assertEqual(len(in_set.items), 3)

        seen, pages, token = [], 0, None
        while True:
            page = self.core.list_namespaced_config_map(
                self.ns, label_selector="tier", limit=3, _continue=token
            )
            pages += 1
            self.assertLessEqual(len(page.items), 3)
            seen.extend(c.metadata.name for c in page.items)
            token = page.metadata._continue
            if not token:
                break
            self.assertLess(pages, 10, "pagination does not end")
        self.assertEqual(pages, 3)
        self.assertEqual(sorted(seen), [f"cm-{i}" for i in range(7)])

    # --- Watch ---------------------------------------------------------------------------

    def test_watch_stream_sees_added_modified_deleted(self):
        start = self.core.list_namespaced_config_map(self.ns).metadata.resource_version
        seen = []
        w = watch.Watch()

        def act():
            time.sleep(1.0)  # the watch request is made on the first iteration
            self.core.create_namespaced_config_map(
                self.ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched"), data={"v": "1"})
            )
            self.core.patch_namespaced_config_map("watched", self.ns, {"data": {"v": "2"}})
            self.core.delete_namespaced_config_map("watched", self.ns)

        writer = threading.Thread(target=act)
        writer.start()
        began = time.monotonic()
        for event in w.stream(
            self.core.list_namespaced_config_map, self.ns, resource_version=start, timeout_seconds=10
        ):
            obj = event["object"]
            self.assertIsInstance(obj, client.V1ConfigMap)
            seen.append((event["type"], obj.metadata.name, (obj.data or {}).get("v")))
            if event["type"] == "DELETED":
                w.stop()
        writer.join()
        self.assertLess(time.monotonic() - began, 10, "the watch ended by its timeout, not by DELETED")
        self.assertEqual(
            seen, [("ADDED", "watched", "1"), ("MODIFIED", "watched", "2"), ("DELETED", "watched", "2")]
        )

    def test_watch_ends_at_its_timeout(self):
        began = time.monotonic()
        events = list(
            watch.Watch().stream(
                self.core.list_namespaced_secret,
                self.ns,
                resource_version=self.core.list_namespaced_secret(self.ns).metadata.resource_version,
                timeout_seconds=2,
            )
        )
        elapsed = time.monotonic() - began
        self.assertEqual(events, [])
        self.assertGreaterEqual(elapsed, 1.5)
        self.assertLess(elapsed, 8)

    # --- Errors --------------------------------------------------------------------------

    def test_missing_object_raises_404_not_found(self):
        with self.assertRaises(ApiException) as raised:
            self.core.read_namespaced_config_map("nope", self.ns)
        self.assertEqual(raised.exception.status, 404)
        self.assertEqual(status_reason(raised.exception), "NotFound")
        with self.assertRaises(ApiException) as raised:
            self.apps.delete_namespaced_deployment("nope", self.ns)
        self.assertEqual(raised.exception.status, 404)

    def test_conflicts_raise_409(self):
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dup"), data={"a": "1"})
        first = self.core.create_namespaced_config_map(self.ns, body)
        with self.assertRaises(ApiException) as raised:
            self.core.create_namespaced_config_map(self.ns, body)
        self.assertEqual(raised.exception.status, 409)
        self.assertEqual(status_reason(raised.exception), "AlreadyExists")

        # A replace from a stale resourceVersion is refused.
        self.core.patch_namespaced_config_map("dup", self.ns, {"data": {"a": "2"}})
        first.data = {"a": "stale"}
        with self.assertRaises(ApiException) as raised:
            self.core.replace_namespaced_config_map("dup", self.ns, first)
        self.assertEqual(raised.exception.status, 409)
        self.assertEqual(status_reason(raised.exception), "Conflict")
        self.assertEqual(self.core.read_namespaced_config_map("dup", self.ns).data, {"a": "2"})

    # --- Dynamic client on a CRD ---------------------------------------------------------

    def test_dynamic_client_on_a_custom_resource(self):
        group = f"{uuid.uuid4().hex[:6]}.example.com"
        crd_name = f"widgets.{group}"
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": crd_name},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {
                                        "type": "object",
                                        "properties": {"size": {"type": "integer"}, "color": {"type": "string"}},
                                    }
                                },
                            }
                        },
                    }
                ],
            },
        }
        with tempfile.TemporaryDirectory() as cache:
            dyn = dynamic.DynamicClient(self.api, cache_file=os.path.join(cache, "discovery.json"))
            crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
            created_crd = crds.create(body=crd)
            self.assertEqual(created_crd.metadata.name, crd_name)
            try:
                widgets = None

                def served():
                    nonlocal widgets
                    try:
                        dyn.resources.invalidate_cache()
                        widgets = dyn.resources.get(api_version=f"{group}/v1", kind="Widget")
                        return True
                    except ResourceNotFoundError:
                        return False

                wait_until(served, f"{group}/v1 Widget in discovery")
                self.assertTrue(widgets.namespaced)
                self.assertEqual(widgets.name, "widgets")

                body = {
                    "apiVersion": f"{group}/v1",
                    "kind": "Widget",
                    "metadata": {"name": "w1", "labels": {"size": "big"}},
                    "spec": {"size": 3, "color": "red"},
                }
                created = widgets.create(body=body, namespace=self.ns)
                self.assertEqual(created.spec.size, 3)
                self.assertEqual(created.metadata.namespace, self.ns)
                got = widgets.get(name="w1", namespace=self.ns)
                self.assertEqual(got.spec.color, "red")
                listed = widgets.get(namespace=self.ns, label_selector="size=big")
                self.assertEqual([i.metadata.name for i in listed.items], ["w1"])
                patched = widgets.patch(
                    name="w1",
                    namespace=self.ns,
                    body={"spec": {"color": "blue"}},
                    content_type="application/merge-patch+json",
                )
                self.assertEqual((patched.spec.size, patched.spec.color), (3, "blue"))
                widgets.delete(name="w1", namespace=self.ns)
                with self.assertRaises(ApiException) as raised:
                    widgets.get(name="w1", namespace=self.ns)
                self.assertEqual(raised.exception.status, 404)
            finally:
                crds.delete(name=crd_name)


if __name__ == "__main__":
    print(f"kubernetes Python client {client.__version__ if hasattr(client, '__version__') else ''} "
          f"against a simulated Kubernetes {RELEASE}", flush=True)
    unittest.main(verbosity=2)
