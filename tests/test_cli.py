"""The command line: listings, one-line errors with status 2, and a tiny grid end to end."""

from __future__ import annotations

import pandas as pd
import pytest

from fmbench.cli import main


def test_tasks_lists_every_task_with_dimensions(capsys) -> None:
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "slcp_distractors" in out and "two_moons" in out
    line = next(line for line in out.splitlines() if line.startswith("gaussian_linear "))
    assert line.split()[1:4] == ["10", "10", "MultivariateNormal"]


def test_methods_lists_settings(capsys) -> None:
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "npe_nsf:" in out and "num_transforms = 5" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tasks", "two_mons"], "did you mean 'two_moons'"),
        (["--methods", "npe_nfs"], "did you mean 'npe_nsf'"),
        (["--budgets", "0"], "positive integer"),
        (["--budgets", "1e3.5"], "positive integer"),
        (["--budgets", "ten"], "positive integer"),
        (["--observations", "0-3"], "1..10"),
        (["--observations", "11"], "1..10"),
        (["--seeds", "2000001"], "held-out selection set"),
        (["--set", "npe_nsf.learning_rate=-1"], "learning_rate: must be positive"),
        (["--set", "npe_nsf"], "METHOD.NAME=VALUE"),
        (["--c2st-backend", "magic"], "unknown C2ST backend"),
        (["--tasks", "toy_unavailable"], "is unavailable: its simulator needs a licence"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, args, message) -> None:
    out = tmp_path / "out"
    base = {"--tasks": ["two_moons"], "--methods": ["npe_nsf"], "--budgets": ["1000"], "--out": [str(out)]}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = [value]
    argv = ["run"] + [item for flag, values in base.items() for item in (flag, *values)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_unwritable_output_folder_exits_2(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = [
        "run",
        "--tasks",
        "two_moons",
        "--methods",
        "npe_nsf",
        "--budgets",
        "10",
        "--out",
        str(blocker / "x"),
    ]
    assert main(argv) == 2
    assert "cannot be written" in capsys.readouterr().err


def test_help_documents_every_option(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--tasks",
        "--methods",
        "--budgets",
        "--observations",
        "--seeds",
        "--out",
        "--set",
        "--num-samples",
        "--c2st-backend",
        "--device",
        "--sim-cache",
        "--report",
        "--threads",
        "--coverage-pairs",
    ):
        assert flag in out


def test_tiny_grid_end_to_end(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    argv = [
        "run",
        "--tasks",
        "two_moons",
        "--methods",
        "npe_nsf",
        "npe_maf",
        "--budgets",
        "200",
        "1e3",
        "--observations",
        "1-2",
        "--seeds",
        "1",
        "--out",
        str(out),
        "--num-samples",
        "500",
        "--no-progress",
        "--set",
        "npe_nsf.max_num_epochs=2",
        "--set",
        "npe_maf.max_num_epochs=2",
        "--report",
        "--coverage-pairs",
        "20",
        "--coverage-samples",
        "100",
    ]
    assert main(argv) == 0
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 2 * 2 * 2 and (table.status == "ok").all()
    assert table.c2st.between(0.5, 1.0).all() and table.fit_s.gt(0).all()
    for name in ("leaderboard.md", "summary.csv", "timings.md", "c2st_vs_budget.png", "coverage.png"):
        assert (out / name).exists()
    stamp = (out / "results.csv").read_text()
    assert main(argv) == 0  # everything done: nothing is redone
    assert (out / "results.csv").read_text() == stamp
    assert main(["report", str(out)]) == 0


def test_the_quick_start_prints_fmbench_s_messages_only(tmp_path) -> None:
    """The README's quick-start grid (cheaper: fewer samples, short fits), run as a user runs it: no
    third-party print or Python warning reaches the terminal; a warning that bears on a fit is said once,
    as a note."""
    import subprocess
    import sys

    argv = [
        *("run", "--tasks", "two_moons", "gaussian_linear", "--methods", "npe_nsf", "npe_maf"),
        *("--budgets", "1000", "--observations", "1-2", "--seeds", "1", "--out", str(tmp_path / "demo")),
        *("--num-samples", "300", "--coverage-pairs", "0", "--threads", "1"),
        *("--set", "npe_nsf.max_num_epochs=3", "--set", "npe_maf.max_num_epochs=3"),
    ]
    done = subprocess.run(
        [sys.executable, "-W", "default", "-m", "fmbench.cli", *argv], capture_output=True, text=True
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "converged after" not in output and "Warning" not in output, output
    assert "Training neural network" not in output
    notes = [line for line in output.splitlines() if line.startswith("note: ")]
    assert len(notes) == 4 and all("warned: Maximum number of epochs" in n for n in notes), output
    assert "jobs:" in output  # the one progress bar
