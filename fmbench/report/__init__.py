"""The report: what a results table says, as tables, figures and findings.

:mod:`~fmbench.report.writer` writes a folder's report (leaderboard, timings, costs, findings, figures)
from one or more merged result folders (:mod:`~fmbench.report.merge`); :mod:`~fmbench.report.summary`
aggregates rows into cells; :mod:`~fmbench.report.findings` states what they say;
:mod:`~fmbench.report.figures` draws C2ST against budget; :mod:`~fmbench.report.published` holds the
published anchors. :mod:`~fmbench.report.paths` and :mod:`~fmbench.report.passes` read a run's fits to
draw the ODE methods' flows and their accuracy against network passes. :mod:`~fmbench.report.site` writes
the static site (``--site``): its tables (:mod:`~fmbench.report.site_tables`), HTML
(:mod:`~fmbench.report.markup`), posterior pictures (:mod:`~fmbench.report.pictures`) of the kept draws
it finds (:mod:`~fmbench.report.kept_draws`), and ``static/site.js`` and ``site.css``.

May import: the contracts, ``fmbench.metrics``, ``fmbench.coverage``, ``fmbench.fmpe`` and the run
engine's tables and kept draws (``fmbench.run.results``, ``fmbench.run.draws``); never the gate or the CLI.
"""
