"""Helpers the benchmarks share: where the evaluation data is, unpacking, peak RSS."""

from __future__ import annotations

import os
import sys
import tarfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


def shared_folder() -> Path:
    """The shared evaluation folder: ``$DOCSTAGE_SHARED``, else ``../shared``."""
    return Path(os.environ.get("DOCSTAGE_SHARED", ROOT.parent / "shared"))


def default_tarball() -> Path:
    return shared_folder() / "corpora" / "20news" / "20news-19997.tar.gz"


def unpack(archive: Path, target: Path) -> Path:
    """Unpack the 20 Newsgroups archive into ``target``; return the folder of its files."""
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
        else:  # Python < 3.10.12 / 3.11.4
            tar.extractall(target)
    raw = target / "raw"
    return raw if raw.is_dir() else target


def peak_rss_mib() -> float:
    """This process's peak resident set size, in MiB.

    On Linux this is ``VmHWM``: ``ru_maxrss`` would not do, because Linux carries the
    parent's peak over into a child across ``exec``, so every child would report at least
    the benchmark's own peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
