"""The paper's experiments, one module each, run by ``ldseg experiment NAME``, and ``compare``.

``evaluate`` (accuracy table and HTML report), ``steps`` (Dice and time against the number of
sampling steps, Figure 5), ``noise`` (Dice against input noise, Figure 8), ``timing`` (time and
memory against image size, Table IV and Figure 6b), ``uncertainty`` (maps and whether they point
at errors, Figure 10) and ``diagnose`` (what limits a run), listed in ``registry.EXPERIMENTS``,
and ``compare`` (several runs on the same images). Each takes its sampling options as one
``SamplingOptions`` and its test set as one ``common.CaseSelection``, read with the run's data
settings, and writes ``results.json`` and its figures into a ``results.ResultsFolder``. Cases
are segmented and scored by ``ldseg.inference.scoring.segment_and_score`` (``evaluate`` scores
the files ``predict`` writes, as ``ldseg evaluate`` does; ``diagnose`` scores the routes inside
the model with the same per-case scores).
"""
