"""The run engine: from a grid of (task, method, budget, seed) to result rows on disk.

- :mod:`~fmbench.run.runner` plans a grid's jobs and schedules them; :mod:`~fmbench.run.jobs` is what a
  worker runs (fit a cell, evaluate observations, calibrate); :mod:`~fmbench.run.executors` where it runs
  (this process, a local process pool, submitit's local or SLURM executor); :mod:`~fmbench.run.slurm`
  reads why a SLURM job ended (squeue, scontrol, its log) and turns SLURM's stop signal into a failure.
- :mod:`~fmbench.run.simulations` draws and caches each (task, seed)'s simulations once, budgets being
  nested prefixes; :mod:`~fmbench.run.evaluation` evaluates a fitted posterior on one observation under
  the protocol (:mod:`~fmbench.run.support` rejects draws outside the prior).
- :mod:`~fmbench.run.results` is the tidy results table and its per-cell files, written through
  :mod:`~fmbench.run.store` (atomic files, locks, claims); :mod:`~fmbench.run.provenance` and
  :mod:`~fmbench.run.memory` fill a row's provenance and peak memory.

May import: the contracts (``fmbench.task``, ``fmbench.method``, ``fmbench.registry``,
``fmbench.plugins``), ``fmbench.metrics`` and ``fmbench.coverage``; never the report, the gate or the CLI.
"""
