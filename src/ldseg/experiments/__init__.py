"""The paper's experiments, one module each, run by ``ldseg experiment NAME``, and ``compare``.

``evaluate`` (accuracy table and HTML report), ``steps`` (Dice and time against the number of
sampling steps, Figure 5), ``noise`` (Dice against input noise, Figure 8), ``timing`` (time and
memory against image size, Table IV and Figure 6b), ``uncertainty`` (maps and whether they point
at errors, Figure 10), ``diagnose`` (what limits a run) and ``compare`` (several runs on the same
images). Each reads its test cases with the run's data settings (``common.run_cases``) and
writes ``results.json`` (see :mod:`ldseg.experiments.results`) and its figures.
"""

from ldseg.experiments.diagnose import run_diagnose
from ldseg.experiments.evaluate import run_evaluate
from ldseg.experiments.noise import run_noise
from ldseg.experiments.steps import run_steps
from ldseg.experiments.timing import run_timing
from ldseg.experiments.uncertainty import run_uncertainty

# ``ldseg experiment NAME`` runs EXPERIMENTS[NAME] with its options as keyword arguments.
EXPERIMENTS = {
    "evaluate": run_evaluate,
    "steps": run_steps,
    "noise": run_noise,
    "timing": run_timing,
    "diagnose": run_diagnose,
    "uncertainty": run_uncertainty,
}

__all__ = ["EXPERIMENTS"]
