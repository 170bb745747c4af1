"""The project image installs the operator's plugin packages: `make stack-wheels`
(infra/stack.py wheels) stages what infra/plugin-packages.txt lists in infra/wheels/plugins/,
and infra/Dockerfile builds and installs what is staged there, offline.

Tested without Docker: the staging for real on files, the Dockerfile's steps as text (the
image build itself runs in `make e2e`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

sys.path.insert(0, str(ROOT / "infra"))
import stack  # noqa: E402  (infra/stack.py)

EXAMPLE = "examples/plugins/mlstack-plugin-example"


def test_the_shipped_list_stages_the_example_package(tmp_path: Path) -> None:
    assert stack.plugin_packages() == [EXAMPLE]
    staged = stack.stage_plugins(dest=tmp_path / "plugins")
    assert staged == [f"{EXAMPLE} (source, built in the image)"]
    copy = tmp_path / "plugins" / "src" / "mlstack-plugin-example"
    assert (copy / "pyproject.toml").read_bytes() == (
        ROOT / EXAMPLE / "pyproject.toml"
    ).read_bytes()
    assert (copy / "mlstack_plugin_example" / "source.py").exists()
    assert not list(copy.rglob("__pycache__"))


def test_folders_wheels_and_requirements_are_staged_and_old_ones_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = tmp_path / "acme_notify-1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    listing = tmp_path / "plugin-packages.txt"
    listing.write_text(f"# comment\n\n{EXAMPLE}  # the example\n{wheel}\nacme-source==2.1\n")
    dest = tmp_path / "plugins"
    (dest / "src" / "removed-plugin").mkdir(parents=True)
    downloads: list[list[str]] = []

    def pip_download(cmd: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        # a package index cannot be reached from the tests: the command is what is checked
        downloads.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(stack.subprocess, "run", pip_download)
    staged = stack.stage_plugins(arch="x86_64", listing=listing, dest=dest)
    assert staged == [
        f"{EXAMPLE} (source, built in the image)",
        f"{wheel} (wheel)",
        "acme-source==2.1 (downloaded)",
    ]
    assert sorted(p.name for p in (dest / "src").iterdir()) == ["mlstack-plugin-example"]
    assert (dest / wheel.name).read_bytes() == b"PK"
    (cmd,) = downloads
    assert cmd[-3:] == ["acme-source==2.1", "-d", str(dest)]
    assert {"download", "--no-deps", "--only-binary=:all:", "--python-version=3.11"} <= set(cmd)
    assert "--platform=manylinux_2_36_x86_64" in cmd


def test_a_folder_without_pyproject_says_what_to_list(tmp_path: Path) -> None:
    (tmp_path / "notapackage").mkdir()
    listing = tmp_path / "plugin-packages.txt"
    listing.write_text(f"{tmp_path / 'notapackage'}\n")
    with pytest.raises(SystemExit, match="has no pyproject.toml; list a plugin package's folder"):
        stack.stage_plugins(listing=listing, dest=tmp_path / "plugins")


def test_the_image_builds_and_installs_the_staged_packages() -> None:
    dockerfile = (ROOT / "infra" / "Dockerfile").read_text()
    assert stack.PLUGIN_WHEELS == ROOT / "infra" / "wheels" / "plugins"
    assert "COPY infra/wheels/plugins/ /tmp/plugins/" in dockerfile
    assert 'pip wheel --quiet --no-deps --no-index --no-build-isolation -w /dist "$src"' in (
        dockerfile
    )
    runtime = dockerfile.split("# --- runtime")[1]
    assert "COPY --from=plugins /dist/ /tmp/plugins/" in runtime
    assert "pip install --quiet --no-cache-dir --no-index --find-links /tmp/plugins" in runtime
    # after mlstack itself, which the packages depend on
    assert runtime.index("/tmp/dist/*.whl") < runtime.index("--from=plugins")
    assert "!infra/wheels/" in (ROOT / ".dockerignore").read_text().splitlines()
    assert "stack-wheels" in (ROOT / "infra" / "stack.mk").read_text().split("stack-image:")[1]
