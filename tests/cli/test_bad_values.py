"""Bad values anywhere a user gives them (an option, a run's config.json, a pair list, a
dataset.json, a volume's axes): one line naming the option or the file and the entry, a non-zero
exit, no traceback and nothing written."""

import pytest

from ldseg.cli import main

# (command line, the option refused): every numeric option of every command, out of bounds.
BAD_OPTIONS = [
    ("evaluate --pred P --truth T --classes 1", "--classes", "must be at least 2"),
    ("evaluate --pred P --truth T --classes 0", "--classes", "must be at least 2"),
    ("train --data D --out R --classes 1", "--classes", "must be at least 2"),
    ("train --data D --out R --size 0 32", "--size", "must be at least 1"),
    ("train --data D --out R --epochs 0", "--epochs", "must be at least 1"),
    ("train --data D --out R --epochs two", "--epochs", "expected an integer"),
    ("train --data D --out R --batch-size -1", "--batch-size", "must be at least 1"),
    ("train --data D --out R --lr 0", "--lr", "must be above 0"),
    ("train --data D --out R --lr nan", "--lr", "must be finite"),
    ("train --data D --out R --seed -1", "--seed", "must be at least 0"),
    ("train --data D --out R --sampling-steps 0", "--sampling-steps", "must be at least 1"),
    ("train --data D --out R --max-minutes -5", "--max-minutes", "must be at least 0"),
    ("predict --run R --input I --out O --steps 0", "--steps", "must be at least 1"),
    ("predict --run R --input I --out O --batch-size 0", "--batch-size", "must be at least 1"),
    ("predict --run R --input I --out O --workers -1", "--workers", "must be at least 0"),
    ("predict --run R --input I --out O --samples 0", "--samples", "must be at least 1"),
    ("predict --run R --input I --out O --seed 1.5", "--seed", "expected an integer"),
    ("check-data D --classes 1", "--classes", "must be at least 2"),
    ("check-data D --binarize inf", "--binarize", "must be finite"),
    ("compare R --data D --steps 0", "--steps", "must be at least 1"),
    ("export --run R --format onnx --out F --steps -2", "--steps", "must be at least 1"),
    ("demo --epochs 0", "--epochs", "must be at least 1"),
    ("experiment steps --run R --data D --steps 1,0", "--steps", "must be at least 1"),
    ("experiment steps --run R --data D --repeats 0", "--repeats", "must be at least 1"),
    ("experiment steps --run R --data D --max-cases 0", "--max-cases", "must be at least 1"),
    ("experiment noise --run R --data D --sigmas 0,-0.1", "--sigmas", "must be at least 0"),
    ("experiment evaluate --run R --data D --steps 0", "--steps", "must be at least 1"),
    ("experiment timing --run R --repeats 0", "--repeats", "must be at least 1"),
    ("experiment uncertainty --run R --data D --samples 1", "--samples", "must be at least 2"),
    ("experiment diagnose --run R --data D --seed -3", "--seed", "must be at least 0"),
]


@pytest.mark.parametrize(
    ("command", "option", "problem"), BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS]
)
def test_a_bad_option_value_is_one_line_naming_the_option(
    tmp_path, capsys, command, option, problem
):
    with pytest.raises(SystemExit) as exit:
        main(command.split())
    assert exit.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"error: argument {option}: {problem}" in lines[0]
