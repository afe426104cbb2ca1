"""The evidence store (电子数据取证): what a capture keeps, how it is chained, checked and shown.

One job per module:

- :mod:`.store`     content-addressed files and manifests, written atomically;
- :mod:`.artifacts` the kinds of artifact a capture keeps (one small builder each);
- :mod:`.manifest`  what a manifest says (its lead and listing, its chain link, its timestamp);
- :mod:`.warc`      each capture as WARC records, and a lead's captures as a WACZ;
- :mod:`.tsa`       RFC 3161 trusted timestamps over manifest hashes;
- :mod:`.heads`     each lead's chain head kept outside the chain, sealed per run;
- :mod:`.verify`    every check `monitor evidence verify` makes;
- :mod:`.report`    the printable extraction record (电子数据提取记录), HTML and PDF.

No Scrapy import here: the pipelines, the CLI and the console call the same code.
"""

from monitor.evidence.artifacts import Artifact, headers_artifact, request_artifact
from monitor.evidence.store import (
    TOOL,
    EvidenceStore,
    Manifest,
    release_chain,
    sha256_hex,
    write_atomic,
)

__all__ = [
    "TOOL",
    "Artifact",
    "EvidenceStore",
    "Manifest",
    "headers_artifact",
    "release_chain",
    "request_artifact",
    "sha256_hex",
    "write_atomic",
]
