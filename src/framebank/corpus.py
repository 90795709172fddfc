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
from pathlib import Path

from framebank import files

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


def _download(package: str, version: str, into: Path) -> Path:
    if shutil.which("apt-get") is None:
        raise RuntimeError(
            "apt-get is not available: download the .deb files named in data/packages.json "
            "yourself and pass their folder with --debs"
        )
    done = subprocess.run(
        ["apt-get", "download", f"{package}={version}"],
        cwd=into,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"apt-get download {package}={version} failed (run `apt-get update` first?):\n"
            f"{done.stderr.strip()}"
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
    log=print,
) -> dict[str, int]:
    """Fetch, verify and unpack each language; return the WAV count per language.

    A language whose folder is complete (a ``.complete`` marker written last)
    is left as it is, so an interrupted fetch resumes where it stopped.
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
    counts = {}
    for lang in languages:
        entry = catalogue[lang]
        target = cache / lang
        if (target / ".complete").exists():
            counts[lang] = len(list(target.rglob("*.wav")))
            log(f"{lang}: already complete ({counts[lang]} files)")
            continue
        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            scratch = Path(scratch)
            deb = debs / entry["deb"] if debs else None
            if deb is None or not deb.exists():
                log(f"{lang}: downloading {entry['package']}={entry['version']}")
                deb = _download(entry["package"], entry["version"], scratch)
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
        counts[lang] = len(manifest)
        log(f"{lang}: {counts[lang]} files, {entry['licence']}, {entry['speaker']}")
    return counts
