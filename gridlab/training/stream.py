"""`SolverStream`: an endless supply of fresh solver-labelled board states, made in the background.

A separate process (the machine's other core) draws random puzzles with the generator, solves
each, and labels every state along one optimal plan with

* ``optimal``: every move that starts *some* optimal plan (a target over all of them, not one),
* ``length``: the optimal number of moves left, and
* ``value``: the discounted return an optimal player gets from there under the run's rewards.

Chunks of states arrive through a queue, up to ``prefetch`` chunks ahead of the learner.
`SolverStream.batches` keeps the newest states in a buffer and draws training batches from it,
taking one more chunk each time the batches have drawn as many states as a chunk holds: every
state is drawn about once, and a learner waits only if the producer falls behind (it makes
about twice the states a SmallCNN learner draws on this machine; `SolverStream.reuse` reports).
The producer is deterministic for a seed and the chunks are taken on that fixed schedule, so
the same seed gives the same batches, however fast either side runs.

    with SolverStream(config, seed=0) as stream:
        for obs, optimal, value in stream.batches(batch_size=256, n=1000):
            ...
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

from gridlab.env.board import FixedLayout, Move
from gridlab.env.generator import BoardSpec, random_layout
from gridlab.env.observations import ObservationEncoder
from gridlab.env.solver import optimal_first_moves
from gridlab.training.config import TrainConfig


@dataclass
class LabelledStates:
    """Board states with the solver's labels.

    Attributes:
        obs: ``(n, C, H, W)`` uint8 image observations (channels first; 0 or 1).
        optimal: ``(n, 4 * robots)`` bool, True for each move that starts some optimal plan.
        length: ``(n,)`` optimal moves left.
        value: ``(n,)`` float32 discounted return of optimal play from the state.
        start: ``(n,)`` bool, True where a trajectory begins; each state up to the next start
            is the one its predecessor's move led to (what a recurrent learner is taught on).
    """

    obs: np.ndarray
    optimal: np.ndarray
    length: np.ndarray
    value: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        return len(self.length)

    def __getitem__(self, rows: slice | np.ndarray) -> LabelledStates:
        return LabelledStates(*(getattr(self, name)[rows] for name in FIELDS))

    @staticmethod
    def concatenate(parts: list[LabelledStates]) -> LabelledStates:
        return LabelledStates(*(np.concatenate([getattr(p, name) for p in parts]) for name in FIELDS))


FIELDS = ("obs", "optimal", "length", "value", "start")


def optimal_value(length: np.ndarray, step_penalty: float, goal_reward: float, gamma: float) -> np.ndarray:
    """The discounted return of solving in ``length`` moves: ``step_penalty`` on every step and
    ``goal_reward`` on the last, so ``sum_{k<L} gamma^k step_penalty + gamma^(L-1) goal_reward``."""
    length = np.asarray(length, dtype=np.float64)
    penalties = step_penalty * (1 - gamma**length) / (1 - gamma) if gamma < 1 else step_penalty * length
    return (penalties + gamma ** (length - 1) * goal_reward).astype(np.float32)


def label_plan(
    layout: FixedLayout, plan: list[Move], states: int | None = None
) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """Observations, optimal-move masks and moves left for each state along an optimal ``plan``.

    A plan of ``L`` moves gives ``L`` states (the solved state after the last move has none);
    ``states`` keeps only the first few.
    """
    encode = ObservationEncoder(layout, "image", channels_first=True, rgb_cell_size=1)
    n_actions = 4 * layout.num_robots
    obs, optimal, lengths = [], [], []
    for step, move in enumerate(plan[:states]):
        label = np.zeros(n_actions, dtype=bool)
        for robot, direction in optimal_first_moves(layout):
            label[robot * 4 + direction] = True
        obs.append(encode(layout.robots))
        optimal.append(label)
        lengths.append(len(plan) - step)
        if step + 1 < len(plan):  # the last move solves the puzzle: no state to label after it
            layout = layout.with_robots(layout.apply(move))
    return obs, optimal, lengths


def _produce(settings: dict[str, Any], chunk: int, seed: int, out: Any, stop: Any) -> None:
    """The producer process: ``(states, puzzles)`` chunks into ``out`` until ``stop`` is set or
    the parent is gone; on an error, ``(None, traceback text)``."""
    try:
        _produce_chunks(settings, chunk, seed, out, stop, os.getppid())
    except BaseException:
        out.put((None, traceback.format_exc()))


def _produce_chunks(
    settings: dict[str, Any], chunk: int, seed: int, out: Any, stop: Any, parent: int
) -> None:
    spec = BoardSpec(settings["height"], settings["width"], settings["num_robots"])
    rng = np.random.default_rng(seed)
    obs: list[np.ndarray] = []
    optimal: list[np.ndarray] = []
    lengths: list[int] = []
    starts: list[bool] = []
    puzzles = 0
    while not stop.is_set() and os.getppid() == parent:
        layout, plan = random_layout(spec, rng, settings["min_moves"], settings["max_moves"])
        more = label_plan(layout, plan)
        obs += more[0]
        optimal += more[1]
        lengths += more[2]
        starts += [True] + [False] * (len(plan) - 1)
        puzzles += 1
        if len(lengths) >= chunk:
            length = np.array(lengths[:chunk])
            value = optimal_value(
                length, settings["step_penalty"], settings["goal_reward"], settings["gamma"]
            )
            states = LabelledStates(
                np.stack(obs[:chunk]).astype(np.uint8), np.stack(optimal[:chunk]), length, value,
                np.array(starts[:chunk]),
            )  # fmt: skip
            obs, optimal, lengths, starts = obs[chunk:], optimal[chunk:], lengths[chunk:], starts[chunk:]
            while not stop.is_set() and os.getppid() == parent:
                try:
                    out.put((states, puzzles), timeout=0.1)
                    break
                except queue.Full:
                    continue
            puzzles = 0


class SolverStream:
    """Fresh solver-labelled states for ``config``'s boards from a background process.

    Args:
        config: The board (size, robots, band of optimal lengths) and the rewards and discount
            behind the value targets. Random boards only: no milestone; a bank run's stream draws
            fresh boards of the bank's size and robots.
        seed: The producer's seed (the same seed gives the same states in the same order).
        chunk: States per message from the producer.
        buffer: States kept for drawing batches (the newest ones).
        prefetch: Chunks the producer may make ahead of the learner.
    """

    def __init__(
        self, config: TrainConfig, seed: int = 0, chunk: int = 512, buffer: int = 65_536, prefetch: int = 16
    ) -> None:
        if config.milestone is not None:
            raise ValueError("a solver stream draws fresh random boards; use a config without a milestone")
        settings = {
            name: getattr(config, name)
            for name in ("height", "width", "num_robots", "min_moves", "max_moves", "step_penalty",
                         "goal_reward", "gamma")
        }  # fmt: skip
        # fork: the producer runs only numpy and the compiled solver (never torch), and forking
        # needs no `if __name__ == "__main__"` guard in the user's script
        context = mp.get_context("fork")
        self._queue = context.Queue(maxsize=prefetch)
        self._stop = context.Event()
        self._process = context.Process(
            target=_produce, args=(settings, chunk, seed, self._queue, self._stop), daemon=True
        )
        self._process.start()
        self.capacity, self.chunk = buffer, chunk
        self._buffer: LabelledStates | None = None
        self._filled = self._next = 0
        self.states_received = self.puzzles_received = self.states_drawn = self.states_added = 0
        self.chunks_received = 0
        self._added: list[LabelledStates] | None = None  # for `sequences`' lanes, once it runs

    # -- receiving ------------------------------------------------------------------------------
    def receive(self, wait: bool = False) -> int:
        """Take every chunk that has arrived into the buffer (with ``wait``, at least one), off
        `batches`' schedule: for measuring the producer, not for training.

        Returns:
            How many states arrived.
        """
        arrived = 0
        while self._take(block=wait and not arrived):
            arrived += self.chunk
        return arrived

    def _take(self, block: bool) -> bool:
        """Move one chunk into the buffer; False if none has arrived and ``block`` is False."""
        states = self._receive(block)
        if states is not None:
            self._store(states)
        return states is not None

    def _receive(self, block: bool) -> LabelledStates | None:
        """The next chunk from the producer; None if none has arrived and ``block`` is False."""
        try:
            states, puzzles = self._queue.get(timeout=60.0) if block else self._queue.get_nowait()
        except queue.Empty:
            if block:
                raise RuntimeError("the solver stream's producer sent nothing for 60 s") from None
            return None
        if states is None:
            raise RuntimeError(f"the solver stream's producer failed:\n{puzzles}")
        self.chunks_received += 1
        self.states_received += len(states)
        self.puzzles_received += puzzles
        return states

    def add(self, states: LabelledStates) -> None:
        """Put states labelled elsewhere (DAgger's: the learner's own) beside the stream's: into
        the buffer, or once `sequences` runs, into its lanes ahead of the producer's next chunks."""
        if self._added is not None:
            self._added.append(states)
        else:
            self._store(states)
        self.states_added += len(states)

    def _store(self, states: LabelledStates) -> None:
        if self._buffer is None:
            self._buffer = LabelledStates(
                *(np.zeros((self.capacity, *getattr(states, name).shape[1:]), getattr(states, name).dtype)
                  for name in FIELDS)
            )  # fmt: skip
        rows = (self._next + np.arange(len(states))) % self.capacity
        for name in FIELDS:
            getattr(self._buffer, name)[rows] = getattr(states, name)
        self._next = int(rows[-1] + 1) % self.capacity
        self._filled = min(self._filled + len(states), self.capacity)

    # -- drawing --------------------------------------------------------------------------------
    def batches(self, batch_size: int, n: int, seed: int = 0) -> Iterator[LabelledStates]:
        """``n`` batches drawn uniformly from the buffer; before each, the buffer has taken one
        chunk plus one more per chunk's worth of states drawn so far (waiting for it if need be)."""
        rng = np.random.default_rng(seed)
        for _ in range(n):
            while self.chunks_received < 1 + self.states_drawn // self.chunk:
                self._take(block=True)
            assert self._buffer is not None  # filled by _take
            rows = rng.integers(self._filled, size=batch_size)
            self.states_drawn += batch_size
            yield self._buffer[rows]

    def sequences(self, lanes: int, length: int, n: int) -> Iterator[LabelledStates]:
        """``n`` batches of ``lanes`` runs of ``length`` consecutive states, for a recurrent learner
        trained by truncated back-propagation through time: lane ``i`` of a batch goes on where
        lane ``i`` of the batch before stopped.

        Rows are lane-major (lane 0's ``length`` states in order, then lane 1's), as sb3-contrib
        orders sequences. Each lane reads whole chunks, one after another, in the order they
        arrive (the same for a seed); a chunk's first state is marked as a start, since a chunk
        may begin in the middle of a plan (every state on an optimal plan is itself a puzzle of
        its remaining length). States given to `add` go to the next lane that needs a chunk,
        before the producer's. Every state is used once, in order.
        """
        self._added = []
        waiting: list[list[LabelledStates]] = [[] for _ in range(lanes)]  # each lane's unread states
        for _ in range(n):
            runs = []
            for lane in waiting:
                parts, need = [], length
                while need:
                    if not lane:
                        lane.append(self._next_chunk())
                    part = lane[0][:need]
                    lane[0] = lane[0][need:]
                    if not len(lane[0]):
                        lane.pop(0)
                    parts.append(part)
                    need -= len(part)
                runs.append(LabelledStates.concatenate(parts))
            self.states_drawn += lanes * length
            yield LabelledStates.concatenate(runs)

    def _next_chunk(self) -> LabelledStates:
        """A lane's next chunk: added states first, else the producer's; its first state a start."""
        assert self._added is not None  # set by sequences
        states = self._added.pop(0) if self._added else self._receive(block=True)
        assert states is not None  # a blocking receive returns a chunk or raises
        states.start[0] = True
        return states

    @property
    def reuse(self) -> float:
        """States drawn per state received or added: about 1 or less means (almost) never repeated."""
        return self.states_drawn / max(self.states_received + self.states_added, 1)

    # -- lifetime -------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the producer and wait for it."""
        self._stop.set()
        while True:  # a producer blocked on a full queue needs room to see the stop
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
        self._queue.close()

    def __enter__(self) -> SolverStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
