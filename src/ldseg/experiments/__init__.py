"""The paper's experiments, one module each, run by ``ldseg experiment NAME``, and ``compare``.

``evaluate`` (accuracy table and HTML report), ``steps`` (Dice and time against the number of
sampling steps, Figure 5), ``noise`` (Dice against input noise, Figure 8), ``timing`` (time and
memory against image size, Table IV and Figure 6b), ``uncertainty`` (maps and whether they point
at errors, Figure 10) and ``diagnose`` (what limits a run), listed in ``registry.EXPERIMENTS``,
and ``compare`` (several runs on the same images). Each reads its test cases with the run's
data settings (``common.run_cases``) and writes ``results.json`` (see
:mod:`ldseg.experiments.results`) and its figures.
"""
