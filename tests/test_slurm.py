"""``--executor slurm`` against a real one-node SLURM cluster (``scripts/slurm_cluster.sh``).

Skipped, with the script's one-line reason, where the cluster cannot start (not root, ``slurm-wlm`` or
``munge`` missing, a port in use); with ``FMBENCH_REQUIRE_SLURM=1`` (set by ``.ci/run``) that fails
instead. The toy jobs sleep (``tests/slurm_plugin.py``) rather than compute, so the tests take wall time,
not CPU; the grid of real methods is kept cheap (two epochs, small networks).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from fmbench.cli import main

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "scripts" / "slurm_cluster.sh"
PLUGIN = str(Path(__file__).parent / "slurm_plugin.py")
#: Columns that a rerun reproduces exactly on CPU (timings, memory and timestamps differ).
METRICS = ["task", "method", "budget", "seed", "observation", "status", "c2st", "mmd", "nltp"]
METRICS += ["rejected_fraction", "num_invalid_simulations", "method_config_hash", "epochs"]
#: Cheap settings of fmpe and npe_nsf (two epochs, small networks, few ODE steps).
CHEAP = {
    "fmpe": ["hidden_features=16,16", "max_epochs=2", "solver=rk4", "steps=4", "log_prob_solver=rk4"],
    "npe_nsf": ["hidden_features=8", "num_transforms=1", "num_bins=4", "max_num_epochs=2"],
}
CHEAP["fmpe"] += ["conditioning=concat", "time_prior_exponent=1", "batch_size=64", "halving_epochs=0"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Path]:
    """A one-node SLURM cluster for this module; ``SLURM_CONF`` points at it."""
    folder = tmp_path_factory.mktemp("slurm")
    start = subprocess.run(
        ["bash", str(SCRIPT), "start", str(folder)], capture_output=True, text=True, timeout=180
    )
    if start.returncode:
        reason = (start.stderr.strip().splitlines() or ["slurm_cluster.sh failed"])[-1]
        if os.environ.get("FMBENCH_REQUIRE_SLURM") == "1":
            pytest.fail(f"FMBENCH_REQUIRE_SLURM=1 but the SLURM cluster did not start: {reason}")
        pytest.skip(reason)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", str(folder / "slurm.conf"))
            yield folder
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], timeout=120, check=False)


def _fmbench(out: Path, *extra: str, methods=("toy_exact",), obs="1") -> list[str]:
    """The arguments of a toy run (a main() argv, without the program name)."""
    argv = ["--plugin", PLUGIN, "run", "--tasks", "toy_gaussian", "--methods", *methods, "--budgets", "200"]
    argv += ["--observations", obs, "--num-samples", "400", "--coverage-pairs", "0", "--no-progress"]
    return [*argv, "--out", str(out), "--executor", "slurm", *extra]


def _squeue(*jobs: str, fields: str = "%i %T %E") -> list[list[str]]:
    """squeue's lines (one per array task) for ``jobs``, split into ``fields``."""
    out = subprocess.run(
        ["squeue", "--noheader", "--array", f"--format={fields}", f"--jobs={','.join(jobs)}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


def _scontrol(job: str) -> str:
    return subprocess.run(
        ["scontrol", "--oneliner", "show", "job", job], capture_output=True, text=True, timeout=30, check=True
    ).stdout


def _wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {timeout_s} s waiting for {what}"
        time.sleep(0.5)


def _ids(stdout: str) -> list[str]:
    """The SLURM job ids that ``--no-wait`` printed."""
    words = stdout.replace(",", " ").replace("(", " ").split()
    return [words[i + 1] for i, w in enumerate(words[:-1]) if w == "job" and words[i + 1].isdigit()]


def test_a_grid_through_slurm_has_the_rows_of_a_serial_run(cluster, tmp_path) -> None:
    argv = ["run", "--tasks", "two_moons", "gaussian_linear", "--methods", "fmpe", "npe_nsf"]
    argv += ["--budgets", "1e3", "--observations", "1-2", "--num-samples", "500", "--coverage-pairs", "0"]
    argv += ["--no-progress", "--threads", "1"]
    argv += [item for method, values in CHEAP.items() for v in values for item in ("--set", f"{method}.{v}")]
    slurm = ["--out", str(tmp_path / "slurm"), "--executor", "slurm", "--observations-per-job", "2"]
    command = [sys.executable, "-c", "import sys; from fmbench.cli import main; sys.exit(main(sys.argv[1:]))"]
    run = subprocess.Popen(
        [*command, *argv, *slurm], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:  # the serial run meanwhile, in this process
        assert main([*argv, "--out", str(tmp_path / "serial")]) == 0
        output, _ = run.communicate(timeout=400)
    finally:
        run.kill()
    assert run.returncode == 0, output
    serial, slurm = (pd.read_csv(tmp_path / name / "results.csv")[METRICS] for name in ("serial", "slurm"))
    assert len(serial) == 8 and (serial.status == "ok").all()
    pd.testing.assert_frame_equal(slurm, serial, check_exact=True)
    logs = tmp_path / "slurm" / "logs" / "slurm"
    assert len(list(logs.glob("*_log.out"))) == 8  # 4 fits, 4 evaluations of two observations


def test_no_wait_submits_two_capped_arrays_and_collect_exits_1_until_they_end(
    cluster, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("FMBENCH_TOY_SLEEP_S", "2")
    argv = _fmbench(tmp_path, "--jobs", "1", methods=("toy_sleep",)) + ["--seeds", "1", "2"]
    start = time.monotonic()
    assert main([*argv, "--no-wait"]) == 0
    took = time.monotonic() - start
    printed = capsys.readouterr().out
    assert took < 15, f"--no-wait took {took:.1f} s"
    assert "submitted 4 jobs: 2 fit(s) as SLURM job" in printed, printed
    fits, rest = _ids(printed)
    queued = {line[0]: line for line in _squeue(fits, rest)}
    assert {f"{fits}_0", f"{fits}_1"} <= set(queued), queued  # the fits' array
    assert {f"{rest}_0", f"{rest}_1"} <= set(queued), queued  # the evaluations, after the fits
    assert all(queued[f"{rest}_{i}"][2].startswith(f"afterany:{fits}") for i in range(2)), queued
    assert f"Dependency=afterany:{fits}" in _scontrol(f"{rest}_0")
    assert main([*argv, "--collect"]) == 1
    assert "the grid is not complete: 2 observation(s) without an ok row" in capsys.readouterr().err
    most, seen, deadline = 0, set(), time.monotonic() + 150
    while lines := _squeue(fits, rest, fields="%i %T"):
        running = [job for job, state in lines if state == "RUNNING"]
        most, seen = max(most, len(running)), seen | set(running)
        assert time.monotonic() < deadline, "the two arrays did not end within 150 s"
        time.sleep(0.3)
    assert most == 1 and len(seen) >= 3, (most, seen)  # --jobs 1; the node has 2 CPUs
    assert main([*argv, "--collect"]) == 0
    assert "the grid is complete" in capsys.readouterr().out


def test_slurm_options_reach_the_submitted_jobs(cluster, tmp_path, capsys) -> None:
    extra = ["--no-wait", "--slurm", "slurm_partition=batch", "--slurm", "timeout_min=7"]
    extra += ["--slurm", "cpus_per_task=2", "--slurm", 'slurm_additional_parameters={"hold": true}']
    assert main(_fmbench(tmp_path, *extra)) == 0
    fits, rest = _ids(capsys.readouterr().out)
    try:
        for job in (fits, rest):
            shown = _scontrol(job)
            for words in ("Partition=batch", "TimeLimit=00:07:00", "CPUs/Task=2", "Reason=JobHeldUser"):
                assert words in shown, f"{words} not in {shown}"
    finally:
        subprocess.run(["scancel", fits, rest], timeout=30, check=False)


def test_a_cancelled_and_a_timed_out_job_fail_their_rows_and_a_rerun_retries_them(
    cluster, tmp_path, capsys, monkeypatch
) -> None:
    out = tmp_path / "out"
    argv = _fmbench(out, "--slurm", "timeout_min=1", methods=("toy_exact", "toy_sleep"))
    argv += ["--seeds", "1", "2"]
    monkeypatch.setenv("FMBENCH_TOY_SLEEP_S", "600")
    cancelled: list[str] = []

    def cancel_one_sleeping_fit() -> None:  # the seed-1 toy_sleep fit, once it is running
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not cancelled:
            for job_id, name in _running_fits(out):
                if name == "toy_sleep.seed1":
                    subprocess.run(["scancel", job_id], timeout=30, check=True)
                    cancelled.append(job_id)
            time.sleep(0.5)

    canceller = threading.Thread(target=cancel_one_sleeping_fit)
    canceller.start()
    try:
        status = main(argv)  # the seed-2 toy_sleep fit runs into its 1-minute limit
    finally:
        canceller.join()
    output = capsys.readouterr().err
    assert cancelled, f"the seed-1 toy_sleep fit never ran: {output}"
    assert status == 1, output
    table = pd.read_csv(out / "results.csv").set_index(["method", "seed"])
    assert (table.loc["toy_exact"].status == "ok").all(), table
    error = table.loc[("toy_sleep", 1), "error"]
    assert table.loc[("toy_sleep", 1), "status"] == "failed" and "cancelled" in error, error
    error = table.loc[("toy_sleep", 2), "error"]
    assert table.loc[("toy_sleep", 2), "status"] == "failed" and "time limit" in error, error
    assert "2 of 6 jobs failed" in output, output  # 4 fits, the 2 evaluations of toy_exact
    monkeypatch.setenv("FMBENCH_TOY_SLEEP_S", "0")
    assert main(argv) == 0
    assert "all 4 jobs done" in capsys.readouterr().out  # the two fits and their evaluations, no more
    assert (pd.read_csv(out / "results.csv").status == "ok").all()


def _running_fits(out: Path) -> list[tuple[str, str]]:
    """(SLURM job id, ``"method.seedN"``) of the fit jobs running now, read from submitit's pickles."""
    from submitit.core.utils import pickle_load

    running = {line[0] for line in _squeue_all() if line[1] == "RUNNING"}
    fits = []
    for path in (out / "logs" / "slurm").glob("*_submitted.pkl"):
        job_id = path.name.removesuffix("_submitted.pkl")
        job = pickle_load(path).args[0]
        if job_id in running and job.kind == "fit":
            fits.append((job_id, f"{job.cell.method}.seed{job.cell.seed}"))
    return fits


def _squeue_all() -> list[list[str]]:
    out = subprocess.run(
        ["squeue", "--noheader", "--array", "--format=%i %T"], capture_output=True, text=True, timeout=30
    ).stdout
    return [line.split() for line in out.splitlines() if line.strip()]
