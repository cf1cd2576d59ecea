"""Is the Beam extra here, and is it the pinned version?"""

import importlib.util
from pathlib import Path

import pytest

HOW = (
    "apache-beam is not installed in this venv: the Beam tests run in their own venv "
    "(python3 -m venv .venv-beam && .venv-beam/bin/pip install -r requirements-beam.txt && "
    ".venv-beam/bin/python -m pytest tests/beam), as .ci/run does"
)


def test_the_pinned_apache_beam_is_installed():
    if importlib.util.find_spec("apache_beam") is None:
        pytest.skip(HOW)
    import apache_beam

    pins = Path(__file__).resolve().parents[2].joinpath("requirements-beam.txt").read_text()
    assert f"apache-beam=={apache_beam.__version__}" in pins
