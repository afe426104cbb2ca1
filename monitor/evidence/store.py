"""Content-addressed evidence files and their manifests, written atomically.

Every artifact is stored once under ``objects/ab/abcdef...`` named by its sha256. A capture is
described by a JSON manifest (see :mod:`monitor.evidence.manifest`) stored under
``manifests/<sha256>.json``; a timestamp token for it sits beside it as ``<sha256>.tsr``.
Files are written to a temporary name and renamed once complete, so a killed writer never
leaves a half-written file under a final name (and by default each is synced before its rename).
This module only writes and reads files; which lead owns
which manifest is kept by :mod:`monitor.store.records`, and the checks are in
:mod:`monitor.evidence.verify`.

Batched syncing (``EvidenceStore.deferred``, used by the crawl's evidence and store pipelines):
a capture's files are written completely and renamed into place at once, but made durable
later, many captures at a time: :meth:`EvidenceStore.sync` fsyncs a batch's files (several at
once) and then each of their folders once, and only then are their rows recorded. So a row is
never committed before its files are on disk, and a batch of a hundred captures costs one
round of fsyncs instead of a hundred. Until its row is committed a manifest is listed in this
store's journal (``journal/<host>-<pid>-<n>.txt``); a writer killed before recording it leaves
it there, and the next crawl removes the manifests its journal names that the database does not
record (:meth:`EvidenceStore.recover_unrecorded`): never recorded, they were never evidence,
and left in place they would read as deleted rows to `monitor evidence verify`. Content files
under ``objects/`` stay (content-addressed, possibly shared); a later capture trusts an existing
object only if its bytes still hash to its name, so even a file a power cut left short before
its batch was synced (never recorded) is written again rather than relied on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
    # deferred store: the files this capture needs that are not synced yet (EvidenceStore.sync)
    unsynced: list[Path] = field(default_factory=list)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


TEMP_PREFIX = ".tmp-"


def write_atomic(path: Path, data: bytes, shared: bool = False, sync: bool = True) -> None:
    """Write ``data`` to ``path`` so that the file is either absent or complete. Evidence
    files stay private to their owner; ``shared`` files (exports a user hands on) get the
    permissions the user's umask gives a new file. The temporary name carries the writer's pid,
    so what a killed writer left behind can be told from what a live one is writing
    (:meth:`EvidenceStore.remove_orphaned_temp_files`). ``sync=False``: complete for every
    process at once, durable only once :func:`sync_files` has run on it (batched syncing)."""
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
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_SYNC_THREADS = 8
_sync_pool: ThreadPoolExecutor | None = None


def _fsync(path: Path) -> OSError | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        return exc
    try:
        os.fsync(fd)
    except OSError as exc:
        return exc
    finally:
        os.close(fd)
    return None


def sync_files(paths: Iterable[Path], root: Path | None = None) -> dict[Path, OSError]:
    """Make written files durable: fsync each (several at once, so the file system commits
    them together), then each folder holding them once (their names), up to ``root``. Returns
    the paths that failed, each with its error; a folder's failure counts for its files."""
    global _sync_pool
    files = sorted(set(paths))
    if not files:
        return {}
    if _sync_pool is None:
        _sync_pool = ThreadPoolExecutor(_SYNC_THREADS, thread_name_prefix="evidence-sync")
    failed = {p: exc for p, exc in zip(files, _sync_pool.map(_fsync, files), strict=True) if exc}
    folders: set[Path] = set()
    for p in files:  # a new objects/ab/ folder is itself a name in objects/
        parent = p.parent
        folders.add(parent)
        if root is not None and parent != root and root in parent.parents:
            folders.add(parent.parent)
    for folder in sorted(folders):
        exc = _fsync(folder)
        if exc is not None:
            failed.update({p: exc for p in files if p.parent == folder and p not in failed})
    return failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def release_chain(item) -> None:
    """Release the listing's chain lock an evidence capture took (EvidenceStore.chain_lock or
    EvidenceStore.hold_chain), once the capture is recorded or given up."""
    lock = getattr(item, "chain_lock", None)
    if lock is not None:
        item.chain_lock = None
        lock.release()


class ChainHold:
    """One store's hold on a listing's chain lock, shared by every capture of that listing the
    store has not recorded yet: the second capture of a listing within one batch chains onto the
    first (EvidenceStore.pending_head) instead of waiting for its own lock. The OS lock is taken
    once, by the first capture, and released when the last of them is recorded or given up."""

    def __init__(self, store: EvidenceStore, url: str) -> None:
        self.store, self.url = store, url
        self.lock = store.chain_lock(url)
        self.count = 0
        self.acquired = False
        self._mutex = threading.Lock()

    def acquire(self) -> None:
        """Blocking (call it in a thread): waits for other writers of this chain."""
        with self._mutex:
            if not self.acquired:
                self.lock.acquire()
                self.acquired = True

    def release(self) -> None:
        self.count -= 1
        if self.count > 0:
            return
        self.store._held.pop(self.url, None)
        with self._mutex:
            if self.acquired:
                self.acquired = False
                self.lock.release()


JOURNAL = "journal"
_journals = itertools.count(1)


class EvidenceStore:
    """The evidence folder."""

    def __init__(
        self, root: str | Path, tsa_url: str | None = None, deferred: bool = False
    ) -> None:
        self.root = Path(root)
        self.tsa_url = tsa_url
        # deferred: files are synced by sync() in batches, and manifests journalled until their
        # rows are recorded (see the module's docstring)
        self.deferred = deferred
        self._unsynced: set[Path] = set()
        self._held: dict[str, ChainHold] = {}
        self._pending_heads: dict[str, str] = {}  # listing URL -> newest unrecorded manifest
        self._unrecorded: set[str] = set()
        self._journal_fd: int | None = None
        self._journal_no = next(_journals)

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

    # -- batched syncing ---------------------------------------------------------------------

    def _journal_path(self) -> Path:
        """journal/<host>-<pid>-<n>.txt: one per store (a process may run several crawls)."""
        return self.root / JOURNAL / f"{socket.gethostname()}-{os.getpid()}-{self._journal_no}.txt"

    def _journal(self, sha: str) -> None:
        """Name a manifest about to be put in place before its row exists (see the docstring)."""
        if self._journal_fd is None:
            path = self._journal_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._journal_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(self._journal_fd, f"{sha}\n".encode("ascii"))
        self._unrecorded.add(sha)

    def pending_head(self, listing_url: str) -> str | None:
        """The newest manifest of this listing written by this store and not recorded yet: the
        next capture of the listing in the same batch links to it."""
        return self._pending_heads.get(listing_url)

    def waiting(self) -> int:
        """How many listings have a capture from this store waiting for its row."""
        return len(self._pending_heads)

    def unrecorded(self) -> set[str]:
        """Manifests this store wrote whose rows are not recorded yet (or were given up)."""
        return self._unrecorded

    def hold_chain(self, url: str) -> ChainHold:
        """This store's hold on a listing's chain lock (see ChainHold); ``acquire()`` it in a
        thread, ``release()`` it once the capture is recorded or given up."""
        hold = self._held.get(url)
        if hold is None:
            hold = self._held[url] = ChainHold(self, url)
        hold.count += 1
        return hold

    def sync(self, paths: Iterable[Path]) -> dict[Path, OSError]:
        """Make these written files durable (with their folders); the failures, by path."""
        paths = set(paths)
        failed = sync_files(paths, self.root)
        self._unsynced -= paths - set(failed)
        return failed

    def settle(self, captures: Iterable[tuple[str, str]], recorded: bool) -> None:
        """(listing URL, manifest sha256) captures whose rows were committed (``recorded``) or
        given up: they are no longer the pending head of their listing. Recorded ones leave the
        journal; one given up stays in it, for the next crawl to judge against the database."""
        for url, sha in captures:
            if self._pending_heads.get(url) == sha:
                del self._pending_heads[url]
            if recorded:
                self._unrecorded.discard(sha)
        if not self._unrecorded and self._journal_fd is not None:
            os.ftruncate(self._journal_fd, 0)

    def recover_unrecorded(self, recorded: Callable[[list[str]], set[str]]) -> int:
        """Remove the manifests (and tokens) that dead writers on this host journalled and the
        database does not record (``recorded(shas)`` says which it does); then their journals.
        A journal is only read once its writer is dead, when the database has settled its last
        transaction. Returns how many manifests were removed."""
        folder = self.root / JOURNAL
        host = socket.gethostname()
        removed = 0
        for journal in sorted(folder.glob(f"{host}-*.txt")) if folder.is_dir() else []:
            pid_no = journal.stem[len(host) + 1 :].split("-")  # another host's name may be longer
            if len(pid_no) != 2 or not pid_no[0].isdigit() or _alive(int(pid_no[0])):
                continue
            shas = sorted(
                {
                    line
                    for line in journal.read_text(encoding="ascii", errors="replace").split()
                    if len(line) == 64 and all(c in "0123456789abcdef" for c in line)
                }
            )
            known = recorded(shas) if shas else set()
            for sha in shas:
                if sha in known:
                    continue
                for path in (self.manifest_path(sha), self.token_path(sha)):
                    try:
                        path.unlink()
                        removed += path.suffix == ".json"
                    except FileNotFoundError:
                        pass
            journal.unlink()
        return removed

    def close(self) -> None:
        """Close the journal (empty: removed; otherwise kept for the next crawl)."""
        if self._journal_fd is None:
            return
        os.close(self._journal_fd)
        self._journal_fd = None
        if not self._unrecorded:
            try:
                self._journal_path().unlink()
            except FileNotFoundError:
                pass

    def _write(self, path: Path, data: bytes, unsynced: list[Path]) -> None:
        if self.deferred:
            write_atomic(path, data, sync=False)
            self._unsynced.add(path)
            unsynced.append(path)
        else:
            write_atomic(path, data)

    # -- files ---------------------------------------------------------------------------------

    def object_path(self, digest: str) -> Path:
        return self.root / "objects" / digest[:2] / digest

    def manifest_path(self, digest: str) -> Path:
        return self.root / "manifests" / f"{digest}.json"

    def token_path(self, manifest_sha256: str) -> Path:
        return self.root / "manifests" / f"{manifest_sha256}.tsr"

    def put(self, data: bytes, unsynced: list[Path] | None = None) -> tuple[str, Path]:
        """Store bytes under their sha256 (once); return the digest and the file's path. A file
        already there is kept only if it still holds those bytes (a crash before it was synced
        may have left it short); ``unsynced`` collects what a deferred store has yet to sync."""
        unsynced = [] if unsynced is None else unsynced
        digest = sha256_hex(data)
        path = self.object_path(digest)
        if not self._holds(path, digest, len(data)):
            self._write(path, data, unsynced)
        elif path in self._unsynced:  # written by an earlier capture of this batch
            unsynced.append(path)
        return digest, path

    def _holds(self, path: Path, digest: str, size: int) -> bool:
        if path in self._unsynced:
            return True
        try:
            if path.stat().st_size != size:
                return False
            return sha256_hex(path.read_bytes()) == digest
        except OSError:
            return False

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
        """Store the artifacts and a manifest describing them; return the manifest. Deferred:
        the manifest is journalled, becomes the listing's pending head, and the files wait for
        :meth:`sync` (listed in the manifest's ``unsynced``)."""
        entries = []
        unsynced: list[Path] = []
        for art in artifacts:
            digest, path = self.put(art.data, unsynced)
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
        if self.deferred:
            self._journal(digest)
        if not path.exists():
            self._write(path, blob, unsynced)
        elif path in self._unsynced:
            unsynced.append(path)
        if self.deferred:
            self._pending_heads[listing_url or url] = digest
        return Manifest(path, digest, data, unsynced)

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
