"""Size of a built bundle and its biggest parts.

    python packaging/bundle_report.py dist/clinidoc [--top 15] [--json OUT.json]

Groups files by their top-level entry under the bundle's _internal/ folder (a Python package, a
native library, a Qt folder ...) and by the nearest package folder inside the big ones, so the
report says "PySide6/Qt/lib 120 MiB" rather than listing thousands of files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _files(root: Path):
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            yield p


def report(bundle: Path, top: int = 15, depth: int = 2) -> dict:
    """Total bytes, file count, and the `top` biggest parts at one and `depth` levels below _internal/."""
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise FileNotFoundError(f"no bundle folder at {bundle}")
    internal = bundle / "_internal"
    base = internal if internal.is_dir() else bundle
    total = 0
    count = 0
    level1: dict[str, int] = defaultdict(int)
    level2: dict[str, int] = defaultdict(int)
    largest_files: list[tuple[int, str]] = []
    for p in _files(bundle):
        size = p.stat().st_size
        total += size
        count += 1
        try:
            rel = p.relative_to(base)
        except ValueError:  # the executables beside _internal/
            rel = Path(p.relative_to(bundle))
        parts = rel.parts
        level1[parts[0]] += size
        level2["/".join(parts[: min(depth, len(parts))])] += size
        largest_files.append((size, rel.as_posix()))
    largest_files.sort(reverse=True)

    def biggest(groups: dict[str, int]) -> list[dict]:
        rows = sorted(groups.items(), key=lambda kv: kv[1], reverse=True)[:top]
        return [{"part": k, "bytes": v, "share": round(v / total, 4) if total else 0.0} for k, v in rows]

    return {
        "bundle": str(bundle),
        "total_bytes": total,
        "files": count,
        "top_level": biggest(level1),
        "second_level": biggest(level2),
        "largest_files": [{"file": f, "bytes": s} for s, f in largest_files[:top]],
    }


def render(rep: dict) -> str:
    lines = [f"bundle {rep['bundle']}: {human(rep['total_bytes'])} in {rep['files']} files", "", "biggest parts:"]
    for row in rep["top_level"]:
        lines.append(f"  {human(row['bytes']):>10}  {row['share'] * 100:5.1f}%  {row['part']}")
    lines += ["", "inside them:"]
    for row in rep["second_level"]:
        lines.append(f"  {human(row['bytes']):>10}  {row['share'] * 100:5.1f}%  {row['part']}")
    lines += ["", "largest files:"]
    for row in rep["largest_files"]:
        lines.append(f"  {human(row['bytes']):>10}  {row['file']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--json", type=Path, default=None, help="Also write the report as JSON here.")
    args = ap.parse_args(argv)
    try:
        rep = report(args.bundle, args.top)
    except FileNotFoundError as exc:
        print(f"bundle_report: {exc}", file=sys.stderr)
        return 2
    print(render(rep))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rep, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
