"""A small kustomize in Python: enough of `kubectl kustomize` to render deploy/.

Why our own: CI has no kubectl, and the tests need the object list a platform
engineer would apply. It implements only what deploy/ uses, and refuses the rest
(an unknown kustomization field is an error, not a silent no-op):

- ``resources``: files (multi-document YAML) and directories holding a
  kustomization.yaml, recursively, with kustomize's rule that a directory may not
  contain one it was reached from ("cycle detected");
- ``configMapGenerator`` with ``files`` and ``options.labels/annotations``, under
  ``generatorOptions.disableNameSuffixHash: true`` (we do not reproduce the hash);
- ``namespace``: set on namespaced objects, renames a Namespace object, and moves
  binding subjects that name a ServiceAccount of the same build (as kustomize
  5.5 does; subjects naming other ServiceAccounts are left alone);
- ``labels`` with ``pairs`` and ``includeSelectors: false`` (metadata.labels only);
- ``images`` with ``name``, ``newName``, ``newTag``, ``digest``;
- ``components``: directories whose kustomization.yaml is ``kind: Component``, their
  ``resources`` added to the including build before its transformers run (what
  deploy/components/ use); a Component listed under ``resources`` is refused, as
  kustomize refuses it.

When kubectl is installed, tests/deploy/test_kustomize.py checks that this and
`kubectl kustomize` agree on deploy/.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

SUPPORTED_FIELDS = frozenset(
    {"apiVersion", "kind", "resources", "components", "namespace", "labels", "images", "configMapGenerator",
     "generatorOptions"}
)

# Kinds without a namespace (the ones deploy/ can contain; extend when adding one).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "PriorityClass",
        "StorageClass",
        "RuntimeClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)

POD_TEMPLATE_KINDS = frozenset({"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"})


class KustomizeError(Exception):
    """A kustomization this renderer (or kustomize itself) would not build."""


def object_id(obj: Obj) -> tuple[str, str, str, str]:
    """(apiVersion, kind, namespace, name): how kustomize tells objects apart."""
    meta = obj.get("metadata", {})
    return (obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))


def render(root: Path) -> list[Obj]:
    """The objects `kubectl kustomize ROOT` would print, in resource order."""
    return _render(Path(root).resolve(), visited=())


def _render(root: Path, visited: tuple[Path, ...]) -> list[Obj]:
    for seen in visited:
        if seen == root or root in seen.parents:
            raise KustomizeError(f"cycle detected: candidate root {root} contains visited root {seen}")
    path = root / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{root}: no kustomization.yaml")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = set(spec) - SUPPORTED_FIELDS
    if unknown:
        raise KustomizeError(f"{path}: fields not implemented by tests/deploy/kustomize.py: {sorted(unknown)}")

    objs: list[Obj] = []
    for entry in spec.get("resources", []):
        target = (root / entry).resolve()
        if target.is_dir():
            if _kind(target) == "Component":
                raise KustomizeError(f"{path}: {entry!r} is a Component: list it under components, not resources")
            objs.extend(_render(target, visited + (root,)))
        elif target.is_file():
            objs.extend(doc for doc in yaml.safe_load_all(target.read_text()) if doc)
        else:
            raise KustomizeError(f"{path}: resource {entry!r} does not exist")
    for entry in spec.get("components", []):
        target = (root / entry).resolve()
        if not target.is_dir() or _kind(target) != "Component":
            raise KustomizeError(f"{path}: component {entry!r} is not a directory with a kind: Component kustomization")
        objs.extend(_render(target, visited + (root,)))
    objs.extend(_generate_configmaps(root, spec))

    if "namespace" in spec:
        _set_namespace(objs, spec["namespace"])
    for entry in spec.get("labels", []):
        if entry.get("includeSelectors") or entry.get("includeTemplates"):
            raise KustomizeError(f"{path}: labels with includeSelectors/includeTemplates are not implemented")
        for obj in objs:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    for image in spec.get("images", []):
        _set_image(objs, image)

    ids = [object_id(o) for o in objs]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise KustomizeError(f"{path}: duplicate objects {sorted(duplicates)}")
    return objs


def _kind(root: Path) -> str:
    path = root / "kustomization.yaml"
    spec = yaml.safe_load(path.read_text()) if path.is_file() else None
    return str((spec or {}).get("kind") or "Kustomization")


def _generate_configmaps(root: Path, spec: Obj) -> list[Obj]:
    generators = spec.get("configMapGenerator", [])
    if generators and not spec.get("generatorOptions", {}).get("disableNameSuffixHash"):
        raise KustomizeError(f"{root}: configMapGenerator needs generatorOptions.disableNameSuffixHash: true here")
    out = []
    for gen in generators:
        unknown = set(gen) - {"name", "namespace", "files", "options"}
        if unknown:
            raise KustomizeError(f"{root}: configMapGenerator fields not implemented: {sorted(unknown)}")
        meta: Obj = {"name": gen["name"]}
        if "namespace" in gen:
            meta["namespace"] = gen["namespace"]
        options = gen.get("options", {})
        if options.get("annotations"):
            meta["annotations"] = dict(options["annotations"])
        if options.get("labels"):
            meta["labels"] = dict(options["labels"])
        data = {}
        for name in gen.get("files", []):
            key, _, rel = name.partition("=") if "=" in name else (Path(name).name, "", name)
            data[key] = (root / rel).read_text()
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
    return out


def _set_namespace(objs: list[Obj], namespace: str) -> None:
    moved_accounts = {
        (o["metadata"]["name"], o["metadata"].get("namespace", "")) for o in objs if o.get("kind") == "ServiceAccount"
    }
    for obj in objs:
        meta = obj.setdefault("metadata", {})
        if obj.get("kind") == "Namespace":
            meta["name"] = namespace
        elif obj.get("kind") not in CLUSTER_SCOPED:
            meta["namespace"] = namespace
        if obj.get("kind") in ("RoleBinding", "ClusterRoleBinding"):
            for subject in obj.get("subjects", []):
                key = (subject.get("name"), subject.get("namespace", ""))
                if subject.get("kind") == "ServiceAccount" and key in moved_accounts:
                    subject["namespace"] = namespace


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """``name[:tag][@digest]`` -> (name, tag, digest); a registry port is not a tag."""
    name, _, digest = image.partition("@")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest or None


def _set_image(objs: list[Obj], rule: Obj) -> None:
    unknown = set(rule) - {"name", "newName", "newTag", "digest"}
    if unknown:
        raise KustomizeError(f"images fields not implemented: {sorted(unknown)}")
    for obj in objs:
        if obj.get("kind") not in POD_TEMPLATE_KINDS:
            continue
        pod = obj["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod.get("containers", []):
            name, tag, digest = _split_image(container["image"])
            if name != rule["name"]:
                continue
            name = rule.get("newName", name)
            if "digest" in rule:
                container["image"] = f"{name}@{rule['digest']}"
            elif "newTag" in rule:
                container["image"] = f"{name}:{rule['newTag']}"
            else:
                container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def by_id(objs: list[Obj]) -> dict[tuple[str, str, str, str], Obj]:
    return {object_id(o): copy.deepcopy(o) for o in objs}
