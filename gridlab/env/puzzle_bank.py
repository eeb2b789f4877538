"""Puzzle banks: solved puzzles on tap, grouped by optimal length, for curricula and evaluation.

A bank is a folder holding one board family (`BoardSpec`)::

    bank/
      manifest.json           format version, spec, seed, rounds, counts by length and split
      puzzles-<rounds>.npz    compressed arrays, one row per puzzle (names below)

Arrays: ``h_walls (P, H + 1, W)`` and ``v_walls (P, H, W + 1)`` bool, ``robots (P, N, 2)``,
``goal (P, 2)``, ``target (P,)``, ``length (P,)`` the optimal plan length and ``heldout (P,)``
bool. A puzzle's split is a function of its content (a hash), so topping a bank up never moves
a puzzle between train and held-out, and the held-out share is the same in every length.

Writing is atomic: a new arrays file is written under a new name and fsynced, then the manifest
that points to it replaces the old one with ``os.replace``; a crash at any point leaves either
the old bank or the new one. `generate_bank` saves every few seconds and on Ctrl-C.

A bank's `PuzzleBank.digest` names its content; `find_bank` finds a bank that a config recorded
by path (and digest) from any working directory.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import os
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gridlab.env.board import FixedLayout
from gridlab.env.generator import BoardSpec, check_band, random_layout
from gridlab.files import atomic_write, atomic_write_json, read_versioned_json

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SPLITS = ("train", "heldout", "all")
_ARRAYS = ("h_walls", "v_walls", "robots", "goal", "target", "length", "heldout")
BANKS_ENV_VAR = "GRIDLAB_BANKS"
_PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the gridlab package


def puzzle_key(layout: FixedLayout) -> bytes:
    """Content digest of a puzzle (walls, robots, goal, target): identical puzzles share it, so it
    deduplicates, splits and keeps intervention boards apart from a probe's (``.hex()`` for text)."""
    parts = [
        np.packbits(layout.h_walls).tobytes(), np.packbits(layout.v_walls).tobytes(),
        np.array(layout.robots, dtype=np.int16).tobytes(), np.array(layout.goal_position, np.int16).tobytes(),
        bytes([layout.target_robot]),
    ]  # fmt: skip
    return hashlib.blake2b(b"".join(parts), digest_size=16).digest()


def _is_heldout(key: bytes, fraction: float) -> bool:
    return int.from_bytes(key[:8], "little") / 2**64 < fraction


@dataclass(eq=False)  # identity equality: banks are cached by identity
class PuzzleBank:
    """Solved puzzles of one board family, loaded in memory.

    Example:
        >>> bank = PuzzleBank.load("banks/8x8-2")
        >>> bank.counts()                       # {length: count} over the train split
        >>> layout = bank.layout(bank.indices(length=5, split="heldout")[0])
        >>> bank.digest                         # SHA-256 of the puzzles, recorded by checkpoints

    Attributes:
        spec: The board family.
        seed: Seed the bank was generated from.
        heldout_fraction: Share of puzzles in the held-out split.
        rounds: Generation rounds so far (each round draws from ``rng([seed, round])``).
        arrays: The arrays listed in the module docstring.
        path: Folder it was loaded from, if any.
    """

    spec: BoardSpec
    seed: int
    heldout_fraction: float
    rounds: int
    arrays: dict[str, np.ndarray]
    path: Path | None = None

    def __len__(self) -> int:
        return int(self.arrays["length"].shape[0])

    @functools.cached_property
    def digest(self) -> str:
        """Hex SHA-256 of the puzzles: each array in a fixed order with its name, dtype and shape.

        Banks holding the same puzzles in the same order share it, whatever their folder, file
        names or compression; checkpoints record it to find their bank again (`find_bank`).
        """
        sha = hashlib.sha256()
        for name in _ARRAYS:
            array = np.ascontiguousarray(self.arrays[name], dtype=self.arrays[name].dtype.newbyteorder("<"))
            sha.update(f"{name} {array.dtype.str} {array.shape}\n".encode())
            sha.update(array.tobytes())
        return sha.hexdigest()

    @classmethod
    def empty(cls, spec: BoardSpec, seed: int, heldout_fraction: float) -> PuzzleBank:
        H, W, N = spec.height, spec.width, spec.num_robots
        arrays = {
            "h_walls": np.zeros((0, H + 1, W), bool), "v_walls": np.zeros((0, H, W + 1), bool),
            "robots": np.zeros((0, N, 2), np.int8), "goal": np.zeros((0, 2), np.int8),
            "target": np.zeros(0, np.int8), "length": np.zeros(0, np.int16), "heldout": np.zeros(0, bool),
        }  # fmt: skip
        return cls(spec, seed, heldout_fraction, 0, arrays)

    # -- reading -------------------------------------------------------------------------------
    def layout(self, index: int) -> FixedLayout:
        """Puzzle ``index`` as a `FixedLayout`."""
        a = self.arrays
        return FixedLayout(
            self.spec.height, self.spec.width, a["h_walls"][index], a["v_walls"][index],
            {i: (int(r), int(c)) for i, (r, c) in enumerate(a["robots"][index])},
            (int(a["goal"][index][0]), int(a["goal"][index][1])), int(a["target"][index]),
        )  # fmt: skip

    def indices(self, length: int | None = None, split: str = "train") -> np.ndarray:
        """Row numbers of the puzzles in ``split`` (``"train"``, ``"heldout"`` or ``"all"``),
        optionally of one optimal ``length``."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        keep = np.ones(len(self), bool)
        if split != "all":
            keep &= self.arrays["heldout"] == (split == "heldout")
        if length is not None:
            keep &= self.arrays["length"] == length
        return np.flatnonzero(keep)

    def counts(self, split: str = "train") -> dict[int, int]:
        """Number of puzzles by optimal length in ``split``."""
        lengths = self.arrays["length"][self.indices(split=split)]
        values, counts = np.unique(lengths, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}

    def check_spec(self, spec: BoardSpec) -> None:
        """Raise ``ValueError`` unless the bank holds boards of family ``spec``."""
        if spec != self.spec:
            raise ValueError(
                f"bank {self.path or ''} holds {_describe(self.spec)} but the env wants {_describe(spec)}; "
                "generate a bank for this spec or change the env's size, robots or wall densities"
            )

    # -- disk ----------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> PuzzleBank:
        """Read a bank folder; raises ``FileNotFoundError`` or ``ValueError`` naming the problem."""
        folder = Path(path)
        manifest = read_versioned_json(
            folder / MANIFEST,
            f"no puzzle bank at {folder} (missing {MANIFEST}); create one with `gridlab puzzles generate`",
            FORMAT_VERSION,
        )
        arrays_path = folder / manifest["arrays"]
        try:
            with np.load(arrays_path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in _ARRAYS}
        except FileNotFoundError:
            raise FileNotFoundError(f"bank {folder} is missing its arrays file {arrays_path.name}") from None
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"corrupt bank arrays {arrays_path}: {error}") from None
        bank = cls(
            BoardSpec(**manifest["spec"]), manifest["seed"], manifest["heldout_fraction"],
            manifest["rounds"], arrays, folder,
        )  # fmt: skip
        if len(bank) != manifest["total"]:
            raise ValueError(
                f"corrupt bank {folder}: manifest says {manifest['total']} puzzles, arrays hold {len(bank)}"
            )
        return bank

    def save(self, path: str | os.PathLike) -> None:
        """Write the bank atomically (see the module docstring)."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"puzzles-{self.rounds:06d}.npz"
        # numpy's stub lets **arrays fill allow_pickle: bool; numpy 1.26 has no allow_pickle to pass.
        atomic_write(folder / name, lambda f: np.savez_compressed(f, **self.arrays))  # type: ignore[arg-type]
        manifest = {
            "format_version": FORMAT_VERSION,
            "spec": asdict(self.spec),
            "seed": self.seed,
            "heldout_fraction": self.heldout_fraction,
            "rounds": self.rounds,
            "arrays": name,
            "total": len(self),
            "counts": {split: self.counts(split) for split in ("train", "heldout")},
        }
        atomic_write_json(folder / MANIFEST, manifest)
        for old in [*folder.glob("puzzles-*.npz"), *folder.glob(".*.tmp")]:
            if old.name != name:  # superseded arrays, and temporary files of a killed write
                old.unlink(missing_ok=True)
        self.path = folder

    def _append(self, rows: Sequence[tuple[FixedLayout, int, bool]]) -> None:
        if not rows:
            return
        new = {
            "h_walls": np.stack([x.h_walls for x, _, _ in rows]),
            "v_walls": np.stack([x.v_walls for x, _, _ in rows]),
            "robots": np.array([x.robots for x, _, _ in rows], np.int8),
            "goal": np.array([x.goal_position for x, _, _ in rows], np.int8),
            "target": np.array([x.target_robot for x, _, _ in rows], np.int8),
            "length": np.array([n for _, n, _ in rows], np.int16),
            "heldout": np.array([h for _, _, h in rows], bool),
        }
        self.arrays = {k: np.concatenate([self.arrays[k], new[k]]) for k in _ARRAYS}
        self.__dict__.pop("digest", None)  # the cached digest named the old content


def _describe(spec: BoardSpec) -> str:
    return (
        f"{spec.height}x{spec.width} boards with {spec.num_robots} robots "
        f"(corner_density={spec.corner_density:.4g}, border_density={spec.border_density:.4g})"
    )


_loaded: dict[Path, tuple[int, PuzzleBank]] = {}  # resolved folder -> (manifest mtime_ns, bank)


def find_bank(
    path: str | os.PathLike, digest: str | None = None, near: Iterable[str | os.PathLike] = ()
) -> PuzzleBank:
    """The bank a config recorded as ``path`` (and ``digest``), found from any working directory.

    Candidates, in order, each looked at once:

    1. ``path`` itself if absolute, else the working directory joined with ``path``;
    2. each folder in ``near`` (e.g. a checkpoint's folder) and each of its ancestors, joined
       with ``path``;
    3. each directory listed in ``$GRIDLAB_BANKS`` (``os.pathsep``-separated) joined with
       ``path``, then with the path's last component;
    4. the project root (the folder holding the ``gridlab`` package) joined with ``path``.

    The first candidate holding a bank whose `PuzzleBank.digest` is ``digest`` (any bank when
    ``digest`` is None) wins. Loaded banks are cached by folder and manifest modification time,
    so finding the same bank twice gives the same object (envs cache puzzles by bank identity).

    Example:
        >>> bank = find_bank("banks/8x8-2", digest=ref.digest, near=[checkpoint_folder])

    Args:
        path: The bank folder as recorded, often relative (``"banks/8x8-2"``).
        digest: The content the bank must have (64 hex digits), or None to take any bank.
        near: Folders to search from besides the working directory.

    Returns:
        The bank, loaded from the winning candidate.

    Raises:
        TypeError: When ``near`` is a single path rather than a collection of them.
        ValueError: When ``digest`` is not 64 lowercase hex digits.
        FileNotFoundError: When no candidate holds the bank; the message lists every candidate
            with the reason it was passed over and how to make the bank findable.
    """
    if isinstance(near, (str, bytes, os.PathLike)):
        raise TypeError(
            f"near must be a collection of folders, got the single path {near!r}; pass [{near!r}]"
        )
    if digest is not None and not (
        isinstance(digest, str) and len(digest) == 64 and set(digest) <= set("0123456789abcdef")
    ):
        raise ValueError(
            f"digest must be 64 lowercase hex digits (a PuzzleBank.digest) or None, got {digest!r}"
        )
    rejected = []
    for candidate in _bank_candidates(Path(path), near):
        if not (candidate / MANIFEST).is_file():
            rejected.append(f"{candidate}: missing")
            continue
        try:
            bank = _load_cached(candidate)
        except (ValueError, FileNotFoundError) as error:
            rejected.append(f"{candidate}: corrupt: {error}")
            continue
        if digest is None or bank.digest == digest:
            return bank
        rejected.append(f"{candidate}: different content: digest {bank.digest[:12]}… != {digest[:12]}…")
    looked = "\n".join(f"  {line}" for line in rejected)
    raise FileNotFoundError(
        f"no puzzle bank {str(path)!r} with digest {digest or '(any)'} found; looked at:\n{looked}\n"
        f"Put the bank folder in one of these places, set {BANKS_ENV_VAR} to a folder holding it "
        f"(several separated by {os.pathsep!r}), or regenerate it with `gridlab puzzles generate` "
        "with the same spec and seed."
    )


def _bank_candidates(recorded: Path, near: Iterable[str | os.PathLike]) -> list[Path]:
    """Where `find_bank` looks for ``recorded``, in order, as resolved paths without repeats."""
    places = [Path.cwd() / recorded]  # an absolute path joined to any folder is itself
    for folder in near:
        folder = Path(folder).resolve()
        places += [above / recorded for above in (folder, *folder.parents)]
    for entry in os.environ.get(BANKS_ENV_VAR, "").split(os.pathsep):
        if entry:
            places += [Path(entry) / recorded, Path(entry) / recorded.name]
    places.append(_PROJECT_ROOT / recorded)
    return list(dict.fromkeys(place.resolve() for place in places))


def _load_cached(folder: Path) -> PuzzleBank:
    """`PuzzleBank.load` of a resolved folder: the same object while its manifest is unchanged."""
    mtime = (folder / MANIFEST).stat().st_mtime_ns
    cached = _loaded.get(folder)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    bank = PuzzleBank.load(folder)
    _loaded[folder] = (mtime, bank)
    return bank


def generate_bank(
    path: str | os.PathLike,
    spec: BoardSpec,
    per_length: int | Mapping[int, int],
    min_moves: int = 1,
    max_moves: int = 8,
    seed: int = 0,
    heldout_fraction: float = 0.1,
    save_every: float = 10.0,
    progress: bool = True,
    max_stale_draws: int = 20_000,
) -> PuzzleBank:
    """Create or top up a bank until each optimal length in the band has its count (both splits).

    Random puzzles with optimal length in ``[min_moves, max_moves]`` are drawn and binned by
    length; a bin that is full drops further draws. Existing puzzles are kept and duplicates
    skipped. Round ``k`` of generation draws from ``np.random.default_rng([seed, k])``, so the
    same calls give the same bank. A bank that already holds what is asked is returned as
    loaded, its files untouched.

    Args:
        path: Bank folder (created if missing; an existing bank must have the same spec and seed).
        spec: Board family.
        per_length: Puzzles wanted per optimal length, or ``{length: count}``.
        min_moves, max_moves: The band of optimal lengths.
        seed: Generation seed.
        heldout_fraction: Share of puzzles (by content hash) kept for evaluation.
        save_every: Seconds between intermediate saves.
        progress: Show a progress bar.
        max_stale_draws: Give up (keeping what was found) after this many draws in a row that
            bring nothing new.

    Returns:
        The bank, saved.

    Raises:
        RuntimeError: When the family runs out of new puzzles (what was found is saved).
    """
    check_band(min_moves, max_moves)
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction!r}")
    wanted = (
        {n: int(per_length) for n in range(min_moves, max_moves + 1)}
        if isinstance(per_length, (int, np.integer))
        else {int(n): int(c) for n, c in per_length.items()}
    )
    if any(not min_moves <= n <= max_moves for n in wanted):
        raise ValueError(
            f"per_length names lengths {sorted(wanted)} outside the band [{min_moves}, {max_moves}]"
        )
    folder = Path(path)
    if (folder / MANIFEST).exists():
        bank = PuzzleBank.load(folder)
        bank.check_spec(spec)
        if (bank.seed, bank.heldout_fraction) != (seed, heldout_fraction):
            raise ValueError(
                f"bank {folder} was generated with seed={bank.seed}, "
                f"heldout_fraction={bank.heldout_fraction}; "
                "top it up with the same values or use a new folder"
            )
    else:
        bank = PuzzleBank.empty(spec, seed, heldout_fraction)
    have = bank.counts("all")
    missing = {n: max(0, c - have.get(n, 0)) for n, c in wanted.items()}
    if bank.path is not None and not any(missing.values()):
        return bank  # the bank already has what is asked: leave its files untouched
    seen = {puzzle_key(bank.layout(i)) for i in range(len(bank))}
    lo = min((n for n, c in missing.items() if c), default=min_moves)
    hi = max((n for n, c in missing.items() if c), default=min_moves)
    rng = np.random.default_rng([seed, bank.rounds])
    bank.rounds += 1
    pending: list[tuple[FixedLayout, int, bool]] = []
    last_save = time.monotonic()
    bar = tqdm(total=sum(missing.values()), desc=f"bank {folder.name}", disable=not progress, unit="puzzle")
    stale = 0  # draws since the last new puzzle: small board families run out of distinct puzzles
    try:
        while any(missing.values()):
            layout, plan = random_layout(spec, rng, lo, hi)
            n = len(plan)
            key = puzzle_key(layout)
            if missing.get(n, 0) == 0 or key in seen:
                stale += 1
                if stale > max_stale_draws:
                    short = {length: count for length, count in missing.items() if count}
                    raise RuntimeError(
                        f"no new puzzle in {max_stale_draws} draws; still missing {short} (length: count). "
                        "This board family may have no more distinct puzzles of those lengths: lower "
                        "per_length or use larger boards, more robots or more walls"
                    )
                continue
            stale = 0
            seen.add(key)
            missing[n] -= 1
            pending.append((layout, n, _is_heldout(key, heldout_fraction)))
            bar.update(1)
            if time.monotonic() - last_save > save_every:
                bank._append(pending)
                pending = []
                bank.save(folder)
                last_save = time.monotonic()
    finally:  # Ctrl-C or any error: keep what was generated
        bar.close()
        bank._append(pending)
        bank.save(folder)
    return bank


class LengthSampler:
    """Draws bank puzzles: an optimal length by weight, then a puzzle of that length uniformly.

    Args:
        bank: The bank.
        split: ``"train"`` (default), ``"heldout"`` or ``"all"``.
        weights: ``{length: weight}``; lengths absent from the bank are an error. ``None``
            weighs every length the split holds equally.
    """

    def __init__(
        self, bank: PuzzleBank, split: str = "train", weights: Mapping[int, float] | None = None
    ) -> None:
        self.bank = bank
        self.split = split
        self._by_length = {n: bank.indices(n, split) for n in bank.counts(split)}
        if not self._by_length:
            raise ValueError(f"bank {bank.path or ''} has no puzzles in split {split!r}")
        self.set_weights(weights)

    def set_weights(self, weights: Mapping[int, float] | None) -> None:
        """Change the length weighting (a curriculum calls this while training runs)."""
        if weights is None:
            weights = dict.fromkeys(self._by_length, 1.0)
        unknown = sorted(set(weights) - set(self._by_length))
        if unknown:
            raise ValueError(
                f"no puzzles of optimal length {unknown} in split {self.split!r}; "
                f"the bank has lengths {sorted(self._by_length)}"
            )
        values = np.array([float(w) for w in weights.values()])
        if (values < 0).any() or values.sum() <= 0:
            raise ValueError(f"length weights must be non-negative with a positive sum, got {dict(weights)}")
        self.lengths = [int(n) for n in weights]
        self.cumulative = np.cumsum(values / values.sum()).tolist()
        self.weights = dict(weights)

    def draw(self, rng: np.random.Generator) -> tuple[int, int]:
        """``(row, optimal_length)`` of a drawn puzzle."""
        u = rng.random()  # inverse-CDF draw: far cheaper per call than rng.choice(p=...)
        k = bisect.bisect_right(self.cumulative, u)
        length = self.lengths[min(k, len(self.lengths) - 1)]
        rows = self._by_length[length]
        return int(rows[rng.integers(len(rows))]), length
