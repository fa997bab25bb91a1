"""requirements.lock (pip, exact versions), environment.yml (conda) and pyproject.toml agree."""

import re
import sys

import tomllib

from n2n_utils.config import ROOT

sys.path.insert(0, str(ROOT / "tools"))
from lock import pins  # noqa: E402  (tools/ is not a package)


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _lock() -> dict[str, str]:
    return dict(pin.split("==", 1) for pin in pins((ROOT / "requirements.lock").read_text()))


def test_lock_pins_every_dependency_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = _lock()
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", name) and re.fullmatch(r"[0-9][0-9A-Za-z.]*", version)
               for name, version in lock.items()), "requirements.lock holds only name==version lines"
    missing = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]} - set(lock)
    assert not missing, f"requirements.lock lacks {sorted(missing)}: run `make lock`"


def test_environment_yml_is_the_lock():
    text = (ROOT / "environment.yml").read_text()
    pip = [line.strip()[2:] for line in text.split("- pip:", 1)[1].splitlines() if line.strip().startswith("- ")]
    assert pip[-1] == "-e ."
    assert dict(pin.split("==", 1) for pin in pip[:-1]) == _lock(), "environment.yml is stale: run `make lock`"


def test_make_install_puts_the_locked_torch_first():
    makefile = (ROOT / "Makefile").read_text()
    torch = re.search(r"pip install --quiet torch==(\S+)", makefile).group(1)
    assert torch == _lock()["torch"]
    assert makefile.index("torch==") < makefile.index("-r requirements.lock")


def test_license_and_citation_agree_with_pyproject():
    import yaml

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert (ROOT / "LICENSE").read_text().startswith(f"{project['license']['text']} License")
    assert (citation["license"], citation["version"]) == (project["license"]["text"], project["version"])
    assert {"Noise2Noise: Learning Image Restoration without Clean Data",
            "Deep Learning Mini-project 1: Noise2Noise model"} <= {ref["title"] for ref in citation["references"]}


def test_the_package_docstring_and_the_readme_layout_name_every_module():
    import pkgutil

    import n2n_utils

    modules = {m.name for m in pkgutil.iter_modules(n2n_utils.__path__)} - {"__main__"}
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("```")[1]
    for where, text in (("n2n_utils/__init__.py's docstring", n2n_utils.__doc__), ("README's Layout", layout)):
        missing = sorted(m for m in modules if not re.search(rf"(?<![\w-]){m}\b", text))
        assert not missing, f"{where} does not name {missing}"


def test_pyproject_packages_every_subpackage():
    """An editable install finds every subpackage; a wheel (pip install .) holds only those that
    pyproject lists: a new one left out imports here and fails for a user (n2n_utils.report, a
    package since the report was split, was added by hand)."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "n2n_utils").rglob("__init__.py")}
    assert on_disk == listed, f"pyproject's packages: add {sorted(on_disk - listed)}, drop {sorted(listed - on_disk)}"
