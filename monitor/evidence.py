"""Content-addressed evidence files and their manifests, written atomically.

Every artifact (raw response body, headers, rendered DOM, screenshot) is stored once under
``objects/ab/abcdef...`` named by its sha256. A capture is described by a JSON manifest, itself
stored under ``manifests/<sha256>.json``; it names the previous manifest of the same listing,
so changing or removing any capture breaks the chain. Files are written to a temporary name,
flushed to disk and renamed, so a crash never leaves a half-written file under a final name.
This module only writes and checks files; the records of which lead owns which manifest are
kept by :mod:`monitor.records`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from monitor import __version__

TOOL = f"marketplace-monitor/{__version__}"


@dataclass
class Artifact:
    kind: str  # raw_body | headers | rendered_dom | screenshot
    data: bytes
    media_type: str


@dataclass
class Manifest:
    path: Path  # absolute path of the manifest file
    sha256: str
    data: dict


def headers_artifact(headers: dict) -> Artifact:
    """The response headers as served, as a JSON artifact."""
    return Artifact(
        "headers",
        json.dumps(headers, ensure_ascii=False, sort_keys=True).encode("utf-8"),
        "application/json",
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that the file is either absent or complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def release_chain(item) -> None:
    """Release the listing's chain lock an evidence capture took (EvidenceStore.chain_lock),
    once the capture is recorded or given up."""
    lock = getattr(item, "chain_lock", None)
    if lock is not None:
        item.chain_lock = None
        lock.release()


class EvidenceStore:
    """The evidence folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def object_path(self, digest: str) -> Path:
        return self.root / "objects" / digest[:2] / digest

    def put(self, data: bytes) -> tuple[str, Path]:
        """Store bytes under their sha256 (once); return the digest and the file's path."""
        digest = sha256_hex(data)
        path = self.object_path(digest)
        if not path.exists() or path.stat().st_size != len(data):
            write_atomic(path, data)
        return digest, path

    def chain_lock(self, url: str):
        """The lock on one listing's manifest chain, in the evidence folder itself: held from
        reading the previous manifest until the new one is recorded, so several writers (workers
        on a shared mount, a one-off crawl beside the nightly) extend a chain one at a time.
        An OS lock (flock): released by the kernel if its holder dies."""
        from filelock import FileLock

        key = sha256_hex(url.encode("utf-8"))
        path = self.root / "locks" / key[:2] / f"{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(path, timeout=120, thread_local=False)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def capture(
        self,
        *,
        url: str,
        final_url: str,
        status: int | None,
        headers: dict,
        fetched_at: datetime,
        artifacts: list[Artifact],
        previous_sha256: str | None,
        notes: dict | None = None,
    ) -> Manifest:
        """Store the artifacts and a manifest describing them; return the manifest."""
        entries = []
        for art in artifacts:
            digest, path = self.put(art.data)
            entries.append(
                {
                    "kind": art.kind,
                    "path": self.relative(path),
                    "sha256": digest,
                    "size": len(art.data),
                    "media_type": art.media_type,
                }
            )
        data = {
            "url": url,
            "final_url": final_url,
            "status": status,
            "headers": headers,
            "fetched_at": fetched_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
            "captured_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "tool": TOOL,
            "artifacts": entries,
            "previous_manifest_sha256": previous_sha256,
        }
        if notes:
            data["notes"] = notes
        blob = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
        digest = sha256_hex(blob)
        path = self.root / "manifests" / f"{digest}.json"
        if not path.exists():
            write_atomic(path, blob)
        return Manifest(path, digest, data)

    def verify_manifest(self, path: Path, expected_sha256: str) -> tuple[list[str], str | None]:
        """Every problem with one manifest and its artifacts (empty when all hold), and the
        previous manifest it links to."""
        try:
            blob = path.read_bytes()
        except OSError as exc:
            return [f"manifest {path.name} unreadable: {exc.strerror}"], None
        problems = []
        if sha256_hex(blob) != expected_sha256:
            problems.append(f"manifest {path.name} does not match its recorded sha256")
        try:
            data = json.loads(blob)
        except ValueError:
            return problems + [f"manifest {path.name} is not valid JSON"], None
        for art in data.get("artifacts", []):
            apath = self.root / art.get("path", "")
            try:
                content = apath.read_bytes()
            except OSError:
                problems.append(f"{art.get('kind')} artifact missing: {art.get('path')}")
                continue
            if sha256_hex(content) != art.get("sha256") or len(content) != art.get("size"):
                problems.append(f"{art.get('kind')} artifact altered: {art.get('path')}")
        return problems, data.get("previous_manifest_sha256")

    def verify(self, captures) -> tuple[int, list[tuple[int, str]]]:
        """Check recorded captures, given in order as (owner id, manifest path, sha256): every
        file's hash, and that each manifest links to its owner's previous one. Returns the
        number checked and (owner id, problem) for each failure."""
        problems: list[tuple[int, str]] = []
        latest: dict[int, str] = {}
        count = 0
        for owner, path, sha in captures:
            count += 1
            path = Path(path)
            found, previous = self.verify_manifest(path, sha)
            problems.extend((owner, p) for p in found)
            if owner in latest and previous != latest[owner]:
                problems.append(
                    (owner, f"chain broken at {path.name}: previous manifest does not match")
                )
            latest[owner] = sha
        return count, problems
