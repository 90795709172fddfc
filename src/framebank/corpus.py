"""``framebank data fetch``: the five full Asterisk prompt sets, verified, in a cache folder.

The shipped ``data/`` holds a small subset; this fetches the whole of each
Debian package named in ``data/packages.json`` with ``apt-get download``,
checks its size and SHA-256 against that file, unpacks it with ``dpkg-deb``
and lays the WAV files out as ``<cache>/<language>/<prompt>.wav``, which
``framebank compare --source <cache>`` reads (languages from the folder names).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from framebank import files
from framebank.progress import Progress

__all__ = ["default_cache", "fetch_corpus", "verify_deb"]


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/framebank/asterisk`` (``~/.cache/framebank/asterisk``)."""
    import os

    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "framebank" / "asterisk"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_deb(path: Path, expected: dict) -> None:
    """Raise ``ValueError`` unless ``path`` has the size and SHA-256 in ``expected``."""
    size = path.stat().st_size
    if size != expected["size"]:
        raise ValueError(f"{path.name}: {size} bytes, expected {expected['size']} (packages.json)")
    digest = _sha256(path)
    if digest != expected["sha256"]:
        raise ValueError(
            f"{path.name}: sha256 {digest} does not match packages.json's {expected['sha256']}"
        )


def _bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _download(
    package: str, version: str, into: Path, on_bytes: Callable[[int], None] = lambda n: None
) -> Path:
    """``apt-get download`` into ``into``; ``on_bytes`` hears the bytes written so far."""
    if shutil.which("apt-get") is None:
        raise RuntimeError(
            "apt-get is not available: download the .deb files named in data/packages.json "
            "yourself and pass their folder with --debs"
        )
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(
            ["apt-get", "download", f"{package}={version}"],
            cwd=into,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            text=True,
        )
        while process.poll() is None:
            on_bytes(_bytes_under(into))
            time.sleep(0.25)
        on_bytes(_bytes_under(into))
        errors.seek(0)
        stderr = errors.read()
    if process.returncode != 0:
        raise RuntimeError(
            f"apt-get download {package}={version} failed (run `apt-get update` first?):\n"
            f"{stderr.strip()}"
        )
    found = sorted(into.glob(f"{package}_*.deb"))
    if not found:
        raise RuntimeError(f"apt-get download {package} wrote no .deb in {into}")
    return found[0]


def fetch_corpus(
    cache: Path | None = None,
    languages: list[str] | None = None,
    debs: Path | None = None,
    packages_json: Path | None = None,
    log: Callable[[str], None] | None = None,
    quiet: bool = False,
) -> dict[str, int]:
    """Fetch, verify and unpack each language; return the WAV count per language.

    A language whose folder is complete (a ``.complete`` marker written last)
    is left as it is, so an interrupted fetch resumes where it stopped.

    Progress (bytes of the packages, elapsed time, time left) is printed unless
    ``quiet``; ``log``, when given, takes the messages instead.
    """
    from framebank.audio import corpus_dir

    packages_json = packages_json or corpus_dir() / "packages.json"
    catalogue = json.loads(Path(packages_json).read_text())["languages"]
    languages = languages or sorted(catalogue)
    unknown = [lang for lang in languages if lang not in catalogue]
    if unknown:
        raise ValueError(f"unknown language(s) {unknown}. Accepted: {', '.join(sorted(catalogue))}")
    cache = Path(cache or default_cache())
    cache.mkdir(parents=True, exist_ok=True)
    todo = [lang for lang in languages if not (cache / lang / ".complete").exists()]
    # Progress in bytes of the packages: downloads counted as they grow, a package
    # already at hand (--debs) when it is unpacked.
    progress = Progress(
        sum(catalogue[lang]["size"] for lang in todo),
        quiet=quiet,
        description="framebank data fetch",
        unit="MB",
        scale=1e-6,
    )
    say = log or (lambda message: progress.log(message, timing=True))
    counts = {}
    with progress:
        for lang in languages:
            counts[lang] = _fetch_language(lang, catalogue[lang], cache, debs, progress, say)
    return counts


def _fetch_language(
    lang: str,
    entry: dict,
    cache: Path,
    debs: Path | None,
    progress: Progress,
    log: Callable[[str], None],
) -> int:
    """Fetch, verify and unpack one language into ``cache/lang``; return its WAV count."""
    target = cache / lang
    if (target / ".complete").exists():
        count = len(list(target.rglob("*.wav")))
        log(f"{lang}: already complete ({count} files)")
        return count
    counted = 0

    def downloaded(size: int) -> None:
        nonlocal counted
        size = min(size, entry["size"])
        if size > counted:
            progress.step(size - counted)
            counted = size

    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        scratch = Path(scratch)
        deb = debs / entry["deb"] if debs else None
        if deb is None or not deb.exists():
            log(f"{lang}: downloading {entry['package']}={entry['version']}")
            deb = _download(entry["package"], entry["version"], scratch, downloaded)
        verify_deb(deb, entry)
        unpacked = scratch / "root"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
        sounds = unpacked / entry["sounds_dir"]
        if not sounds.is_dir():
            raise ValueError(f"{deb.name} holds no {entry['sounds_dir']}")
        staged = scratch / "staged"
        manifest = []
        for wav in sorted(sounds.rglob("*.wav")):
            relative = wav.relative_to(sounds)
            (staged / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(wav), staged / relative)
            manifest.append({"path": str(relative), "sha256": _sha256(staged / relative)})
        files.write_json(staged / "manifest.json", {"package": entry, "files": manifest})
        if target.exists():
            shutil.rmtree(target)  # an incomplete earlier attempt
        shutil.move(str(staged), target)
        (target / ".complete").write_text(entry["sha256"] + "\n")
    downloaded(entry["size"])
    log(f"{lang}: {len(manifest)} files, {entry['licence']}, {entry['speaker']}")
    return len(manifest)
