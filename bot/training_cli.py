"""The reader's training commands: ``articlebot train-reader``, ``train-check`` and
``calibrate-reader`` (SQuAD 2.0 dev, split by article; runs resume from their checkpoints)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bot.measure import EVAL_DIR_ENV, find_eval_file

# The options every training command shares.
_squad_option = click.option(
    "--squad", "squad_dir", type=click.Path(exists=True, file_okay=False),
    help="Folder with SQuAD 2.0 dev's articles.jsonl and questions.jsonl (default: "
         "squad2-dev/ in $ARTICLEBOT_EVAL_DIR or ../shared/eval).")
_seed_option = click.option("--seed", type=int, default=0, show_default=True)
_threads_option = click.option("--threads", type=click.IntRange(min=0), default=0,
                               help="Torch threads (0: one per core).")


def _held_out_option(help_text: str) -> Callable[[Any], Any]:
    return click.option("--held-out-articles", type=click.IntRange(min=0), default=7,
                        show_default=True, help=help_text)


def _step_bar(desc: str) -> tuple[Any, Callable[[int, int, dict[str, float]], None]]:
    """A progress bar with an ETA on stderr, and the training loop's callback that moves it."""
    from tqdm import tqdm

    bar = tqdm(total=None, unit="step", file=sys.stderr, desc=desc)

    def progress(step: int, total: int, figures: dict[str, float]) -> None:
        bar.total = total
        bar.n = step
        bar.set_postfix(loss=f"{figures['loss']:.3f}")
        bar.refresh()

    return bar, progress


def _squad_folder(squad_dir: str | None) -> Path:
    folder = Path(squad_dir) if squad_dir else None
    if folder is None:
        found = find_eval_file("squad2-dev", "questions.jsonl")
        folder = Path(found).parent if found else None
    if folder is None or not (folder / "articles.jsonl").is_file():
        raise click.ClickException(f"No SQuAD 2.0 dev found (squad2-dev/ in ${EVAL_DIR_ENV} "
                                   "or a shared/eval folder): pass --squad FOLDER.")
    return folder


@click.command(name="train-reader")
@_squad_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reader-runs/run",
              show_default=True, help="Run folder: checkpoints, log, trained tensors. A run "
                                      "found there resumes from its last checkpoint.")
@click.option("--epochs", type=click.FloatRange(min=0.01), default=3.3, show_default=True)
@click.option("--frozen-layers", type=click.IntRange(0, 6), default=0, show_default=True,
              help="Lowest encoder layers kept as packaged (faster; fewer weights to ship).")
@click.option("--keep-no-answer", type=click.FloatRange(0.05, 1.0), default=0.6,
              show_default=True, help="Share of no-answer windows drawn into each epoch.")
@click.option("--negatives", type=click.FloatRange(0.0, 1.0), default=0.3, show_default=True,
              help="Share of answerable questions also read against their article's most "
                   "similar other paragraph, as 'no answer'.")
@click.option("--train-embeddings", is_flag=True,
              help="Train the word embeddings too (they are frozen by default: trained, they "
                   "add 23 MB to the exported weights).")
@click.option("--max-length", type=click.IntRange(64, 512), default=256, show_default=True,
              help="Tokens per window (question and passage); the reader reads with the same.")
@click.option("--stride", type=click.IntRange(0, 256), default=96, show_default=True,
              help="Tokens shared by consecutive windows of a long passage.")
@_seed_option
@_held_out_option("Articles never trained on (a fixed, seeded draw), for honest figures.")
@_threads_option
@click.option("--export", "export_dir", type=click.Path(file_okay=False),
              help="After training, write reader.safetensors and manifest.json here "
                   "(reader.model = this folder uses them).")
def train_reader_command(squad_dir: str | None, out_dir: str, epochs: float,
                         frozen_layers: int, keep_no_answer: float, negatives: float,
                         train_embeddings: bool, max_length: int, stride: int,
                         seed: int, held_out_articles: int, threads: int,
                         export_dir: str | None) -> None:
    """Train the extractive reader on SQuAD 2.0 dev, split by article (minutes on a GPU,
    about an hour per epoch on 2 CPU cores)."""

    from retrieval.evaluation.reader_training import (
        TrainingSettings,
        Windowing,
        export_run,
        run_training,
    )

    if stride >= max_length // 2:
        raise click.BadParameter(f"the stride ({stride}) must be under half the window "
                                 f"({max_length} tokens).", param_hint="--stride")
    folder = _squad_folder(squad_dir)
    settings = TrainingSettings(epochs=epochs, frozen_layers=frozen_layers,
                                keep_no_answer=keep_no_answer, negatives=negatives,
                                freeze_embeddings=not train_embeddings,
                                windowing=Windowing(max_length=max_length, stride=stride),
                                seed=seed, held_out_articles=held_out_articles,
                                threads=threads)
    bar, progress = _step_bar("train-reader")

    from retrieval.errors import InputError

    try:
        record = run_training(folder, Path(out_dir), settings, progress)
    except InputError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
    click.echo(f"Trained {record['steps_done']} steps in {record['seconds'] / 60:.1f} min "
               f"({record['examples']} examples, {record['windows']} windows, "
               f"{100 * record['no_answer_window_share']:.0f}% without an answer) → {out_dir}")
    if export_dir:
        weights = export_run(Path(out_dir), folder, Path(export_dir), {})
        click.echo(f"Exported {weights} ({weights.stat().st_size / 1e6:.1f} MB) and its "
                   "manifest.")


@click.command(name="train-check")
@_squad_option
@click.option("--reader", "reader_dir", type=click.Path(exists=True, file_okay=False),
              default=None, help="The exported reader to build on (default: the packaged "
                                 "reader).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reader-runs/check",
              show_default=True, help="Run folder: checkpoints, log, trained tensors. A run "
                                      "found there resumes from its last checkpoint.")
@click.option("--epochs", type=click.FloatRange(min=0.01), default=2.0, show_default=True)
@click.option("--trained-layers", type=click.IntRange(1, 6), default=1, show_default=True,
              help="The reader's top layers trained again for the check (what ships).")
@click.option("--level", type=click.Choice(["sentence", "span"]), default="sentence",
              show_default=True, help="What the check reads with the question: the answer's "
              "sentence, or that sentence with the reader's span marked (its pairs come from "
              "the reader's own spans on the training paragraphs).")
@_seed_option
@_held_out_option("Must match the reader's split.")
@_threads_option
@click.option("--export", "export_dir", type=click.Path(exists=True, file_okay=False),
              help="After training, add answerability.safetensors to the reader in this folder "
                   "and its manifest.")
def train_check_command(squad_dir: str | None, reader_dir: str | None, out_dir: str,
                        epochs: float, trained_layers: int, level: str, seed: int,
                        held_out_articles: int, threads: int, export_dir: str | None) -> None:
    """Train the reader's answerability check (does the answer's sentence answer the
    question?) on SQuAD 2.0 dev sentence pairs, on the reader's article split (about 15
    minutes on 2 CPU cores)."""

    from retrieval.errors import InputError, ModelError
    from retrieval.evaluation.reader_training import (
        CheckSettings,
        export_check_run,
        run_check_training,
    )

    folder = _squad_folder(squad_dir)
    settings = CheckSettings(epochs=epochs, trained_layers=trained_layers, level=level,
                             seed=seed,
                             held_out_articles=held_out_articles, threads=threads)
    bar, progress = _step_bar("train-check")

    try:
        record = run_check_training(folder, Path(reader_dir) if reader_dir else None,
                                    Path(out_dir), settings, progress)
    except (InputError, ModelError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
    click.echo(f"Trained {record['steps_done']} steps in {record['seconds'] / 60:.1f} min "
               f"({record['pairs']} pairs); held-out pair AUC "
               f"{record['held_out_pair_auc']:.3f} → {out_dir}")
    if export_dir:
        weights = export_check_run(Path(out_dir), folder, Path(export_dir))
        click.echo(f"Exported {weights} ({weights.stat().st_size / 1e6:.1f} MB) into the "
                   "reader's manifest.")


@click.command(name="calibrate-reader")
@_squad_option
@click.option("--reader", "reader_dir", type=click.Path(exists=True, file_okay=False),
              default=None, help="The exported reader to calibrate (default: the packaged "
                                 "reader).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              default="reader-runs/calibration", show_default=True,
              help="Run folder: checkpoints, log, trained tensors. A run found there resumes "
                   "from its last checkpoint.")
@click.option("--epochs", type=click.FloatRange(min=0.01), default=0.25, show_default=True,
              help="Passes over the training questions (each read with its paragraph and "
                   "the most alike others).")
@click.option("--rank", type=click.IntRange(1, 64), default=8, show_default=True,
              help="The adapter's rank (8: 0.1 MB).")
@click.option("--learning-rate", type=click.FloatRange(min=0.0, min_open=True), default=5e-4,
              show_default=True)
@_seed_option
@_held_out_option("Must match the reader's split.")
@_threads_option
@click.option("--export", "export_dir", type=click.Path(exists=True, file_okay=False),
              help="After training, add calibration.safetensors to the reader in this folder "
                   "and its manifest.")
def calibrate_reader_command(squad_dir: str | None, reader_dir: str | None, out_dir: str,
                             epochs: float, rank: int, learning_rate: float, seed: int,
                             held_out_articles: int, threads: int,
                             export_dir: str | None) -> None:
    """Calibrate the reader's span scores across passages: its top layer (a low-rank adapter)
    and span head trained with one softmax over each question's own paragraph and the most
    alike others of its article (about 25 minutes on 2 CPU cores)."""

    from retrieval.errors import InputError, ModelError
    from retrieval.evaluation.reader_training import (
        CalibrationSettings,
        export_calibration_run,
        run_calibration,
    )

    folder = _squad_folder(squad_dir)
    settings = CalibrationSettings(epochs=epochs, rank=rank, alpha=2.0 * rank,
                                   learning_rate=learning_rate, seed=seed,
                                   held_out_articles=held_out_articles, threads=threads)
    bar, progress = _step_bar("calibrate-reader")
    try:
        record = run_calibration(folder, Path(reader_dir) if reader_dir else None,
                                 Path(out_dir), settings, progress)
    except (InputError, ModelError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
    click.echo(f"Trained {record['steps_done']} steps in {record['seconds'] / 60:.1f} min "
               f"({record['questions']} questions, {record['answerable']} answerable) → "
               f"{out_dir}")
    if export_dir:
        try:
            weights = export_calibration_run(Path(out_dir), folder, Path(export_dir))
        except (InputError, ModelError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Exported {weights} ({weights.stat().st_size / 1e6:.2f} MB) into the "
                   "reader's manifest.")
