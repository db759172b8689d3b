"""A job's third-party output: captured, and each warning that may bear on a result said once."""

from __future__ import annotations

import warnings

from fmbench.run.quiet import quiet


def test_prints_are_captured_and_warnings_said_once_without_deprecations(capsys) -> None:
    with quiet() as captured:
        print("Neural network successfully converged after 12 epochs.")
        for _ in range(3):
            warnings.warn("Maximum number of epochs reached,\n  not converged.", UserWarning, stacklevel=1)
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
        warnings.warn("torch.triangular_solve is deprecated in favor of ...", UserWarning, stacklevel=1)
        warnings.warn("3 of 100 solves failed", RuntimeWarning, stacklevel=1)
    assert capsys.readouterr().out == ""
    assert "converged after 12 epochs" in captured.stdout
    assert captured.notes == ["Maximum number of epochs reached, not converged.", "3 of 100 solves failed"]
