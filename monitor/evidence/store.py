"""Content-addressed evidence files and their manifests, written atomically.

Every artifact is stored once under ``objects/ab/abcdef...`` named by its sha256. A capture is
described by a JSON manifest (see :mod:`monitor.evidence.manifest`) stored under
``manifests/<sha256>.json``; a timestamp token for it sits beside it as ``<sha256>.tsr``.
Files are written to a temporary name, flushed to disk and renamed, so a crash never leaves a
half-written file under a final name. This module only writes and reads files; which lead owns
which manifest is kept by :mod:`monitor.records`, and the checks are in
:mod:`monitor.evidence.verify`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor import __version__
from monitor.evidence import manifest as mf
from monitor.evidence.artifacts import Artifact

TOOL = f"marketplace-monitor/{__version__}"


@dataclass
class Manifest:
    path: Path  # absolute path of the manifest file
    sha256: str
    data: dict


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


TEMP_PREFIX = ".tmp-"


def write_atomic(path: Path, data: bytes, shared: bool = False) -> None:
    """Write ``data`` to ``path`` so that the file is either absent or complete. Evidence
    files stay private to their owner; ``shared`` files (exports a user hands on) get the
    permissions the user's umask gives a new file. The temporary name carries the writer's pid,
    so what a killed writer left behind can be told from what a live one is writing
    (:meth:`EvidenceStore.remove_orphaned_temp_files`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{os.getpid()}-")
    try:
        if shared:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def release_chain(item) -> None:
    """Release the listing's chain lock an evidence capture took (EvidenceStore.chain_lock),
    once the capture is recorded or given up."""
    lock = getattr(item, "chain_lock", None)
    if lock is not None:
        item.chain_lock = None
        lock.release()


class EvidenceStore:
    """The evidence folder."""

    def __init__(self, root: str | Path, tsa_url: str | None = None) -> None:
        self.root = Path(root)
        self.tsa_url = tsa_url

    def remove_orphaned_temp_files(self) -> int:
        """Remove the temporary files of writers that are gone (a SIGKILL between the write and
        the rename leaves one; it never held a recorded artifact, whose file is only recorded
        once renamed). Files of a live process, such as a one-off crawl beside the nightly, stay.
        Returns how many were removed."""
        removed = 0
        folders = (self.root / "manifests", self.root / "runs", *self.root.glob("objects/*"))
        for folder in folders:
            for tmp in folder.glob(f"{TEMP_PREFIX}*"):
                pid = tmp.name[len(TEMP_PREFIX) :].split("-", 1)[0]
                if pid.isdigit() and _alive(int(pid)):
                    continue
                try:
                    tmp.unlink()
                    removed += 1
                except OSError:
                    pass
        return removed

    def object_path(self, digest: str) -> Path:
        return self.root / "objects" / digest[:2] / digest

    def manifest_path(self, digest: str) -> Path:
        return self.root / "manifests" / f"{digest}.json"

    def token_path(self, manifest_sha256: str) -> Path:
        return self.root / "manifests" / f"{manifest_sha256}.tsr"

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
        listing_url: str | None = None,
        target: str | None = None,
        lead_id: int | None = None,
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
        data = mf.build(
            url=url,
            final_url=final_url,
            status=status,
            headers=headers,
            fetched_at=fetched_at,
            tool=TOOL,
            artifacts=entries,
            previous_sha256=previous_sha256,
            listing_url=listing_url,
            target=target,
            lead_id=lead_id,
            tsa_url=self.tsa_url,
            notes=notes,
        )
        blob = mf.encode(data)
        digest = sha256_hex(blob)
        path = self.manifest_path(digest)
        if not path.exists():
            write_atomic(path, blob)
        return Manifest(path, digest, data)

    def read_manifest(self, path: str | Path) -> tuple[bytes | None, dict | None, str | None]:
        """(bytes, parsed data, problem) of a manifest file."""
        path = Path(path)
        try:
            blob = path.read_bytes()
        except OSError as exc:
            return None, None, f"manifest {path.name} unreadable: {exc.strerror}"
        try:
            return blob, json.loads(blob), None
        except ValueError:
            return blob, None, f"manifest {path.name} is not valid JSON"

    def artifact_bytes(self, entry: dict) -> bytes | None:
        try:
            return (self.root / entry.get("path", "")).read_bytes()
        except OSError:
            return None

    def verify(self, captures) -> tuple[int, list[tuple[int, str]]]:
        """Files and chain links of (owner id, manifest path, sha256) captures, in order; see
        :func:`monitor.evidence.verify.verify_captures`."""
        from monitor.evidence.verify import verify_captures

        return verify_captures(self, captures)

    def manifests(self):
        """Every manifest file in the folder: (sha256 named in its file name, path)."""
        folder = self.root / "manifests"
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                yield path.stem, path
