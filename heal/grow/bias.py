"""Energy bias of the elements a grown campaign adds, written into the parent's frozen model before finetuning.

A DeePMD model's atomic energy is its network output plus a per-type bias (``fitting_attr/t_bias_atom_e``,
eV). ``dp train --init-frz-model`` restores the bias from the frozen graph, so an element the parent never saw
(Fe in an HEA4 model) keeps bias 0 and its frames start ~4-8 eV/atom off; the finetune then spends its steps
(and the old elements' accuracy) shifting energies. deepmd-kit's ``change-bias`` does not take a frozen
TensorFlow model (3.2), so heal fits the missing biases itself: the old types keep theirs, and the new types'
biases are the least-squares solution of ``E - sum_old n_t b_t = sum_new n_t b_t`` over the child's labeled
frames (the same statistic DeePMD uses at the start of a training from scratch). Units: eV per atom.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BIAS_NODE = "fitting_attr/t_bias_atom_e"


def _graph_def(pb: Path):
    from deepmd.tf.env import tf

    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(Path(pb).read_bytes())
    return tf, gd


def read_bias(pb: Path) -> np.ndarray:
    """The per-type energy bias (eV) stored in a frozen TensorFlow DeePMD model, shape (ntypes,)."""
    tf, gd = _graph_def(pb)
    node = next((n for n in gd.node if n.name == BIAS_NODE), None)
    if node is None:
        raise ValueError(f"{pb}: no {BIAS_NODE} in the graph (not a TensorFlow DeePMD energy model)")
    return np.asarray(tf.make_ndarray(node.attr["value"].tensor), dtype=float).reshape(-1)


def write_bias(pb: Path, out: Path, bias: np.ndarray) -> Path:
    """A copy of the frozen model `pb` at `out` with the energy bias replaced by `bias` (eV, per type)."""
    tf, gd = _graph_def(pb)
    for node in gd.node:
        if node.name == BIAS_NODE:
            old = tf.make_ndarray(node.attr["value"].tensor)
            new = np.asarray(bias, dtype=old.dtype).reshape(old.shape)
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(new))
    tmp = Path(out).with_suffix(".tmp")
    tmp.write_bytes(gd.SerializeToString())
    tmp.replace(out)
    return Path(out)


def fit_new_bias(bias: np.ndarray, type_map: list[str], new: list[str], frames) -> np.ndarray:
    """`bias` with the entries of the `new` elements fitted on labeled `frames` (least squares, others fixed)."""
    new = [el for el in new if el in type_map]
    if not new:
        return np.array(bias, dtype=float)
    idx = {el: i for i, el in enumerate(type_map)}
    rows, rhs = [], []
    for a in frames:
        syms = a.get_chemical_symbols()
        if not any(s in new for s in syms):
            continue
        counts = {el: syms.count(el) for el in set(syms)}
        rows.append([counts.get(el, 0) for el in new])
        rhs.append(a.get_potential_energy() - sum(c * bias[idx[el]] for el, c in counts.items() if el not in new))
    out = np.array(bias, dtype=float)
    if rows:
        sol, *_ = np.linalg.lstsq(np.array(rows, dtype=float), np.array(rhs), rcond=None)
        for el, b in zip(new, sol):
            if any(r[new.index(el)] for r in rows):
                out[idx[el]] = b
    return out
