"""``python -m ldseg`` (also what ``torchrun -m ldseg`` starts)."""

import sys

from ldseg.cli import main

sys.exit(main())
