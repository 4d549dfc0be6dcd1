"""``ldseg experiment NAME`` runs ``EXPERIMENTS[NAME]`` with its options as keyword arguments."""

from ldseg.experiments.diagnose import run_diagnose
from ldseg.experiments.evaluate import run_evaluate
from ldseg.experiments.noise import run_noise
from ldseg.experiments.postprocess import run_postprocess
from ldseg.experiments.steps import run_steps
from ldseg.experiments.timing import run_timing
from ldseg.experiments.uncertainty import run_uncertainty

EXPERIMENTS = {
    "evaluate": run_evaluate,
    "steps": run_steps,
    "noise": run_noise,
    "timing": run_timing,
    "diagnose": run_diagnose,
    "uncertainty": run_uncertainty,
    "postprocess": run_postprocess,
}
