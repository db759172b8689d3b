"""The regression gate: ``fmbench check REFERENCE``.

:mod:`~fmbench.gate.reference` reads a committed reference folder (its cells, observations, settings
and run options); :mod:`~fmbench.gate.check` compares a re-run with it cell by cell under a tolerance;
:mod:`~fmbench.gate.command` re-runs the reference's grid with the run engine and prints the verdict.

May import: the contracts, the run engine and ``fmbench.coverage``; never the report or the CLI.
"""
