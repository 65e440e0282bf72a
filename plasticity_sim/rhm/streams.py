"""Stimulus streams: the exact sequence of presentations both backends consume.

A stream is a pool of trees plus, per presentation, which pool row is shown. It is fully
determined by its parameters and seeds, and round-trips through an xarray Dataset so that
the same presentations can be replayed on either engine. Kinds:

- ``epochs``: a fixed training set of P trees, reshuffled every epoch;
- ``views``: each presentation pairs a training tree with a fresh view of it that keeps
  every latent at levels <= k and redraws everything below (``partner``);
- ``fixations``: each training tree is fixated for T presentations (the tree itself, then
  T-1 redraws below level k), then a saccade to the next tree; ``saccade[t]`` is True when
  presentation t shows a different tree from t-1 (and at t = 0).

A stream may carry its own input rates (``inputs``, one array per pool row) instead of the
one-hot code of the trees' tokens: a stimulus that is not an RHM sentence, such as a pathway
driven at a frequency (:func:`rate_stream`, the induction protocols on the engines).

Epoch e draws from generators seeded by (stream_seed, e), so a stream of 3 epochs is the
prefix of the same stream with 5.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import ParameterError, require_int
from ..provenance import global_attrs
from ..seeding import generator
from .dataset import grammar_from_attrs, grammar_to_dataset, samples_from_dataset, samples_to_dataset
from .encoding import one_hot
from .grammar import Grammar
from .samples import Samples, redraw_below, sample

KINDS = ("epochs", "views", "fixations")
STREAM_PARAMS = ("P", "epochs", "sample_seed", "stream_seed", "k", "T", "fresh")
#: the per-presentation arrays that say what a stream shows
PRESENTED = ("order", "example", "epoch", "saccade")


@dataclass(frozen=True, eq=False)
class Stream:
    """An exact sequence of presentations (module docstring): a pool of trees and, per
    presentation, the pool row shown. Build one with :func:`epoch_stream`,
    :func:`view_stream` or :func:`fixation_stream`; both engines replay it."""

    kind: str
    pool: Samples
    order: np.ndarray      # (presentation,) pool row shown
    example: np.ndarray    # (presentation,) training example it derives from, in [0, P)
    epoch: np.ndarray      # (presentation,)
    saccade: np.ndarray    # (presentation,) bool: a new tree starts here
    partner: np.ndarray | None  # (presentation,) pool row of the paired view ("views" only)
    params: dict
    #: (pool rows, positions, v) input rates shown instead of the one-hot code of the tokens
    inputs: np.ndarray | None = None

    @property
    def grammar(self) -> Grammar:
        """The grammar the stream's trees come from."""
        return self.pool.grammar

    def __len__(self) -> int:
        return len(self.order)

    def presented(self, which=slice(None)) -> Samples:
        """The trees shown at the selected presentations, in order."""
        return self.pool.take(self.order[which])

    def partners(self, which=slice(None)) -> Samples:
        """The views paired with the selected presentations (``views`` streams only)."""
        if self.partner is None:
            raise ParameterError("kind", f"only a 'views' stream has partners; this is '{self.kind}'")
        return self.pool.take(self.partner[which])

    @property
    def tokens(self) -> np.ndarray:
        """Tokens of every presentation, (presentation, position)."""
        return self.pool.tokens[self.order]

    @property
    def labels(self) -> np.ndarray:
        """Class label of every presentation."""
        return self.pool.labels[self.order]

    def encoded(self, rows: np.ndarray, whiten: bool = False, dtype=np.float64) -> np.ndarray:
        """Input rates of the pool rows ``rows``, (rows, positions, v): the stream's own
        ``inputs``, or the one-hot code of the trees' tokens (whitened with ``whiten``)."""
        if self.inputs is None:
            return one_hot(self.pool.tokens[rows], self.grammar.v, whiten=whiten,
                           dtype=dtype).transpose(0, 2, 1)
        if whiten:
            raise ParameterError("whiten", "a stream with its own input rates is shown as it is: "
                                 "use whiten = false")
        return self.inputs[rows].astype(dtype)

    def batches(self, batch_size: int):
        """Consecutive slices of at most ``batch_size`` presentations."""
        batch_size = require_int("batch_size", batch_size, minimum=1)
        for start in range(0, len(self), batch_size):
            yield slice(start, min(start + batch_size, len(self)))

    def equals(self, other: "Stream") -> bool:
        """Whether two streams present the same inputs in the same order (kind, grammar, pool,
        order, pairs)."""
        same = [np.array_equal(getattr(self, n), getattr(other, n)) for n in PRESENTED]
        same.append((self.partner is None) == (other.partner is None) and
                    (self.partner is None or np.array_equal(self.partner, other.partner)))
        same.append((self.inputs is None) == (other.inputs is None) and
                    (self.inputs is None or np.array_equal(self.inputs, other.inputs)))
        same.append(np.array_equal(self.pool.choices, other.pool.choices)
                    and np.array_equal(self.pool.labels, other.pool.labels))
        return self.kind == other.kind and self.grammar == other.grammar and all(same)

    def digest(self) -> str:
        """A hash of what :meth:`equals` compares (kind, grammar, pool, order, pairs): equal
        digests, the same presentations."""
        h = hashlib.sha1(f"{self.kind} {sorted(self.grammar.params.items())}".encode())
        arrays = [getattr(self, n) for n in PRESENTED] + [self.partner, self.pool.choices,
                                                          self.pool.labels]
        if self.inputs is not None:  # as equals() compares them: values, not their dtype
            arrays.append(np.asarray(self.inputs, np.float64))
        for array in arrays:  # what equals() compares
            if array is not None:
                h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()[:16]

    # --- Dataset round trip ----------------------------------------------------------------
    def to_dataset(self) -> xr.Dataset:
        """The stream as an xarray Dataset (pool, grammar and per-presentation arrays), for
        netCDF."""
        ds = xr.merge([samples_to_dataset(self.pool), grammar_to_dataset(self.grammar)],
                      combine_attrs="override")
        pres = {
            "order": (self.order, "row of the sample pool shown"),
            "example": (self.example, "training example the presentation derives from"),
            "epoch": (self.epoch, "epoch"),
            "saccade": (self.saccade.astype(np.int8), "1 where a new tree starts (saccade)"),
        }
        if self.partner is not None:
            pres["partner"] = (self.partner, "row of the sample pool paired as the view")
        for name, (values, long_name) in pres.items():
            ds[name] = xr.Variable(("presentation",), values, {"long_name": long_name, "units": "1"})
        if self.inputs is not None:
            ds["inputs"] = xr.Variable(("sample", "position", "channel"), self.inputs, {
                "long_name": "input rate of each pool row (shown instead of the one-hot code)",
                "units": "1"})
        ds.attrs.update(global_attrs(f"RHM stimulus stream ({self.kind})",
                                     {"kind": self.kind, **self.grammar.params, **self.params}))
        ds.attrs.update(kind=self.kind, **self.params)
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> "Stream":
        """The stream a :meth:`to_dataset` Dataset holds."""
        kind = str(ds.attrs.get("kind"))
        if kind not in KINDS:
            raise ParameterError("dataset", f"is not a stream Dataset (attrs kind={kind!r})")
        grammar = grammar_from_attrs(ds.attrs)
        params = {k: int(ds.attrs[k]) for k in STREAM_PARAMS if k in ds.attrs}
        return cls(kind=kind, pool=samples_from_dataset(ds, grammar=grammar),
                   order=ds["order"].values.astype(np.int64),
                   example=ds["example"].values.astype(np.int64),
                   epoch=ds["epoch"].values.astype(np.int64),
                   saccade=ds["saccade"].values.astype(bool),
                   partner=ds["partner"].values.astype(np.int64) if "partner" in ds else None,
                   params=params,
                   inputs=ds["inputs"].values.astype(np.float64) if "inputs" in ds else None)


# --- constructors ----------------------------------------------------------------------------
def epoch_stream(grammar: Grammar, P: int, epochs: int = 1, sample_seed: int = 0,
                 stream_seed: int = 0) -> Stream:
    """Epochs over a fixed training set of P distinct trees, reshuffled every epoch."""
    return _build("epochs", grammar, P, epochs, sample_seed, stream_seed, k=grammar.L, T=1)


def view_stream(grammar: Grammar, P: int, k: int, epochs: int = 1, sample_seed: int = 0,
                stream_seed: int = 0, fresh: bool = True, tag: str = "") -> Stream:
    """Pairs (training tree, view sharing its latents at levels <= k). With ``fresh`` each
    epoch draws new views; without, the views of the first epoch come back every epoch (a
    fixed set of 2P inputs). Streams with different ``tag`` draw independent views of the
    same training trees, in the same order (views of several levels)."""
    return _build("views", grammar, P, epochs, sample_seed, stream_seed, k=k, T=2, fresh=fresh,
                  tag=tag)


def fixation_stream(grammar: Grammar, P: int, k: int, T: int, epochs: int = 1,
                    sample_seed: int = 0, stream_seed: int = 0, fresh: bool = True) -> Stream:
    """Each training tree shown T times (itself, then T-1 redraws below k), then a saccade.
    Without ``fresh``, the first epoch's redraws come back every epoch (TP inputs)."""
    return _build("fixations", grammar, P, epochs, sample_seed, stream_seed, k=k, T=T, fresh=fresh)


def rate_stream(grammar: Grammar, inputs, *, kind: str = "epochs", labels=None, saccade=None,
                k: int | None = None, T: int | None = None) -> Stream:
    """A stream that shows the input rates ``inputs`` (presentations, positions, v), one row
    per presentation, in order, once: a stimulus that is not a sentence of the grammar (a
    pathway driven at a frequency). ``labels`` (default 0) are the classes a supervised rule
    is taught. ``kind``: "epochs"; "views", each presentation paired with itself (the same
    stimulus seen again); "fixations", each presentation paired with the one before, a new
    stimulus (a negative pair) only where ``saccade`` is True (default: the first only).
    ``k`` and ``T`` are the pairing's, for the engines' check that the stream fits it:
    ``model.pairing.rate_stream(grammar, inputs)`` sets them, and the kind, from a model."""
    if kind not in KINDS:
        raise ParameterError("kind", f"must be one of {', '.join(KINDS)}; got {kind!r}")
    inputs = np.asarray(inputs, dtype=np.float64)
    shape = (grammar.n_positions, grammar.v)
    if inputs.ndim != 3 or inputs.shape[1:] != shape or not len(inputs):
        raise ParameterError("inputs", f"must have shape (presentations, positions, v) = "
                             f"(n >= 1, {shape[0]}, {shape[1]}); got {inputs.shape}")
    if not np.isfinite(inputs).all():
        raise ParameterError("inputs", "must be finite")
    n = len(inputs)
    given = np.zeros(n, np.int64) if labels is None else np.asarray(labels)
    if given.ndim > 1 or given.size not in (1, n) or given.dtype.kind not in "iu" \
            or given.min() < 0 or given.max() >= grammar.n_classes:
        raise ParameterError("labels", f"must be one class, or one per presentation ({n}), "
                             f"integers in [0, n_classes={grammar.n_classes}); got {labels!r}")
    labels = np.broadcast_to(given, (n,))
    if saccade is None:
        saccade = np.arange(n) == 0 if kind == "fixations" else np.ones(n, bool)
    saccade = np.asarray(saccade, dtype=bool)
    if saccade.shape != (n,):
        raise ParameterError("saccade", f"must have one flag per presentation ({n}); got "
                             f"shape {saccade.shape}")
    rows = np.arange(n, dtype=np.int64)
    params = dict(P=n, epochs=1, sample_seed=0, stream_seed=0)
    if kind != "epochs":
        params.update(k=grammar.L if k is None else require_int("k", k, minimum=0), fresh=0)
    if kind == "fixations":
        params["T"] = 2 if T is None else require_int("T", T, minimum=1)
    pool = Samples.from_trees(grammar, labels, np.zeros((n, grammar.n_internal), np.int32))
    return Stream(kind=kind, pool=pool, order=rows, example=rows, epoch=np.zeros(n, np.int64),
                  saccade=saccade, partner=rows.copy() if kind == "views" else None,
                  params=params, inputs=inputs)


def make_stream(kind: str, grammar: Grammar, **params) -> Stream:
    """Dispatch on ``kind`` (one of KINDS) with that constructor's keyword parameters."""
    builders = {"epochs": epoch_stream, "views": view_stream, "fixations": fixation_stream}
    if kind not in builders:
        raise ParameterError("kind", f"must be one of {', '.join(KINDS)}; got {kind!r}")
    return builders[kind](grammar, **params)


def _build(kind, grammar, P, epochs, sample_seed, stream_seed, k, T, fresh=True, tag="") -> Stream:
    P = require_int("P", P, minimum=1)
    epochs = require_int("epochs", epochs, minimum=1)
    stream_seed = require_int("stream_seed", stream_seed, minimum=0)
    k = require_int("k", k, minimum=0)
    T = require_int("T", T, minimum=1)
    if k > grammar.L:
        raise ParameterError("k", f"must lie in [0, L={grammar.L}]; got {k}")
    train = sample(grammar, P, sample_seed, purpose="rhm.train")
    redraws_per_tree = T - 1
    parts, order, partner, example = [train], [], [], []
    n_pool = P
    for e in range(epochs):
        perm = _permutation(stream_seed, e, P)
        if redraws_per_tree and (fresh or e == 0):
            base = train.take(np.repeat(perm, redraws_per_tree))
            parts.append(redraw_below(base, k, generator(stream_seed, "rhm.stream.redraw" + tag, e)))
            redrawn = n_pool + np.arange(P * redraws_per_tree).reshape(P, redraws_per_tree)
            n_pool += P * redraws_per_tree
            first_rows = np.empty_like(redrawn)
            first_rows[perm] = redrawn  # by training example, for reuse
        rows = _presentations(kind, perm, first_rows[perm] if redraws_per_tree else None, T)
        order.append(rows[0])
        partner.append(rows[1])
        example.append(rows[2])
    order = np.concatenate(order).astype(np.int64)
    epoch_of = np.repeat(np.arange(epochs), len(order) // epochs)
    saccade = np.zeros(len(order), dtype=bool)
    saccade[::T if kind == "fixations" else 1] = True
    params = dict(P=P, epochs=epochs, sample_seed=sample_seed, stream_seed=stream_seed)
    if kind != "epochs":
        params["k"] = k
        params["fresh"] = int(fresh)
    if kind == "fixations":
        params["T"] = T
    return Stream(kind=kind, pool=Samples.concat(parts), order=order,
                  example=np.concatenate(example).astype(np.int64),
                  epoch=epoch_of.astype(np.int64), saccade=saccade,
                  partner=np.concatenate(partner).astype(np.int64) if kind == "views" else None,
                  params=params)


def epoch_rows(stream: Stream, e: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(order, partner) of epoch ``e`` of ``stream``, for any e >= 0, without building the
    epochs in between: the same rows as epoch e of the stream built with more epochs. Only
    for streams whose redraws come back every epoch (``epochs`` kind, or ``fresh = False``),
    so that the pool does not grow."""
    e = require_int("epoch", e, minimum=0)
    if stream.params.get("fresh", 0):
        raise ParameterError("fresh", "epoch_rows needs a stream whose redraws are reused "
                             "(fresh = False): a fresh stream draws new trees every epoch")
    P = stream.params["P"]
    T = {"epochs": 1, "views": 2}.get(stream.kind, stream.params.get("T", 1))
    redrawn = None
    if T > 1:  # rows of each example's redraws, as laid out by epoch 0
        first = stream.example[:P * T:T] if stream.kind == "fixations" else stream.example[:P]
        redrawn = np.empty((P, T - 1), dtype=np.int64)
        redrawn[first] = P + np.arange(P * (T - 1)).reshape(P, T - 1)
    perm = _permutation(stream.params["stream_seed"], e, P)
    order, partner, _ = _presentations(stream.kind, perm, None if redrawn is None else redrawn[perm], T)
    return order.astype(np.int64), None if partner is None else partner.astype(np.int64)


def _permutation(stream_seed: int, e: int, P: int) -> np.ndarray:
    return generator(stream_seed, "rhm.stream.order", e).permutation(P)


def _presentations(kind, perm, redrawn, T):
    """(order, partner, example) of one epoch: ``perm`` the training trees in order,
    ``redrawn`` (P, T-1) the pool rows of each one's redraws in the same order."""
    if kind == "views":
        return perm, redrawn[:, 0], perm
    if kind == "fixations":
        order = np.column_stack([perm, redrawn]).ravel() if redrawn is not None else perm
        return order, None, np.repeat(perm, T)
    return perm, None, perm
