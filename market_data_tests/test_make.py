"""What the README's two commands would run on a fresh machine (``make -n -B``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def planned(target: str) -> str:
    return subprocess.run(
        ["make", "-n", "-B", target], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


def test_the_demo_installs_no_browser_and_the_tests_do():
    demo, test = planned("demo"), planned("test")
    assert "install-system-packages.sh" in demo and "--browser" not in demo
    assert "install-system-packages.sh --browser" in test
    assert "'.[dev,local]'" in demo  # the stand-ins of the embedded default


def test_the_test_command_prints_its_wall_time():
    assert 'echo "make test: ' in planned("test")


def test_the_screenshots_install_the_browser_and_clean_keeps_them():
    screenshots = planned("screenshots")
    assert "install-system-packages.sh --browser" in screenshots
    assert "-m market_data_local.screenshots" in screenshots
    assert "docs" not in planned("clean")  # README's pictures are tracked, not build output
