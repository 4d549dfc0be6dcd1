"""``curves.png``: a run's training loss terms and validation Dice per class against epochs."""

from __future__ import annotations

from pathlib import Path

from ldseg.utils import atomic_write

LOSS_COLUMNS = ("loss", "ce", "dice_loss", "noise_mse", "path_seg_loss")  # TrainingLoss's fields


def plot_curves(path: Path, rows: list[dict[str, float]], names: list[str] | None) -> None:
    """Training loss terms and validation Dice per class (``names`` if given) against epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_dice) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = [r["epoch"] for r in rows]
    for key in LOSS_COLUMNS:
        if key != "path_seg_loss" or any(r[key] for r in rows):
            ax_loss.plot(epochs, [r[key] for r in rows], label=key)
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Training loss")
    ax_loss.legend()
    val = [r for r in rows if "val_mean_dice" in r]
    classes = [k.removeprefix("val_dice_") for k in (val or [{}])[0] if k.startswith("val_dice_")]
    for c in classes[1:]:
        ax_dice.plot(
            [r["epoch"] for r in val],
            [r[f"val_dice_{c}"] for r in val],
            "o-",
            label=names[int(c)] if names else f"class {c}",
        )
    ax_dice.plot(
        [r["epoch"] for r in val], [r["val_mean_dice"] for r in val], "k--", label="mean foreground"
    )
    ax_dice.set(
        xlabel="epoch",
        ylabel="validation Dice",
        ylim=(0, 1),
        title="Validation Dice (EMA, few-step sampler)",
    )
    ax_dice.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100))
    plt.close(fig)
