"""`framebank data fetch`: verification and unpacking, on a small .deb made here."""

import hashlib
import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from framebank import cli
from framebank.audio import scan_folder
from framebank.corpus import fetch_corpus

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")


def _make_deb(tmp_path):
    root = tmp_path / "pkg"
    sounds = root / "usr/share/asterisk/sounds/xx_XX_f_Test"
    (sounds / "digits").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("hello.wav", "digits/1.wav", "digits/2.wav"):
        sf.write(sounds / name, 0.1 * rng.standard_normal(4000), 8000, subtype="PCM_16")
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN/control").write_text(
        "Package: test-sounds\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: test\n"
    )
    debs = tmp_path / "debs"
    debs.mkdir()
    deb = debs / "test-sounds_1.0_all.deb"
    subprocess.run(
        ["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)],
        check=True,
        capture_output=True,
    )
    entry = {
        "package": "test-sounds",
        "version": "1.0",
        "deb": deb.name,
        "sha256": hashlib.sha256(deb.read_bytes()).hexdigest(),
        "size": deb.stat().st_size,
        "sounds_dir": "usr/share/asterisk/sounds/xx_XX_f_Test",
        "speaker": "Test",
        "licence": "CC0",
    }
    catalogue = tmp_path / "packages.json"
    catalogue.write_text(json.dumps({"languages": {"xx": entry}}))
    return debs, catalogue


def test_fetch_verifies_unpacks_and_resumes(tmp_path):
    debs, catalogue = _make_deb(tmp_path)
    cache = tmp_path / "cache"
    counts = fetch_corpus(cache, debs=debs, packages_json=catalogue, log=lambda _: None)
    assert counts == {"xx": 3}
    clips = scan_folder(cache)
    assert sorted(c.prompt for c in clips) == ["digits/1", "digits/2", "hello"]
    assert {c.language for c in clips} == {"xx"}
    manifest = json.loads((cache / "xx" / "manifest.json").read_text())
    for item in manifest["files"]:
        data = (cache / "xx" / item["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"]
    messages = []
    fetch_corpus(cache, debs=debs, packages_json=catalogue, log=messages.append)
    assert "already complete" in messages[0]


def test_fetch_rejects_a_tampered_deb(tmp_path):
    debs, catalogue = _make_deb(tmp_path)
    deb = next(debs.glob("*.deb"))
    data = bytearray(deb.read_bytes())
    data[-10] ^= 0xFF
    deb.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        fetch_corpus(tmp_path / "cache", debs=debs, packages_json=catalogue, log=lambda _: None)
    assert not (tmp_path / "cache" / "xx" / ".complete").exists()


def test_fetch_unknown_language(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown language.*en"):
        fetch_corpus(tmp_path, ["zz"], log=lambda _: None)
    # At the command line: one line, before anything is fetched (it was a traceback).
    assert cli.main(["data", "fetch", "--cache", str(tmp_path / "c"), "--languages", "zz"]) == 2
    assert "unknown zz. Accepted: en" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_fetch_shows_progress_unless_quiet(tmp_path, capsys):
    debs, catalogue = _make_deb(tmp_path)
    fetch_corpus(tmp_path / "a", debs=debs, packages_json=catalogue)
    lines = capsys.readouterr().out.splitlines()
    assert lines and "xx: 3 files" in lines[-1], lines
    assert "[100% · " in lines[-1] and " elapsed · ~0:00 left]" in lines[-1]
    fetch_corpus(tmp_path / "b", debs=debs, packages_json=catalogue, quiet=True)
    assert capsys.readouterr().out == ""
    assert (tmp_path / "b" / "xx" / ".complete").exists()
