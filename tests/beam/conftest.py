"""The Beam suite needs the optional extra (requirements-beam.txt). Without apache-beam
in the venv, the ``test_beam_*`` modules are not collected and ``test_extra.py`` says
so with a skip; CI runs the suite in its own venv (``.ci/run``: ``.venv-beam``)."""

import importlib.util

if importlib.util.find_spec("apache_beam") is None:
    collect_ignore_glob = ["test_beam_*.py"]
