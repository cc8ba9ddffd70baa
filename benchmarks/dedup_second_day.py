"""The ``dedup`` stage's second day (copies only) against a first day's index: CPU seconds
inside the stage, code against code, in the same session.

Takes a folder that ``scale.py`` (or the same by hand) left: ``day2/`` (the second day's
files), ``state1.sqlite`` and ``cache1/`` (the state store and run cache as the first day
left them). Every repeat copies those back, writes a config (``read.files`` → ``dedup``
with ``stories``, ``passages`` and ``quotes`` off → ``render.jsonl``) and runs it in a
fresh process per code under test, each through ``scale.py --timed-run`` (the CPU seconds
spent inside ``Dedup.process_stream``, the reader's and the renderer's excluded). A code
is this checkout (``here``) or a folder put first on ``PYTHONPATH`` (a shim with
``docstage``, ``docstage_plugins`` and ``docstage_eval`` linked to another checkout's
``pipeline``, ``plugins`` and ``evaluation``). The codes alternate within a repeat.

    python benchmarks/dedup_second_day.py /tmp/d4 --code before=/tmp/shim --code here \\
        --repeats 5 --keep /tmp/outputs

With ``--keep``, the last repeat's outputs of each code stay there (``day2.jsonl``,
``day2-dedup.jsonl`` and the state store), for comparing them byte for byte.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import BENCH_DIR

CONFIG = """[pipeline]
name = "dedup"

[run]
state = "{work}/state.sqlite"
cache = "{work}/cache"

[[stages]]
use = "read.files"
path = "{data}/day2/**/*.txt"

[[stages]]
use = "dedup"
stories = false
passages = false
quotes = false
report = "{work}/day2-dedup.jsonl"

[[stages]]
use = "render.jsonl"
path = "{work}/day2.jsonl"
"""


def one_run(data: Path, work: Path, path: str | None) -> float:
    """One second day in a fresh process; the CPU seconds inside the stage."""
    for name in ("state.sqlite", "state.sqlite.lock", "day2.jsonl", "day2-dedup.jsonl"):
        (work / name).unlink(missing_ok=True)
    shutil.rmtree(work / "cache", ignore_errors=True)
    shutil.copyfile(data / "state1.sqlite", work / "state.sqlite")
    shutil.copytree(data / "cache1", work / "cache")
    config = work / "day2.toml"
    config.write_text(CONFIG.format(work=work, data=data), encoding="utf-8")
    record = work / "stage_cpu.txt"
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [path, env.get("PYTHONPATH")]))
    command = [sys.executable, str(BENCH_DIR / "scale.py"), "--timed-run", str(record)]
    command += ["run", str(config), "--no-progress"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return float(record.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="folder with day2/, state1.sqlite, cache1/")
    parser.add_argument(
        "--code",
        action="append",
        required=True,
        help="NAME=FOLDER (put first on PYTHONPATH) or 'here' (this checkout)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep each code's last outputs here")
    args = parser.parse_args()
    codes = [(c, None) if c == "here" else tuple(c.split("=", 1)) for c in args.code]
    documents = sum(1 for _ in (args.data / "day2").rglob("*.txt"))
    seconds: dict[str, list[float]] = {name: [] for name, _ in codes}
    with tempfile.TemporaryDirectory(prefix="docstage-day2-") as scratch:
        for repeat in range(args.repeats):
            for name, path in codes:
                work = Path(scratch) / name
                work.mkdir(exist_ok=True)
                seconds[name].append(one_run(args.data, work, path))
                print(f"repeat {repeat + 1} {name}: {seconds[name][-1]:.3f} s", flush=True)
                if args.keep is not None and repeat == args.repeats - 1:
                    kept = args.keep / name
                    kept.mkdir(parents=True, exist_ok=True)
                    for output in ("day2.jsonl", "day2-dedup.jsonl", "state.sqlite"):
                        shutil.copyfile(work / output, kept / output)
    summary = {
        name: {
            "stage_cpu_s": [round(s, 3) for s in values],
            "median_s": round(statistics.median(values), 3),
            "documents_per_cpu_s": round(documents / statistics.median(values)),
        }
        for name, values in seconds.items()
    }
    print(json.dumps({"documents": documents, "codes": summary}, indent=2))


if __name__ == "__main__":
    main()
