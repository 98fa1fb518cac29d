"""Install alliance-monitor's wheel into an image that already has vLLM and torch.

Why a script: the official vLLM image ships a CUDA build of torch and a vLLM
that match each other. ``pip install wheel[extras]`` could replace either while
resolving, and a silently swapped torch is a broken GPU image. So: install the
wheel with ``--no-deps``, then exactly the requirements the wheel itself
declares for the chosen extras (read from its METADATA, so the list never
drifts from pyproject.toml), constrained to the versions of the heavy packages
already in the image, and fail the build if any kept package changed.

Runs with the image's own Python (3.11+). Usage:

    python3 install_into_image.py --wheels DIR --extras postgres,stats [--dry-run]
"""

from __future__ import annotations

import argparse
import email
import importlib.metadata as metadata
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

#: Packages the base image owns: never upgraded, downgraded or removed here.
KEPT = ("vllm", "torch", "torchvision", "torchaudio", "triton", "xformers", "flashinfer-python",
        "transformers", "tokenizers", "numpy")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def the_wheel(wheels: Path) -> Path:
    found = sorted(wheels.glob("alliance_monitor-*.whl"))
    if len(found) != 1:
        raise SystemExit(f"install_into_image: expected one alliance_monitor wheel in {wheels}, found {len(found)}")
    return found[0]


def wheel_requirements(wheel: Path, extras: set[str]) -> list[str]:
    """The requirements ``wheel[extras]`` declares (markers evaluated for this interpreter)."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(zf.read(name))
    declared = {canonical(e) for e in meta.get_all("Provides-Extra") or []}
    unknown = {canonical(e) for e in extras} - declared
    if unknown:
        raise SystemExit(f"install_into_image: the wheel has no extra {', '.join(sorted(unknown))}")
    out = []
    for text in meta.get_all("Requires-Dist") or []:
        req = Requirement(text)
        envs = [{"extra": ""}] + [{"extra": e} for e in extras]
        if req.marker is None or any(req.marker.evaluate(env) for env in envs):
            req.marker = None
            out.append(str(req))
    return out


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
    ap.add_argument("--wheels", type=Path, required=True, help="folder holding the alliance_monitor wheel")
    ap.add_argument("--extras", default="", help="comma-separated extras, e.g. postgres,stats")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, install nothing")
    args = ap.parse_args(argv)

    wheel = the_wheel(args.wheels)
    extras = {e.strip() for e in args.extras.split(",") if e.strip()}
    before = installed_versions()
    pins = constraints(before)
    deps = wheel_requirements(wheel, extras)
    with tempfile.TemporaryDirectory() as tmp:
        cfile, rfile = Path(tmp) / "constraints.txt", Path(tmp) / "requirements.txt"
        cfile.write_text("\n".join(pins) + "\n")
        rfile.write_text("\n".join(deps) + "\n")
        base = installer()
        steps = [base + ["--no-deps", str(wheel)], base + ["-c", str(cfile), "-r", str(rfile)]]
        for cmd in steps:
            print("+", " ".join(cmd), flush=True)
            if not args.dry_run:
                subprocess.run(cmd, check=True)
    if args.dry_run:
        print("requirements:", ", ".join(deps))
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
