"""Install alliance-monitor into an image that already has vLLM and torch.

Why a script: the official vLLM image ships a CUDA build of torch and a vLLM
that match each other. ``pip install .`` could replace either while resolving
the project's dependencies, and a silently swapped torch is a broken GPU image.
So: install the project with ``--no-deps``, then only its light core
dependencies (read from pyproject.toml, so the list never drifts), constrained
to the versions of the heavy packages already in the image, and fail the build
if any kept package changed.

Runs with the image's own Python (3.11+ for tomllib; the vLLM image has 3.12).
Usage, from the source dir:

    python3 install_into_image.py [--dry-run]
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

#: Packages the base image owns: never upgraded, downgraded or removed here.
KEPT = ("vllm", "torch", "torchvision", "torchaudio", "triton", "xformers", "flashinfer-python",
        "transformers", "tokenizers", "numpy")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def light_dependencies(pyproject: Path) -> list[str]:
    """The project's core dependencies (no extras), as requirement strings."""
    with pyproject.open("rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def installed_versions() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}


def constraints(installed: dict[str, str], kept: tuple[str, ...] = KEPT) -> list[str]:
    """``name==version`` for every kept package present in the image."""
    return [f"{name}=={installed[name]}" for name in map(canonical, kept) if name in installed]


def installer() -> list[str]:
    """uv (what the vLLM image itself uses) when present, else pip; no download cache."""
    uv = shutil.which("uv")
    if uv:
        return [uv, "pip", "install", "--system", "--python", sys.executable, "--no-cache"]
    return [sys.executable, "-m", "pip", "install", "--no-cache-dir"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=Path("."), help="project source dir (has pyproject.toml)")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, install nothing")
    args = ap.parse_args(argv)

    before = installed_versions()
    pins = constraints(before)
    deps = light_dependencies(args.source / "pyproject.toml")
    with tempfile.TemporaryDirectory() as tmp:
        cfile, rfile = Path(tmp) / "constraints.txt", Path(tmp) / "requirements.txt"
        cfile.write_text("\n".join(pins) + "\n")
        rfile.write_text("\n".join(deps) + "\n")
        base = installer()
        steps = [base + ["--no-deps", str(args.source)], base + ["-c", str(cfile), "-r", str(rfile)]]
        for cmd in steps:
            print("+", " ".join(cmd), flush=True)
            if not args.dry_run:
                subprocess.run(cmd, check=True)
    if args.dry_run:
        print("kept:", ", ".join(pins) or "(none present)")
        return 0
    after = installed_versions()
    changed = [f"{n}: {before[n]} -> {after.get(n, 'removed')}" for n in map(canonical, KEPT)
               if n in before and after.get(n) != before[n]]
    if changed:
        print("install_into_image: the base image's packages changed: " + "; ".join(changed), file=sys.stderr)
        return 1
    print("install_into_image: kept " + ", ".join(pins), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
