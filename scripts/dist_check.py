"""`make dist-check`: the package as `pip install` gives it to a user, proved from the built files.

Every other test installs the checkout in editable mode, where a file the package forgets to ship is
still found beside the code; this check is the one that can see it.

1. Builds the sdist and the wheel (`python -m build`: the wheel from the sdist) into dist/, from a
   copy of the files git tracks, as a clean clone would: a stale *.egg-info/SOURCES.txt left in a
   checkout by an earlier build or `pip install -e` lists files of its own, which setuptools adds
   to the sdist, and would hide a file that no declaration ships. `twine check` reads both.
2. Every file git tracks under jobs/ is in the wheel and in the sdist, and nothing else is there
   under jobs/ (the list is git's, so it cannot go stale); the license file is in both; the project
   URLs are set; README.md states the version being built.
3. Each leg of LEGS installs one of the two (never -e) in a fresh virtualenv in a temporary folder,
   copies scripts/dist_smoke there and runs its smoke.py from there, with nothing of the checkout
   on the path (smoke.py asserts jobs comes from the virtualenv's site-packages).
4. The classifiers are the ones PyPI knows, and they say what CI tests: the Django versions the legs
   installed are exactly the `Framework :: Django :: X.Y` ones, the legs' Django requirements are
   exactly those of the `make test` runs in .ci/run, the Python versions the legs ran are exactly
   the `Programming Language :: Python :: 3.Y` ones, and the lowest of them is python_requires' bound.

    python scripts/dist_check.py [--only-default-python] [--keep]
"""

from __future__ import annotations

import argparse
import email.message
import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "scripts" / "dist_smoke"
DIST = ROOT / "dist"


@dataclass(frozen=True)
class Leg:
    #: "3.12", or None for the interpreter running this script (python3 in .ci/run's first run: 3.11)
    python: str | None
    #: the DJANGO requirement of a `make test` run in .ci/run, or None: what pip picks for that Python
    django: str | None
    artefact: str  # "wheel" or "sdist"


#: One leg per `make test` run of .ci/run (check_classifiers compares their Django requirements), each
#: artefact on both Pythons.
LEGS = (
    Leg(None, None, "wheel"),  # Python 3.11: Django 5.2 LTS
    Leg("3.12", "Django>=6.0,<7", "sdist"),  # the newest Django 6
    Leg("3.12", "Django>=6.0,<6.1", "wheel"),
)


class Failed(Exception):
    pass


def run(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise Failed(f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def tracked(under: str = "") -> list[str]:
    """The files git tracks (under a folder), as they are in the work tree (a file deleted there is left out)."""
    names = run("git", "ls-files", "-z", "--", *([under] if under else [])).split("\0")
    return [name for name in names if name and (ROOT / name).is_file()]


def build(work: Path) -> tuple[Path, Path]:
    if untracked := run("git", "ls-files", "--others", "--exclude-standard", "--", "jobs").split():
        print(f"not built, as git does not track them (git add what belongs): {', '.join(untracked)}")
    source = work / "source"
    for name in tracked():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = work / "dist"
    run(sys.executable, "-m", "build", "--outdir", out, source)
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise Failed(f"python -m build made {[p.name for p in out.iterdir()]}, not one wheel and one sdist")
    run(sys.executable, "-m", "twine", "check", "--strict", wheels[0], sdists[0])
    DIST.mkdir(exist_ok=True)
    for old in DIST.glob("django_jobs-*"):
        old.unlink()
    return Path(shutil.copy2(wheels[0], DIST)), Path(shutil.copy2(sdists[0], DIST))


def compare(kind: str, shipped: set[str], expected: set[str]) -> list[str]:
    problems = []
    if missing := sorted(expected - shipped):
        problems.append(f"files git tracks under jobs/ that the {kind} leaves out (a user who installs it gets "
                        "errors; MANIFEST.in says what ships):\n" + "\n".join(f"  {m}" for m in missing))
    if extra := sorted(shipped - expected):
        problems.append(f"files under jobs/ in the {kind} that git does not track:\n"
                        + "\n".join(f"  {m}" for m in extra))
    return problems


def check_contents(wheel: Path, sdist: Path) -> email.message.Message:
    expected = set(tracked("jobs"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
    with tarfile.open(sdist) as archive:
        top = f"{sdist.name.removesuffix('.tar.gz')}/"
        in_sdist = {m.name.removeprefix(top) for m in archive.getmembers() if m.isfile()}
    problems = compare("wheel", {n for n in names if n.startswith("jobs/")}, expected)
    problems += compare("sdist", {n for n in in_sdist if n.startswith("jobs/")}, expected)
    if metadata.get("License-Expression") != "BSD-3-Clause" or metadata.get_all("License-File") != ["LICENSE"]:
        problems.append("the wheel's METADATA does not say License-Expression: BSD-3-Clause, License-File: LICENSE")
    if f"{info}/licenses/LICENSE" not in names or "LICENSE" not in in_sdist:
        problems.append("LICENSE is not in the wheel (.dist-info/licenses/) and the sdist")
    urls = {u.split(",")[0] for u in metadata.get_all("Project-URL") or []}
    if missing_urls := {"Documentation", "Source", "Issues"} - urls:
        problems.append(f"project URLs missing from setup.cfg: {sorted(missing_urls)}")
    version = metadata["Version"]
    if not re.search(rf"django-jobs {re.escape(version)}\b", (ROOT / "README.md").read_text()):
        problems.append(f"README.md does not say `django-jobs {version}`, the version being built")
    if problems:
        raise Failed("\n".join(problems))
    return metadata


def find_python(version: str | None) -> str:
    """The interpreter of a leg, found as .ci/run finds it: on PATH, else through pyenv."""
    if version is None:
        return sys.executable
    on_path = shutil.which(f"python{version}")
    if on_path and subprocess.run([on_path, "-c", ""], capture_output=True).returncode == 0:
        return on_path
    if shutil.which("pyenv"):
        pattern = re.compile(rf"{re.escape(version)}(\.|$)")
        versions = [v for v in run("pyenv", "versions", "--bare").split() if pattern.match(v)]
        if versions:
            newest = max(versions, key=lambda v: [int(p) if p.isdigit() else 0 for p in v.split(".")])
            return run("pyenv", "which", f"python{version}", env={**os.environ, "PYENV_VERSION": newest}).strip()
    raise Failed(f"no python{version} for the dist check's legs: install it (pyenv install {version}), "
                 "or run with --only-default-python")


def redis_binary() -> str:
    from jobs.devserver import find_binary  # the checkout's: only to find the binary, as `make test` does

    return os.environ.get("JOBS_REDIS_SERVER") or find_binary()


def smoke(leg: Leg, artefact: Path, work: Path) -> dict[str, str]:
    """The artefact installed in a fresh virtualenv outside the checkout; smoke.py's summary."""
    venv = work / "venv"
    run(find_python(leg.python), "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    # This virtualenv's pip, run by the leg's python (no pip of its own to install); no byte-compiling
    # of Django's thousands of files, which the smoke does not import.
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", artefact, *([leg.django] if leg.django else []), cwd=work)
    project = work / "project"
    shutil.copytree(SMOKE, project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3", "static"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DJANGO_", "JOBS_", "VIRTUAL_ENV"))}
    env.update(DIST_CHECK_SOURCE=str(ROOT), JOBS_REDIS_SERVER=redis_binary())
    done = subprocess.run([str(python), "smoke.py"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=600)
    if done.returncode:
        raise Failed(f"the smoke of the installed {leg.artefact} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ci_django_requirements() -> set[str | None]:
    """The DJANGO requirement of each `make test` run in .ci/run (None: the default one)."""
    script = re.sub(r"\\\n", " ", (ROOT / ".ci" / "run").read_text())
    found: set[str | None] = set()
    for line in script.splitlines():
        command = line.strip()
        if command.startswith(("#", "echo")) or not re.search(r"(^|\s)make test(\s|$)", command):
            continue
        requirement = re.search(r"DJANGO=(['\"])(.*?)\1", command)
        found.add(requirement.group(2) if requirement else None)
    if not found:
        raise Failed(".ci/run has no `make test` run: the dist check cannot tell which Django versions CI tests")
    return found


def minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def check_classifiers(metadata: email.message.Message, ran: list[dict[str, str]]) -> list[str]:
    from packaging.specifiers import SpecifierSet
    from trove_classifiers import classifiers as known

    problems = []
    classifiers = metadata.get_all("Classifier") or []
    if unknown := [c for c in classifiers if c not in known]:
        problems.append(f"classifiers PyPI does not know (it refuses the upload): {unknown}")

    ci, legs = ci_django_requirements(), {leg.django for leg in LEGS}
    if ci != legs:
        def show(requirements: set[str | None]) -> str:
            return ", ".join(sorted(r or "(pip's pick)" for r in requirements))
        problems.append(f"the `make test` runs of .ci/run install Django {show(ci)}, the legs of the dist check "
                        f"{show(legs)}: keep LEGS (scripts/dist_check.py) in step with .ci/run")

    def claimed(prefix: str) -> set[str]:
        return {c.removeprefix(prefix) for c in classifiers if c.startswith(prefix) and "." in c.removeprefix(prefix)}

    for what, prefix, versions in (("Django", "Framework :: Django :: ", {minor(s["django"]) for s in ran}),
                                   ("Python", "Programming Language :: Python :: ", {minor(s["python"]) for s in ran})):
        says = claimed(prefix)
        for version in sorted(versions - says):
            problems.append(f"CI runs {what} {version}, which no classifier claims: add `{prefix}{version}` to "
                            "setup.cfg (and pin the leg if it does not work there)")
        for version in sorted(says - versions):
            problems.append(f"setup.cfg claims {what} {version} (`{prefix}{version}`), which no CI leg runs: "
                            "add a leg (.ci/run and LEGS) or drop the classifier")

    requires = SpecifierSet(metadata["Requires-Python"] or "")
    pythons = sorted(claimed("Programming Language :: Python :: "), key=lambda v: [int(p) for p in v.split(".")])
    if pythons:
        lowest = pythons[0]
        below = f"{lowest.split('.')[0]}.{int(lowest.split('.')[1]) - 1}"
        if f"{lowest}.0" not in requires or f"{below}.99" in requires:
            problems.append(f"python_requires {requires} does not start at the lowest Python claimed, {lowest}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only-default-python", action="store_true",
                        help="run the legs of this Python only (no python3.12 here); the classifiers are not compared")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (venvs, smoke projects)")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="jobs-dist-check-"))
    started = time.monotonic()
    try:
        wheel, sdist = build(work)
        metadata = check_contents(wheel, sdist)
        print(f"built and checked (twine, contents against git ls-files jobs): {wheel.relative_to(ROOT)}, "
              f"{sdist.relative_to(ROOT)}  [{time.monotonic() - started:.0f} s]", flush=True)
        ran = []
        for number, leg in enumerate(LEGS):
            if options.only_default_python and leg.python is not None:
                print(f"skipped (--only-default-python): the {leg.artefact} on Python {leg.python}, {leg.django}")
                continue
            began = time.monotonic()
            summary = smoke(leg, wheel if leg.artefact == "wheel" else sdist, work / f"leg{number}")
            ran.append(summary)
            print(f"the installed {leg.artefact} on Python {summary['python']}, Django {summary['django']}: "
                  f"check, migrate, collectstatic, a task through runworker, a periodic one through runbeat, "
                  f"{summary['pages']} console pages, every admin page of jobs, all {summary['templates']} "
                  f"templates rendered, {', '.join(summary['served'])} served  [{time.monotonic() - began:.0f} s]",
                  flush=True)
        if not options.only_default_python:
            problems = check_classifiers(metadata, ran)
            if problems:
                raise Failed("\n".join(problems))
            print("classifiers: the Django and Python versions CI runs, no more, no fewer")
    except Failed as failure:
        print(f"dist check FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
    finally:
        if options.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"dist check passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
