"""The lab's set-up as Python code, and as a ``bprop train`` command when the command line can say it.

The code builds the data, the network and the trainer with the same calls, seeds and order as
:class:`~bprop.playground.lab.LabSession`, then takes the page's updates, its one-example steps where the
page took them. It reaches the page's weights to rounding: the page's trainer hands each gradient to a
hook, which makes SGD (plain or with momentum) update after the products rather than inside them.
"""

from __future__ import annotations

from typing import Any

from .datasets import CLASSIFICATION_SETS, TWO_D_SETS

__all__ = ["python_code", "train_command"]


def _data_lines(session) -> list[str]:
    s = session.settings_
    if s.data in TWO_D_SETS:
        target = "label" if s.data in CLASSIFICATION_SETS else "value"
        made = f"table = two_d_table({s.data!r}, {s.points}, {s.noise / 100!r}, seed={s.seed})"
        return ["from bprop.playground.datasets import two_d_table", "", made], repr(target)
    if s.data == "digits":
        return ["from bprop.tables.datasets import load_digits", "", "table = load_digits(as_frame=True)"], "'label'"
    return ["from bprop.tables import read_csv", "", f"table = read_csv({session.upload_name!r})  # your file"], "None"


def _updates_lines(steps: int, sample_runs: list[list[int]]) -> list[str]:
    """The page's updates: the trainer's own batches, and its one-example steps where they fell."""
    if not steps:
        return ["# trainer.step(100)  # take updates"]
    if not sample_runs:
        return [f"trainer.step({steps})  # the page's updates so far"]
    runs = ", ".join(f"({at}, {first}, {count})" for at, first, count in sample_runs)
    return [
        f"sample_steps = [{runs}]  # (after update, first row, rows): the page's one-example steps",
        "for at, first, count in sample_steps:",
        "    if at > trainer.state.steps:",
        "        trainer.step(at - trainer.state.steps)",
        "    for i in range(first, first + count):",
        "        trainer.step_on(prepared.X_train[[i]], prepared.Y_train[[i]])",
        f"if trainer.state.steps < {steps}:",
        f"    trainer.step({steps} - trainer.state.steps)  # the page's updates so far",
    ]


def python_code(session) -> str:
    """A script that rebuilds the tab's data, network and trainer and takes its updates."""
    s = session.settings_
    data, target = _data_lines(session)
    task = session.task_asked
    sizes = [session.X.shape[1], *s.layers, session.encoder.target.n_outputs]
    acts = [*s.hidden_activations(), session.net.layers[-1].activation.name]
    init = "" if s.init == "auto" else f", init={s.init!r}"
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(f"    Dense({fan_in}, {fan_out}, {acts[i]!r}, dtype=np.float64, rng=rng{init}),")
        if s.dropout and i < len(sizes) - 2:
            layers.append(f"    Dropout({s.dropout!r}, rng=rng.spawn(1)[0], dtype=np.float64),")
    held_out = 1 - s.train_percent / 100
    validation = "validation_data=(prepared.X_val, prepared.Y_val), " if len(session.X_test) else ""
    steps = session.trainer.state.steps
    return "\n".join([
        f"# The bprop playground's set-up: {s.data} data, layers {s.layers}, {session.loss_choice} loss.",
        "import numpy as np",
        "",
        "from bprop import Dense, Dropout, Sequential, Trainer",
        "from bprop.tables import prepare",
        *data,
        f"prepared = prepare(table, {target}, task={task!r}, val_fraction={held_out!r}, test_fraction=0.0,",
        f"                   rng=np.random.default_rng({s.seed}))",
        f"rng = np.random.default_rng({s.seed})",
        "net = Sequential([",
        *layers,
        "])",
        f"trainer = Trainer(net, prepared.X_train, prepared.Y_train, loss={session.loss_name!r}, "
        f"optimizer={s.optimizer!r},",
        f"                  learning_rate={s.learning_rate!r}, batch_size={session.batch_size}, l2={s.l2!r}, "
        f"seed={s.seed}, epochs=10**9,",
        f"                  {validation}verbose=0)",
        *_updates_lines(steps, session.sample_runs),
        f"print('held-out loss', net.loss(prepared.X_val, prepared.Y_val, {session.loss_name!r}))"
        if len(session.X_test) else "",
    ]).rstrip() + "\n"  # fmt: skip


def train_command(session) -> dict[str, Any]:
    """``{"command": …, "why_not": …, "data_csv": …}``: the ``bprop train`` command of the set-up, or why
    the command line cannot express it; for a generated set, its rows as CSV to save under the name used."""
    s = session.settings_
    acts = s.hidden_activations()
    reply: dict[str, Any] = {"command": None, "why_not": None, "data_csv": None}
    if s.data in TWO_D_SETS:
        reply["data_csv"] = session.table.to_csv(index=False)
    problem = None
    if len(set(acts)) > 1:
        problem = "bprop train gives every hidden layer one activation (--activation); make them all the same"
    elif session.task == "classification" and session.loss_choice != "cross_entropy":
        problem = "bprop train fits classification with cross-entropy and a softmax output; choose cross-entropy"
    elif session.task == "regression" and session.loss_choice != "mse":
        problem = "bprop train fits regression with MSE; choose MSE"
    if problem:
        reply["why_not"] = problem
        return reply
    data = {"digits": ""}.get(s.data, f"{session.upload_name or s.data + '.csv'} ")
    held_out = round(1 - s.train_percent / 100, 4)
    layers = ",".join(map(str, s.layers)) or '""'  # no hidden layer: an empty --layers
    epochs = max(1, session.trainer.state.epoch)
    reply["command"] = (
        f"bprop train {data}--task {session.task} --layers {layers} --activation {acts[0] if acts else 'tanh'} "
        f"--init {s.init} --optimizer {s.optimizer} --lr {s.learning_rate:g} --batch-size {session.batch_size} "
        f"--l2 {s.l2:g} --dropout {s.dropout:g} --seed {s.seed} --dtype float64 --val-split {held_out:g} "
        f"--test-split 0 --patience 0 --epochs {epochs}"
    )
    return reply
