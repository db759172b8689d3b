"""Plugins as a new user writes them: one import line, defaults for cost and density, errors at
registration, one-line exit-2 messages for broken files, the worked zuko example and an entry-point
package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch

import fmbench
from fmbench.cli import main
from fmbench.method import FitCost, Method, MethodConfig, Posterior, setting
from fmbench.registry import METHODS, RegistryError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TINY_RUN = ["--budgets", "200", "--observations", "1", "--num-samples", "300", "--coverage-pairs", "0"]


def test_one_import_line_has_what_a_plugin_needs() -> None:
    for name in fmbench.__all__:
        assert getattr(fmbench, name) is not None, name
    from fmbench import METHODS as methods
    from fmbench import FitContext, Method, MethodConfig, Posterior, setting  # noqa: F401

    assert methods is METHODS
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        fmbench.nope  # noqa: B018


def test_a_posterior_has_a_density_when_it_overrides_log_prob_and_a_default_cost() -> None:
    class SampleOnly(Posterior):
        def sample(self, n, x_o):
            return torch.zeros(n, 1)

    class WithDensity(SampleOnly):
        def log_prob(self, theta, x_o):
            return torch.zeros(len(theta))

    class SaysNo(WithDensity):
        has_log_prob = False

    assert not SampleOnly.has_log_prob and WithDensity.has_log_prob and not SaysNo.has_log_prob
    assert SampleOnly().cost == FitCost() and SampleOnly().passes_per_sample is None


@dataclass(frozen=True)
class _Config(MethodConfig):
    width: int = setting(8, "a width")


class _NotFrozen(MethodConfig):  # inherits the dataclass machinery, but is not a dataclass of its own
    width: int = 8


@dataclass(frozen=True)
class _NoDefault(MethodConfig):
    width: int


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"Config": _Config}, "does not implement fit"),
        ({"Config": dict, "fit": lambda *a: None}, "must be a MethodConfig subclass"),
        ({"Config": _NotFrozen, "fit": lambda *a: None}, "must be decorated with @dataclass(frozen=True)"),
        ({"Config": _NoDefault, "fit": lambda *a: None}, "Config() failed: TypeError"),
    ],
)
def test_an_incomplete_method_fails_at_registration(attributes, message) -> None:
    cls = type("Incomplete", (Method,), attributes)
    with pytest.raises(RegistryError, match=f"^method 'incomplete': .*{_escape(message)}"):
        METHODS.add("incomplete", cls)
    assert "incomplete" not in METHODS


def _escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def broken(:\n    pass\n", "failed at line 1: SyntaxError"),
        ("import os\nimport no_such_module_here\n", "failed at line 2: ModuleNotFoundError"),
        (
            "from fmbench import METHODS, Method\n\n@METHODS.register('half_done')\nclass HalfDone(Method):\n"
            "    pass\n",
            "method 'half_done': HalfDone does not implement fit",
        ),
    ],
)
def test_a_broken_plugin_file_exits_2_in_one_line(tmp_path, capsys, source, message) -> None:
    plugin = tmp_path / "broken_plugin.py"
    plugin.write_text(source)
    assert main(["--plugin", str(plugin), "methods"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


README_PLUGIN = """
from dataclasses import dataclass

import torch
from fmbench import METHODS, FitContext, Method, MethodConfig, Posterior, setting


@dataclass(frozen=True)
class {name}Config(MethodConfig):
    spread: float = setting(1.0, "standard deviation of the guess")


class {name}Posterior(Posterior):
    def __init__(self, center, spread):
        self.center, self.spread = center, spread

    def sample(self, n, x_o):
        return self.center + self.spread * torch.randn(n, len(self.center))
{log_prob}

@METHODS.register("{method}")
class {name}(Method):
    description = "a Gaussian around the mean of theta"
    Config = {name}Config

    def fit(self, theta, x, prior, context: FitContext) -> Posterior:
        return {name}Posterior(theta.mean(0), self.config.spread)
"""

LOG_PROB = """
    def log_prob(self, theta, x_o):
        return torch.distributions.Normal(self.center, self.spread).log_prob(theta).sum(-1)
"""


@pytest.mark.parametrize("density", [False, True])
def test_a_plugin_written_from_the_readme_runs_the_first_time(tmp_path, density) -> None:
    method = f"guess_{'density' if density else 'samples'}"
    plugin = tmp_path / f"{method}.py"
    source = README_PLUGIN.format(
        name=method.title().replace("_", ""), method=method, log_prob=LOG_PROB * density
    )
    plugin.write_text(source)
    out = tmp_path / "out"
    argv = ["--plugin", str(plugin), "run", "--tasks", "toy_gaussian", "--methods", method, *TINY_RUN]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row.status == "ok" and 0.5 <= row.c2st <= 1.0
    assert pd.notna(row.nltp) == density
    assert list(out.glob("cells/*/*/*.fit.pt"))  # the fitted posterior pickles: a resume will not refit


def test_the_zuko_example_runs_on_a_tiny_cell(tmp_path) -> None:
    out = tmp_path / "out"
    argv = [
        "--plugin",
        str(EXAMPLES / "zuko_npe.py"),
        "run",
        "--tasks",
        "toy_gaussian",
        "--methods",
        "zuko_npe",
    ]
    settings = ["--set", "zuko_npe.max_epochs=30", "--set", "zuko_npe.hidden_features=16"]
    assert main([*argv, *TINY_RUN, *settings, "--out", str(out), "--no-progress"]) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row.status == "ok" and row.c2st < 0.75, row.c2st  # a Gaussian posterior, learnt in 30 epochs
    assert pd.notna(row.nltp) and row.epochs == 30 and row.passes_per_sample == 3 * 2
    assert list(out.glob("cells/*/*/*.fit.pt"))


def test_the_zuko_example_validates_its_settings(capsys) -> None:
    plugin = str(EXAMPLES / "zuko_npe.py")
    argv = ["--plugin", plugin, "run", "--tasks", "toy_gaussian", "--methods", "zuko_npe", "--budgets", "9"]
    assert main([*argv, "--out", "unused", "--set", "zuko_npe.bins=0"]) == 2
    assert "bins: must be a positive integer" in capsys.readouterr().err


def test_an_installed_plugin_package_is_found_through_its_entry_point(tmp_path) -> None:
    target, package = tmp_path / "site", tmp_path / "package"
    shutil.copytree(EXAMPLES / "entry_point_plugin", package)  # pip builds in place: not in the repository
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    build = subprocess.run(
        [*pip, "--target", str(target), str(package)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    env["OMP_NUM_THREADS"] = "1"
    fmbench_cli = [sys.executable, "-m", "fmbench.cli"]
    listed = subprocess.run([*fmbench_cli, "methods"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "prior_guess:" in listed.stdout, listed.stderr
    out = tmp_path / "out"
    run = [
        *fmbench_cli,
        "run",
        "--tasks",
        "two_moons",
        "--methods",
        "prior_guess",
        *TINY_RUN,
        "--out",
        str(out),
    ]
    done = subprocess.run([*run, "--no-progress"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row.status == "ok" and row.c2st > 0.9  # the prior is far from two_moons' posterior
