"""Imitating the solver (`gridlab.training.imitation`)."""

from pathlib import Path

import numpy as np
import pytest

from gridlab.agent import Agent
from gridlab.env import BoardSpec, PuzzleBank, generate_bank
from gridlab.env.board import replay
from gridlab.env.observations import ObservationEncoder
from gridlab.training import TrainConfig
from gridlab.training.imitation import imitate, optimal_move_accuracy, solver_dataset


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> PuzzleBank:
    folder = tmp_path_factory.mktemp("bank") / "5x5-1"
    generate_bank(folder, BoardSpec(5, 5, 1), per_length=150, min_moves=1, max_moves=3, heldout_fraction=0.25,
                  seed=0, progress=False)  # fmt: skip
    return PuzzleBank.load(folder)


def test_states_along_each_plan_are_labelled_with_exactly_the_optimal_moves(bank: PuzzleBank) -> None:
    data = solver_dataset(bank, "heldout", progress=False)
    rows = np.concatenate([bank.indices(length=n, split="heldout") for n in (1, 2, 3)])  # dataset order
    lengths = bank.arrays["length"][rows]
    assert len(data) == lengths.sum()  # a length-L puzzle gives L states
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    np.testing.assert_array_equal(data.length[first], lengths)
    layout = bank.layout(int(rows[0]))
    np.testing.assert_array_equal(data.obs[0], ObservationEncoder(layout, "image", True, 1)(layout.robots))
    puzzle_of_state = np.searchsorted(first, np.arange(len(data)), side="right") - 1
    for i in np.flatnonzero(data.length == 1):  # one move from the goal: labelled iff it ends there
        robot = tuple(int(x) for x in np.argwhere(data.obs[i, 6])[0])
        board = bank.layout(int(rows[puzzle_of_state[i]])).with_robots([robot])
        np.testing.assert_array_equal(data.optimal[i], [replay(board, [(0, d)])[1] for d in range(4)])
    assert data.optimal.any(axis=1).all()


def test_imitation_learns_to_play_the_held_out_puzzles(bank: PuzzleBank, tmp_path: Path) -> None:
    config = TrainConfig(bank=str(bank.path), height=5, width=5, num_robots=1, min_moves=1, max_moves=3,
                         policy="small_cnn", output_dir=str(tmp_path))  # fmt: skip
    data = solver_dataset(bank, "train", progress=False)
    imitation = imitate(config, data, updates=600, progress=False)
    loss = imitation.losses
    assert np.mean(loss[-50:]) < 0.5 * np.mean(loss[:50])
    heldout = solver_dataset(bank, "heldout", progress=False)
    untrained = imitate(config, data, updates=0, progress=False).policy
    accuracy = optimal_move_accuracy(imitation.policy, heldout)
    before = optimal_move_accuracy(untrained, heldout)
    assert accuracy[1] > 0.85 and accuracy[2] > 0.8
    assert sum(accuracy.values()) > sum(before.values()) + 3 * 0.3
    agent = Agent.from_policy(imitation.policy, config, imitation.training())
    assert agent.metadata["training"]["imitation_updates"] == 600
    result = agent.evaluate(episodes=10, per_length=True, progress=False)
    assert result.by_length()[1]["success_rate"] >= 0.8


def test_a_recurrent_policy_is_refused(bank: PuzzleBank) -> None:
    config = TrainConfig(bank=str(bank.path), height=5, width=5, num_robots=1, policy="convlstm")
    with pytest.raises(ValueError, match="recurrent"):
        imitate(config, solver_dataset(bank, "heldout", progress=False), updates=1)
