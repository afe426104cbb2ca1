"""RFC 3161 trusted timestamps over manifest hashes (可信时间戳).

With ``evidence.tsa_url`` set, each manifest's bytes are sent as a sha256 imprint to that time
stamp authority; its signed reply (a TimeStampResp, DER) is stored beside the manifest as
``<sha256>.tsr``. A reply proves to a third party that the manifest, and through its hashes
every artifact, existed unchanged at the authority's time. A TSA that cannot be reached leaves
the capture ``pending`` (recorded, never skipped silently); `monitor evidence timestamp` asks
again. Verification checks the reply's status, that its imprint is this manifest's sha256 and,
when ``evidence.tsa_ca_file`` names the authority's root certificate(s), its signature chain.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

MEDIA_QUERY = "application/timestamp-query"
MEDIA_REPLY = "application/timestamp-reply"
MAX_REPLY = 1 << 20

logger = logging.getLogger(__name__)


class TimestampError(Exception):
    """The authority could not be asked or gave no usable token (one line)."""


@dataclass
class TokenInfo:
    time: datetime
    authority: str  # the TSA's name from the token, or its certificate subject
    serial: int


def request_token(tsa_url: str, message: bytes, timeout: float = 15.0) -> bytes:
    """Ask the authority for a token over ``message``; return its reply (DER)."""
    query = (
        TimestampRequestBuilder()
        .data(message)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    req = urllib.request.Request(
        tsa_url,
        data=query.as_bytes(),
        headers={"Content-Type": MEDIA_QUERY, "Accept": MEDIA_REPLY},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - configured URL
            reply = resp.read(MAX_REPLY + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TimestampError(f"timestamp authority {tsa_url} unreachable: {exc}") from None
    if len(reply) > MAX_REPLY:
        raise TimestampError(f"timestamp authority {tsa_url} sent an oversized reply")
    try:
        decoded = decode_timestamp_response(reply)
    except Exception as exc:  # noqa: BLE001 - a malformed reply is the authority's fault
        raise TimestampError(f"timestamp authority {tsa_url} sent no valid reply: {exc}") from None
    if PKIStatus(decoded.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise TimestampError(f"timestamp authority {tsa_url} refused: status {decoded.status}")
    if decoded.tst_info.nonce != query.nonce:
        raise TimestampError(f"timestamp authority {tsa_url} answered another request (nonce)")
    return reply


def load_roots(ca_file: str | Path | None) -> list:
    if not ca_file:
        return []
    from cryptography import x509

    return x509.load_pem_x509_certificates(Path(ca_file).read_bytes())


def token_info(reply: bytes) -> TokenInfo:
    decoded = decode_timestamp_response(reply)
    tst = decoded.tst_info
    authority = ""
    try:
        name = tst.name
        authority = getattr(name, "value", None) and name.value.rfc4514_string() or str(name)
    except Exception:  # noqa: BLE001 - the name is optional in a token
        authority = ""
    if not authority:
        from cryptography import x509

        for der in decoded.signed_data.certificates:
            cert = x509.load_der_x509_certificate(der)
            if any(
                eku.dotted_string == "1.3.6.1.5.5.7.3.8"
                for ext in cert.extensions
                if isinstance(ext.value, x509.ExtendedKeyUsage)
                for eku in ext.value
            ):
                authority = cert.subject.rfc4514_string()
    return TokenInfo(tst.gen_time, authority or "（未知）", tst.serial_number)


def verify_token(reply: bytes, message: bytes, roots: list) -> str | None:
    """Why the token does not prove ``message`` (None when it does)."""
    import hashlib

    try:
        decoded = decode_timestamp_response(reply)
    except Exception:  # noqa: BLE001
        return "timestamp token unreadable"
    if decoded.tst_info.message_imprint.message != hashlib.sha256(message).digest():
        return "timestamp token does not cover this manifest (imprint differs)"
    if not roots:
        return None
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify_message(decoded, message)
    except VerificationError as exc:
        return f"timestamp token signature not valid: {exc}"
    return None


def stamp_manifest(store, manifest_sha256: str, tsa_url: str) -> None:
    """Timestamp one stored manifest and keep the token beside it; raises TimestampError."""
    from monitor.evidence.store import write_atomic

    blob = store.manifest_path(manifest_sha256).read_bytes()
    reply = request_token(tsa_url, blob)
    write_atomic(store.token_path(manifest_sha256), reply)


def timestamp_now(store, manifest_sha256: str) -> str:
    """Stamp a manifest if the store has an authority: "ok", "pending" (failed) or "none"."""
    if not store.tsa_url:
        return "none"
    try:
        stamp_manifest(store, manifest_sha256, store.tsa_url)
    except (TimestampError, OSError) as exc:
        logger.warning("Timestamp pending for manifest %s: %s", manifest_sha256, exc)
        return "pending"
    return "ok"


def retry_pending(
    records, store, only_pending: bool = False, stop_at_first_failure: bool = False
) -> tuple[int, list[str]]:
    """Stamp every recorded capture that has no token yet (pending, and unless only_pending
    those made before a TSA was configured). Returns how many were stamped and one line per
    failure."""
    from monitor.evidence import ledger

    done, failures = 0, []
    statuses = ("pending",) if only_pending else ("pending", "none")
    for row in ledger.pending_timestamps(records, statuses):
        if not store.token_path(row.manifest_sha256).exists():
            try:
                stamp_manifest(store, row.manifest_sha256, store.tsa_url)
            except (TimestampError, OSError) as exc:
                ledger.set_timestamp_status(records, row.id, "pending")
                failures.append(f"线索 {row.lead_id}: {exc}")
                if stop_at_first_failure:
                    break
                continue
            done += 1
        ledger.set_timestamp_status(records, row.id, "ok")
    return done, failures
