"""Build framebank's small multilingual speech corpus (``data/``) from Debian's Asterisk prompts.

The source is the ``asterisk-core-sounds-<lang>-wav`` Debian packages (en, es, fr, it, ru):
real recordings of telephone prompts, 8 kHz mono 16-bit WAV. The script

1. takes the five ``.deb`` files from ``--debs DIR`` (any that are missing are fetched there
   with ``apt-get download``; without ``--debs`` they are fetched into a temporary folder),
2. reads them in pure Python (``ar`` + ``tar``; no ``dpkg`` needed) and checks that every
   ``.deb`` matches the SHA-256 that ``apt-cache`` reports, where ``apt-cache`` knows it,
3. keeps the prompts that exist in all five languages, leaving out ``silence/``, non-speech
   tones and anything shorter than 0.3 s in any language,
4. orders them by the SHA-256 of the prompt name and keeps the first K, with K as large as
   fits ``--max-mb`` (every file counted in whole 4 KiB blocks, so ``du`` agrees),
5. writes ``audio/<lang>/<prompt>.flac`` (lossless, 16-bit, 8 kHz mono), ``manifest.csv``,
   ``packages.json``, ``README.md`` and a verbatim copy of the packages' copyright file,
6. reads every written file back and checks its samples and SHA-256.

Run from the repository root::

    python tools/make_corpus.py                      # downloads the .debs itself
    python tools/make_corpus.py --debs /tmp/asterisk # reuse (or fill) a folder of .debs

The FLAC bytes (and so the hashes in ``manifest.csv``) depend on the libFLAC version that
libsndfile uses; the README records the one used.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import platform
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

LANGUAGES: tuple[str, ...] = ("en", "es", "fr", "it", "ru")
PACKAGE_TEMPLATE = "asterisk-core-sounds-{lang}-wav"
SOUNDS_ROOT = "usr/share/asterisk/sounds/"
COPYRIGHT_TEMPLATE = "usr/share/doc/{package}/copyright"
ARCHIVE_URL = "https://deb.debian.org/debian/"

SAMPLE_RATE = 8000
MIN_SECONDS = 0.3
EXCLUDED_DIRS: tuple[str, ...] = ("silence/",)
# Prompts that are tones rather than speech (the two-tone ones are also under 0.3 s).
NON_SPEECH: frozenset[str] = frozenset({"beep", "beeperr", "ascending-2tone", "descending-2tone"})
BLOCK = 4096  # bytes; files are counted in whole blocks against --max-mb

# Manifest ``speaker`` value per language. en and es are the same voice (Allison Smith): the
# copyright file has no ``es-*`` stanza, so es falls under ``Files: *``, and the package
# description and voice folder (es_MX_f_Allison) say the same. The Russian set is credited
# "Provided by: Maxim Topal" (ivrvoice.ru) and its voice folder is ru_RU_f_IvrvoiceRU (a
# female voice); the voice artist is not named, so the voice is called by its folder name.
SPEAKERS: dict[str, str] = {
    "en": "Allison Smith",
    "es": "Allison Smith",
    "fr": "June Wallack",
    "it": "Carlo Flora",
    "ru": "IvrvoiceRU",
}
# A name that must appear in the copyright stanza that covers each language (sanity check).
CREDITED: dict[str, str] = {
    "en": "Allison Smith",
    "es": "Allison Smith",
    "fr": "June Wallack",
    "it": "Carlo Flora",
    "ru": "Maxim Topal",
}
LICENCE_URLS: dict[str, str] = {
    "CC-BY-SA-3.0": "https://creativecommons.org/licenses/by-sa/3.0/",
    "CC-BY-3.0": "https://creativecommons.org/licenses/by/3.0/",
}
COPYRIGHT_COPY = "COPYRIGHT-asterisk-core-sounds.txt"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# Debian packages
# --------------------------------------------------------------------------------------------


@dataclass
class Stanza:
    """One paragraph of a machine-readable (DEP-5) copyright file."""

    fields: dict[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name.lower(), "")


@dataclass
class Package:
    lang: str
    name: str
    version: str
    source: str
    description: str
    deb: Path
    sha256: str
    size: int
    voice_dir: str
    copyright_text: str
    wavs: dict[str, bytes] = field(repr=False)  # prompt name (no extension) -> WAV bytes

    @property
    def url(self) -> str:
        prefix = self.source[:4] if self.source.startswith("lib") else self.source[0]
        return f"{ARCHIVE_URL}pool/main/{prefix}/{self.source}/{self.deb.name}"


def ar_members(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Yield (name, payload) for each member of a Unix ``ar`` archive (the .deb container)."""
    if not data.startswith(b"!<arch>\n"):
        raise ValueError("not an ar archive")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        pos += 60
        yield name, data[pos : pos + size]
        pos += size + (size % 2)


def open_tar(name: str, payload: bytes) -> tarfile.TarFile:
    if name.endswith(".zst"):
        raise ValueError(f"{name}: zstd-compressed members are not supported (Debian uses xz)")
    return tarfile.open(fileobj=io.BytesIO(payload), mode="r:*")


def parse_control(text: str) -> dict[str, str]:
    """Fields of a deb822 paragraph; continuation lines are joined with single spaces."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line[:1].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip()
            fields[key] = value.strip()
    return fields


def read_deb(path: Path, lang: str) -> Package:
    """Read a package's metadata, copyright file and WAV prompts straight from the .deb."""
    data = path.read_bytes()
    control: dict[str, str] = {}
    copyright_text = ""
    wavs: dict[str, bytes] = {}
    voice_dirs: set[str] = set()
    package = PACKAGE_TEMPLATE.format(lang=lang)
    for name, payload in ar_members(data):
        if name.startswith("control.tar"):
            with open_tar(name, payload) as tar:
                member = tar.extractfile("./control")
                assert member is not None
                control = parse_control(member.read().decode("utf-8"))
        elif name.startswith("data.tar"):
            with open_tar(name, payload) as tar:
                for info in tar:
                    member_path = info.name.removeprefix("./")
                    if not info.isfile():
                        continue
                    if member_path == COPYRIGHT_TEMPLATE.format(package=package):
                        copyright_text = _read_member(tar, info).decode("utf-8")
                    elif member_path.startswith(SOUNDS_ROOT) and member_path.endswith(".wav"):
                        voice_dir, _, rel = member_path[len(SOUNDS_ROOT) :].partition("/")
                        voice_dirs.add(voice_dir)
                        wavs[rel.removesuffix(".wav")] = _read_member(tar, info)
    if control.get("Package") != package:
        raise ValueError(f"{path.name}: expected package {package}, got {control.get('Package')}")
    if len(voice_dirs) != 1:
        raise ValueError(f"{path.name}: expected one voice folder, found {sorted(voice_dirs)}")
    if not copyright_text:
        raise ValueError(f"{path.name}: no copyright file")
    return Package(
        lang=lang,
        name=package,
        version=control["Version"],
        source=control.get("Source", package).split()[0],
        description=control.get("Description", ""),
        deb=path,
        sha256=sha256_bytes(data),
        size=len(data),
        voice_dir=voice_dirs.pop(),
        copyright_text=copyright_text,
        wavs=wavs,
    )


def _read_member(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(info)
    assert handle is not None
    return handle.read()


def find_or_download_debs(deb_dir: Path) -> dict[str, Path]:
    deb_dir.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    for lang in LANGUAGES:
        package = PACKAGE_TEMPLATE.format(lang=lang)
        matches = sorted(deb_dir.glob(f"{package}_*.deb"))
        if not matches:
            log(f"apt-get download {package} (into {deb_dir})")
            subprocess.run(["apt-get", "download", package], cwd=deb_dir, check=True)
            matches = sorted(deb_dir.glob(f"{package}_*.deb"))
        if len(matches) != 1:
            raise SystemExit(f"expected exactly one {package}_*.deb in {deb_dir}, got {matches}")
        found[lang] = matches[0]
    return found


def apt_cache_fields(package: str, version: str) -> dict[str, str] | None:
    """The archive index's record for package=version, or None where apt-cache can't say."""
    if shutil.which("apt-cache") is None:
        return None
    result = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", f"{package}={version}"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not result.stdout.strip():
        return None
    return parse_control(result.stdout.split("\n\n")[0])


def check_against_archive(pkg: Package) -> None:
    record = apt_cache_fields(pkg.name, pkg.version)
    if record is None:
        log(f"  {pkg.deb.name}: apt-cache has no record; sha256 not cross-checked")
        return
    if record.get("SHA256") != pkg.sha256 or int(record.get("Size", -1)) != pkg.size:
        raise SystemExit(f"{pkg.deb.name}: sha256/size differ from the apt index")
    if not pkg.url.endswith(record.get("Filename", "")):
        raise SystemExit(f"{pkg.deb.name}: pool path {record.get('Filename')} != {pkg.url}")
    log(f"  {pkg.deb.name}: sha256 and size match the apt index")


def parse_dep5(text: str) -> list[Stanza]:
    """Split a DEP-5 copyright file into stanzas; continuation lines keep their text verbatim."""
    stanzas: list[Stanza] = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields:
            stanzas.append(Stanza(fields))
    return stanzas


def stanza_for(stanzas: list[Stanza], lang: str) -> Stanza:
    """The ``Files:`` stanza covering a language (``<lang>-*``, else the ``*`` catch-all)."""
    by_pattern = {s.get("files"): s for s in stanzas if s.get("files")}
    return by_pattern.get(f"{lang}-*") or by_pattern["*"]


def field_lines(value: str) -> list[str]:
    """A DEP-5 field's text as lines: one leading space dropped, a lone '.' is an empty line."""
    lines = value.split("\n")
    out = [lines[0]] if lines[0] else []
    for line in lines[1:]:
        line = line[1:] if line.startswith(" ") else line
        out.append("" if line.strip() == "." else line)
    return out


# --------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------


@dataclass
class Clip:
    lang: str
    prompt: str
    samples: np.ndarray = field(repr=False)

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def decode_wav(data: bytes, where: str) -> np.ndarray:
    with sf.SoundFile(io.BytesIO(data)) as f:
        if f.samplerate != SAMPLE_RATE or f.channels != 1 or f.subtype != "PCM_16":
            raise ValueError(
                f"{where}: {f.samplerate} Hz, {f.channels} ch, {f.subtype}; "
                f"expected {SAMPLE_RATE} Hz mono PCM_16"
            )
        return f.read(dtype="int16")


def encode_flac(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, SAMPLE_RATE, subtype="PCM_16", format="FLAC", compression_level=1.0)
    data = buffer.getvalue()
    back, rate = sf.read(io.BytesIO(data), dtype="int16")
    if rate != SAMPLE_RATE or not np.array_equal(back, samples):
        raise RuntimeError("FLAC round trip is not lossless")
    return data


def flac_vendor(data: bytes) -> str:
    """The encoder's vendor string from a FLAC file's VORBIS_COMMENT block."""
    pos = 4
    while pos + 4 <= len(data):
        header = data[pos]
        length = int.from_bytes(data[pos + 1 : pos + 4], "big")
        if header & 0x7F == 4:
            (vendor_len,) = struct.unpack("<I", data[pos + 4 : pos + 8])
            return data[pos + 8 : pos + 8 + vendor_len].decode("utf-8")
        if header & 0x80:
            break
        pos += 4 + length
    return "unknown"


# --------------------------------------------------------------------------------------------
# Selection and outputs
# --------------------------------------------------------------------------------------------


@dataclass
class Selection:
    full_counts: dict[str, int]
    common: list[str]
    candidates: list[str]  # ordered by sha256 of the prompt name
    excluded_short: list[str]
    excluded_non_speech: list[str]
    excluded_silence: int
    clips: dict[tuple[str, str], Clip] = field(repr=False)
    flacs: dict[tuple[str, str], bytes] = field(repr=False)


def prompt_order(prompt: str) -> tuple[str, str]:
    return sha256_bytes(prompt.encode("utf-8")), prompt


def select(packages: dict[str, Package]) -> Selection:
    names = [set(pkg.wavs) for pkg in packages.values()]
    common = sorted(set.intersection(*names))
    clips: dict[tuple[str, str], Clip] = {}
    for lang, pkg in packages.items():
        for prompt in common:
            samples = decode_wav(pkg.wavs[prompt], f"{lang}/{prompt}.wav")
            clips[lang, prompt] = Clip(lang, prompt, samples)
    silence = [p for p in common if p.startswith(EXCLUDED_DIRS)]
    non_speech = [p for p in common if p in NON_SPEECH]
    short = [
        p
        for p in common
        if p not in silence
        and p not in non_speech
        and any(clips[lang, p].seconds < MIN_SECONDS for lang in packages)
    ]
    dropped = set(silence) | set(non_speech) | set(short)
    candidates = sorted((p for p in common if p not in dropped), key=prompt_order)
    log(f"{len(common)} prompts in all languages, {len(candidates)} candidates; encoding FLAC")
    flacs = {
        (lang, p): encode_flac(clips[lang, p].samples) for lang in packages for p in candidates
    }
    return Selection(
        full_counts={lang: len(pkg.wavs) for lang, pkg in packages.items()},
        common=common,
        candidates=candidates,
        excluded_short=short,
        excluded_non_speech=non_speech,
        excluded_silence=len(silence),
        clips=clips,
        flacs=flacs,
    )


def audio_path(lang: str, prompt: str) -> str:
    return f"audio/{lang}/{prompt}.flac"


def manifest_csv(sel: Selection, prompts: list[str], langs: list[str]) -> bytes:
    rows = [
        {
            "path": audio_path(lang, p),
            "language": lang,
            "speaker": SPEAKERS[lang],
            "prompt": p,
            "seconds": f"{sel.clips[lang, p].seconds:.3f}",
            "sample_rate": SAMPLE_RATE,
            "sha256": sha256_bytes(sel.flacs[lang, p]),
        }
        for lang in langs
        for p in prompts
    ]
    rows.sort(key=lambda row: row["path"])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def licence_of(stanza: Stanza) -> str:
    return stanza.get("license").split("\n")[0].strip()


def packages_json(packages: dict[str, Package], stanzas: list[Stanza]) -> bytes:
    languages = {}
    for lang, pkg in packages.items():
        stanza = stanza_for(stanzas, lang)
        licence = licence_of(stanza)
        languages[lang] = {
            "package": pkg.name,
            "version": pkg.version,
            "source_package": pkg.source,
            "deb": pkg.deb.name,
            "sha256": pkg.sha256,
            "size": pkg.size,
            "url": pkg.url,
            "sounds_dir": SOUNDS_ROOT + pkg.voice_dir,
            "wav_files": len(pkg.wavs),
            "speaker": SPEAKERS[lang],
            "licence": licence,
            "licence_url": LICENCE_URLS.get(licence, ""),
            "copyright": stanza.get("copyright"),
            "credit": "\n".join(field_lines(stanza.get("comment"))).strip("\n"),
        }
    doc = {
        "description": "Debian packages the framebank speech corpus was cut from",
        "archive": ARCHIVE_URL,
        "languages": languages,
    }
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def readme(
    sel: Selection,
    packages: dict[str, Package],
    stanzas: list[Stanza],
    prompts: list[str],
    max_mb: float,
    vendor: str,
) -> bytes:
    langs = list(packages)
    n = len(prompts)
    out: list[str] = []
    add = out.append
    add("# framebank speech corpus\n")
    add(
        "A small multilingual corpus of real speech for framebank's tests, examples and "
        "benchmarks: telephone prompts from the Asterisk PBX core sound set, recorded in "
        "English, Spanish, French, Italian and Russian (four voices: en and es share one). Every "
        "language has the **same prompt set** (e.g. `digits/7`, `vm-login`), so each prompt "
        "exists once per language. Audio is lossless FLAC, 16-bit, 8 kHz mono, exactly the "
        "samples of the packaged WAV files.\n"
    )
    add("## Contents\n")
    add("| language | speaker | files | seconds | licence |")
    add("|---|---|---:|---:|---|")
    total_seconds = 0.0
    for lang in langs:
        seconds = sum(sel.clips[lang, p].seconds for p in prompts)
        total_seconds += seconds
        licence = licence_of(stanza_for(stanzas, lang))
        add(f"| {lang} | {SPEAKERS[lang]} | {n} | {seconds:.1f} | {licence} |")
    add(f"| **all** | | **{n * len(langs)}** | **{total_seconds:.1f}** | |\n")
    add(
        "- `audio/<language>/<prompt>.flac`: the clips, in the packages' folder layout.\n"
        "- `manifest.csv`: one row per clip, sorted by `path`. Columns: `path` (relative to "
        "this folder), `language`, `speaker`, `prompt` (the prompt name without language or "
        "extension, the same across languages), `seconds` (3 decimals), `sample_rate`, "
        "`sha256` (of the FLAC file).\n"
        "- `packages.json`: the Debian packages used (name, version, `.deb` file, its "
        "SHA-256 and size, pool URL, speaker, licence, credit), for fetching and verifying "
        "the full sets later.\n"
        f"- `{COPYRIGHT_COPY}`: the packages' Debian copyright file, verbatim (identical in "
        "all five packages), with the full licence texts.\n"
    )
    seconds_by_lang = {lang: sum(sel.clips[lang, p].seconds for p in prompts) for lang in langs}
    longest = max(seconds_by_lang, key=seconds_by_lang.__getitem__)
    shortest = min(seconds_by_lang, key=seconds_by_lang.__getitem__)
    add(
        "The same prompts take different time to say: from "
        f"{seconds_by_lang[shortest]:.1f} s ({shortest}) to "
        f"{seconds_by_lang[longest]:.1f} s ({longest}).\n"
    )
    add("## Speakers, credits and licences\n")
    add(
        "Each clip keeps the licence of the package it came from. The copyright file is the "
        "same in all five packages; its `Files:` patterns (`fr-*`, `ru-*`, `it-*`) mark the "
        "per-language parts of the source package, and there is no `es-*` stanza, so the "
        "Spanish set falls under `Files: *` with the English one. "
        "**en and es are the same voice artist, Allison Smith**: both are under `Files: *`, "
        'the es package description says "Spanish (MX, by Allison Smith)" and its voice '
        'folder is `es_MX_f_Allison`. The Russian set is credited "Provided by: Maxim Topal"; '
        "its voice folder is `ru_RU_f_IvrvoiceRU` (the `f` marks a female voice, as in "
        "`en_US_f_Allison`; `it_IT_m_Carlo` is male) and the voice artist is not "
        "named, so the manifest calls that speaker `IvrvoiceRU`.\n"
    )
    for lang in langs:
        pkg = packages[lang]
        stanza = stanza_for(stanzas, lang)
        licence = licence_of(stanza)
        add(f"### {lang}: {SPEAKERS[lang]} (`{pkg.voice_dir}`)\n")
        add(f"- Copyright file stanza: `Files: {stanza.get('files')}`")
        add(f"- Copyright: {stanza.get('copyright')}")
        add(f"- Licence: {licence} ({LICENCE_URLS.get(licence, 'see copyright file')})")
        add("- Credit, verbatim from the copyright file:\n")
        add("```text")
        add("\n".join(field_lines(stanza.get("comment"))).strip("\n"))
        add("```\n")
    add(
        "Changes made to the original work: a subset of the prompts was selected and the WAV "
        "files were converted losslessly to FLAC; the audio samples are unchanged. The "
        "framebank code licence (Apache-2.0) does not apply to these recordings.\n"
    )
    add("## Source packages\n")
    add("| language | package | version | .deb | size (bytes) | sha256 |")
    add("|---|---|---|---|---:|---|")
    for lang, pkg in packages.items():
        add(
            f"| {lang} | {pkg.name} | {pkg.version} | {pkg.deb.name} | {pkg.size} | "
            f"`{pkg.sha256}` |"
        )
    add("")
    add(
        f"Pool URLs are in `packages.json` (under {ARCHIVE_URL}; "
        "https://snapshot.debian.org keeps old versions). Check a download with "
        "`sha256sum <file>.deb` against the table.\n"
    )
    add("## How it was made\n")
    add("```sh\npython tools/make_corpus.py  # options: --debs DIR --out data --max-mb 12\n```\n")
    silence = sel.excluded_silence
    add(
        "1. Read the five `.deb` files (full sets: "
        + ", ".join(f"{lang} {sel.full_counts[lang]}" for lang in langs)
        + " WAV files); every one is 8 kHz mono 16-bit PCM.\n"
        f"2. Keep prompts present in all five languages ({len(sel.common)}); drop "
        f"`silence/` ({silence}), non-speech tones "
        f"({', '.join(f'`{p}`' for p in sel.excluded_non_speech) or 'none'}) and prompts "
        f"shorter than {MIN_SECONDS} s in any language "
        f"({', '.join(f'`{p}`' for p in sel.excluded_short) or 'none'}): "
        f"{len(sel.candidates)} candidates.\n"
        "3. Sort candidates by the SHA-256 of the prompt name (hex) and keep the first "
        f"K = {n}, the most that fit {max_mb:g} MB (10^6 bytes) with every file in this "
        f"folder counted in whole {BLOCK}-byte blocks.\n"
        "4. Encode FLAC (compression level 8) and check that each decodes to the original "
        "samples.\n"
    )
    add(
        f"FLAC encoder: libsndfile {sf.__libsndfile_version__} (`{vendor}`), python-soundfile "
        f"{sf.__version__}, Python {platform.python_version()}. Another libFLAC version can "
        "produce different (equally lossless) bytes and so different `sha256` values.\n"
    )
    return "\n".join(out).encode("utf-8")


def block_size(nbytes: int) -> int:
    return -(-nbytes // BLOCK) * BLOCK


def build_outputs(
    sel: Selection,
    packages: dict[str, Package],
    stanzas: list[Stanza],
    k: int,
    max_mb: float,
    vendor: str,
) -> dict[str, bytes]:
    langs = list(packages)
    prompts = sel.candidates[:k]
    outputs = {audio_path(lang, p): sel.flacs[lang, p] for lang in langs for p in prompts}
    if prompts:
        outputs["manifest.csv"] = manifest_csv(sel, prompts, langs)
    outputs["packages.json"] = packages_json(packages, stanzas)
    outputs["README.md"] = readme(sel, packages, stanzas, prompts, max_mb, vendor)
    outputs[COPYRIGHT_COPY] = next(iter(packages.values())).copyright_text.encode("utf-8")
    return outputs


def disk_bytes(outputs: dict[str, bytes]) -> int:
    return sum(block_size(len(data)) for data in outputs.values())


def write_outputs(out: Path, outputs: dict[str, bytes]) -> None:
    shutil.rmtree(out / "audio", ignore_errors=True)
    for rel, data in outputs.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def verify(out: Path, sel: Selection) -> None:
    """Re-read the manifest and every FLAC on disk: readable, right hash, right samples."""
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        path = out / row["path"]
        data = path.read_bytes()
        if sha256_bytes(data) != row["sha256"]:
            raise SystemExit(f"{path}: sha256 mismatch")
        samples, rate = sf.read(path, dtype="int16")
        expected = sel.clips[row["language"], row["prompt"]].samples
        if rate != int(row["sample_rate"]) or not np.array_equal(samples, expected):
            raise SystemExit(f"{path}: samples differ from the source WAV")
        if f"{len(samples) / rate:.3f}" != row["seconds"]:
            raise SystemExit(f"{path}: duration differs from the manifest")
    on_disk = sorted(p.relative_to(out).as_posix() for p in (out / "audio").rglob("*.flac"))
    if on_disk != sorted(row["path"] for row in rows):
        raise SystemExit("audio files on disk differ from manifest.csv")
    log(f"verified {len(rows)} FLAC files against manifest.csv")


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--debs",
        type=Path,
        help="folder holding the .deb files (missing ones are fetched there with "
        "apt-get download); default: download into a temporary folder",
    )
    parser.add_argument("--out", type=Path, default=repo / "data", help="output folder")
    parser.add_argument(
        "--max-mb", type=float, default=12.0, help="size budget for --out in 10^6 bytes"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="asterisk-debs-") as tmp:
        deb_dir = args.debs if args.debs is not None else Path(tmp)
        debs = find_or_download_debs(deb_dir)
        packages: dict[str, Package] = {}
        for lang, path in debs.items():
            log(f"reading {path.name}")
            packages[lang] = read_deb(path, lang)
            check_against_archive(packages[lang])

    texts = {pkg.copyright_text for pkg in packages.values()}
    if len(texts) != 1:
        raise SystemExit("the packages' copyright files differ; extend the script to keep each")
    stanzas = parse_dep5(texts.pop())
    for lang in LANGUAGES:
        stanza = stanza_for(stanzas, lang)
        credit = stanza.get("copyright") + stanza.get("comment")
        if CREDITED[lang] not in credit or CREDITED[lang] not in packages[lang].description:
            raise SystemExit(f"{lang}: {CREDITED[lang]!r} not credited; review SPEAKERS")
        if licence_of(stanza) not in LICENCE_URLS:
            raise SystemExit(f"{lang}: unexpected licence {licence_of(stanza)!r}")
    if stanza_for(stanzas, "es") is not stanza_for(stanzas, "en"):
        raise SystemExit("es is no longer credited like en; review SPEAKERS and the README text")

    sel = select(packages)
    vendor = flac_vendor(next(iter(sel.flacs.values())))
    budget = int(args.max_mb * 1_000_000)

    def fits(k: int) -> bool:
        return disk_bytes(build_outputs(sel, packages, stanzas, k, args.max_mb, vendor)) <= budget

    lo, hi = 0, len(sel.candidates)  # largest k with fits(k): binary search (size grows with k)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    if lo == 0:
        raise SystemExit(f"not even one prompt fits in {args.max_mb} MB")
    outputs = build_outputs(sel, packages, stanzas, lo, args.max_mb, vendor)
    log(
        f"keeping {lo} of {len(sel.candidates)} prompts per language: "
        f"{len(outputs)} files, {disk_bytes(outputs) / 1e6:.2f} MB in blocks"
    )

    args.out.mkdir(parents=True, exist_ok=True)
    write_outputs(args.out, outputs)
    verify(args.out, sel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
