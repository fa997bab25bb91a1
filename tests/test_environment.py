"""environment.yml (conda) and pyproject.toml (pip) must name the same packages."""

import re

import tomllib

from n2n_utils.config import ROOT

CONDA_TO_PIP = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_names = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    conda_names = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        line = line.split("#")[0].rstrip()
        m = re.match(r"^\s+- ([A-Za-z0-9_.][^:]*)$", line)  # conda entries and pip entries, not "-e ."
        if m:
            conda_names.add(CONDA_TO_PIP.get(_name(m.group(1)), _name(m.group(1))))
    assert conda_names - NOT_PACKAGES == pip_names
