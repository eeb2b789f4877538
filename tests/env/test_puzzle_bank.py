"""Puzzle banks: generation, top-up, atomic saves, splits, sampling, and the envs drawing from them."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

import gridlab
from gridlab.env import BatchedRicochetVecEnv, BoardSpec, RicochetRobotsEnv, solve
from gridlab.env.puzzle_bank import LengthSampler, PuzzleBank, find_bank, generate_bank

SPEC = BoardSpec(6, 6, 2)


@pytest.fixture(scope="module")
def bank_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("banks") / "six"
    generate_bank(
        path, SPEC, per_length=20, min_moves=1, max_moves=4, seed=0, heldout_fraction=0.25, progress=False
    )
    return path


def test_generated_bank_has_the_counts_and_every_length_is_optimal(bank_dir: Path) -> None:
    bank = PuzzleBank.load(bank_dir)
    assert bank.counts("all") == {1: 20, 2: 20, 3: 20, 4: 20}
    for i in range(len(bank)):
        assert len(solve(bank.layout(i))) == bank.arrays["length"][i]
    keys = {bank.layout(i) for i in range(len(bank))}
    assert len(keys) == len(bank)  # no duplicates
    heldout = len(bank.indices(split="heldout"))
    assert 8 <= heldout <= 35 and heldout + len(bank.indices(split="train")) == 80
    manifest = json.loads((bank_dir / "manifest.json").read_text())
    assert manifest["total"] == 80 and manifest["spec"]["height"] == 6


def test_generation_is_deterministic_and_top_up_keeps_old_puzzles(bank_dir: Path, tmp_path: Path) -> None:
    other = generate_bank(tmp_path / "b", SPEC, 20, 1, 4, seed=0, heldout_fraction=0.25, progress=False)
    for name, array in PuzzleBank.load(bank_dir).arrays.items():
        np.testing.assert_array_equal(other.arrays[name], array)
    topped = generate_bank(
        tmp_path / "b", SPEC, {3: 30, 4: 25}, 1, 4, seed=0, heldout_fraction=0.25, progress=False
    )
    assert topped.counts("all") == {1: 20, 2: 20, 3: 30, 4: 25}
    assert len({topped.layout(i) for i in range(len(topped))}) == len(topped)
    for name, array in other.arrays.items():  # the first 80 rows are untouched, split included
        np.testing.assert_array_equal(topped.arrays[name][:80], array)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["manifest.json", "puzzles-000002.npz"]


def test_interrupted_generation_leaves_a_loadable_bank(tmp_path: Path) -> None:
    path = tmp_path / "killed"
    script = (  # Ctrl-C raises KeyboardInterrupt even when pytest runs in the background (SIGINT ignored)
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from gridlab.env import BoardSpec; from gridlab.env.puzzle_bank import generate_bank; "
        f"generate_bank({str(path)!r}, BoardSpec(8, 8, 3), 100000, 1, 10, save_every=0.2, progress=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while not (path / "manifest.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.7)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: saves what it has
    proc.wait(timeout=60)
    first = PuzzleBank.load(path)
    assert len(first) > 0
    proc = subprocess.Popen([sys.executable, "-c", script])
    time.sleep(3)
    proc.kill()  # SIGKILL mid-run: the last completed save stays intact
    proc.wait()
    bank = PuzzleBank.load(path)
    assert len(bank) >= len(first)
    bank.save(path)  # the next save clears temporary files a killed write left behind
    assert sorted(p.name for p in path.iterdir())[0] == "manifest.json"
    assert len(list(path.iterdir())) == 2


def test_sampler_follows_the_weights_and_can_change_them(bank_dir: Path) -> None:
    bank = PuzzleBank.load(bank_dir)
    sampler = LengthSampler(bank, "train", {1: 1.0, 4: 3.0})
    rng = np.random.default_rng(0)
    lengths = [sampler.draw(rng)[1] for _ in range(2000)]
    assert set(lengths) == {1, 4} and 0.7 < lengths.count(4) / 2000 < 0.8
    sampler.set_weights({2: 1.0})
    rows = [sampler.draw(rng)[0] for _ in range(50)]
    assert all(bank.arrays["length"][r] == 2 and not bank.arrays["heldout"][r] for r in rows)


def test_env_draws_from_the_bank_and_heldout_split_is_separate(bank_dir: Path) -> None:
    bank = PuzzleBank.load(bank_dir)
    train = RicochetRobotsEnv(bank=bank, seed=0, length_weights={3: 1.0})
    heldout = RicochetRobotsEnv(bank=bank_dir, bank_split="heldout", seed=0)
    assert (train.height, train.width, train.num_robots) == (6, 6, 2)
    train_layouts = set()
    for _ in range(100):
        _, info = train.reset()
        assert info["optimal_length"] == 3
        train_layouts.add(train.layout)
    heldout_layouts = set()
    for _ in range(100):
        heldout.reset()
        heldout_layouts.add(heldout.layout)
    assert train_layouts.isdisjoint(heldout_layouts)
    train.set_length_weights({1: 1.0})
    assert train.reset()[1]["optimal_length"] == 1


def test_batched_env_matches_dummy_on_a_bank_and_follows_a_curriculum(bank_dir: Path) -> None:
    kwargs = {"bank": bank_dir, "max_steps": 10, "min_moves": 2, "max_moves": 3}
    dummy = DummyVecEnv([partial(RicochetRobotsEnv, seed=i, **kwargs) for i in range(6)])
    batched = BatchedRicochetVecEnv(6, seed=0, **kwargs)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(dummy.reset(), batched.reset())
    for step in range(600):
        if step == 300:
            for venv in (dummy, batched):
                venv.env_method("set_length_weights", {4: 1.0})
        actions = rng.integers(8, size=6)
        a, b = dummy.step(actions), batched.step(actions)
        for x, y in zip(a[:3], b[:3], strict=True):
            np.testing.assert_array_equal(x, y)
        assert dummy.reset_infos == batched.reset_infos
    assert {info["optimal_length"] for info in batched.reset_infos} == {4}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"bank": "no/such/bank"}, FileNotFoundError, "no puzzle bank at no/such/bank"),
        ({"height": 8}, ValueError, "bank .* holds 6x6 boards with 2 robots .* but the env wants 8x6"),
        ({"corner_density": 0.2}, ValueError, "corner_density=0.2"),
        ({"min_moves": 7, "max_moves": 9}, ValueError, "no puzzles with optimal length in \\[7, 9\\]"),
        ({"length_weights": {9: 1.0}}, ValueError, "no puzzles of optimal length \\[9\\]"),
        ({"length_weights": {1: 0.0}}, ValueError, "positive sum"),
        ({"bank_split": "test"}, ValueError, "unknown split 'test'"),
    ],
)
def test_bad_bank_use_raises_clear_errors(bank_dir: Path, kwargs: dict, error: type, message: str) -> None:
    kwargs = {"bank": bank_dir} | kwargs
    with pytest.raises(error, match=message):
        RicochetRobotsEnv(**kwargs)


def test_corrupt_or_newer_banks_are_rejected(bank_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(bank_dir, bad)
    arrays = next(bad.glob("puzzles-*.npz"))
    arrays.write_bytes(arrays.read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupt bank arrays"):
        PuzzleBank.load(bad)
    arrays.unlink()
    with pytest.raises(FileNotFoundError, match="missing its arrays file"):
        PuzzleBank.load(bad)
    (bad / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"corrupt .*manifest\.json"):
        PuzzleBank.load(bad)
    manifest = json.loads((bank_dir / "manifest.json").read_text()) | {"format_version": 99}
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="newer than this gridlab reads"):
        PuzzleBank.load(bad)


def test_top_up_with_other_settings_is_rejected(bank_dir: Path) -> None:
    with pytest.raises(ValueError, match="holds 6x6 boards"):
        generate_bank(bank_dir, BoardSpec(7, 7, 2), 5, progress=False)
    with pytest.raises(ValueError, match="generated with seed=0"):
        generate_bank(bank_dir, SPEC, 5, 1, 4, seed=1, heldout_fraction=0.25, progress=False)
    with pytest.raises(ValueError, match="band"):
        generate_bank(bank_dir, SPEC, 5, 4, 2, progress=False)
    assert os.path.exists(bank_dir / "manifest.json")


def test_exhausted_board_family_stops_with_a_clear_error(tmp_path: Path) -> None:
    open_4x4 = BoardSpec(4, 4, 1, corner_density=0.0, border_density=0.0)  # few distinct puzzles
    with pytest.raises(RuntimeError, match="no new puzzle in 2000 draws; still missing"):
        generate_bank(tmp_path / "tiny", open_4x4, 500, 1, 2, max_stale_draws=2000, progress=False)
    assert 0 < len(PuzzleBank.load(tmp_path / "tiny")) < 1000  # what was found is kept


def test_topping_up_a_bank_that_has_enough_leaves_its_files_untouched(bank_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "full"
    shutil.copytree(bank_dir, folder)
    for file in folder.iterdir():
        os.utime(file, ns=(1_000_000_000, 1_000_000_000))
    before = {file.name: (file.read_bytes(), file.stat().st_mtime_ns) for file in folder.iterdir()}
    for per_length in (20, {2: 20, 3: 5}):
        bank = generate_bank(folder, SPEC, per_length, 1, 4, seed=0, heldout_fraction=0.25, progress=False)
        assert bank.counts("all") == {1: 20, 2: 20, 3: 20, 4: 20} and bank.rounds == 1
    after = {file.name: (file.read_bytes(), file.stat().st_mtime_ns) for file in folder.iterdir()}
    assert after == before


def copy_bank(source: Path, folder: Path, extra_puzzles: int = 0) -> PuzzleBank:
    """Save ``source``'s puzzles (plus copies of its first ``extra_puzzles``) as a new bank in ``folder``."""
    bank = PuzzleBank.load(source)
    bank._append([(bank.layout(i), int(bank.arrays["length"][i]), False) for i in range(extra_puzzles)])
    bank.save(folder)
    return PuzzleBank.load(folder)


def test_digest_names_the_puzzles_not_the_files(bank_dir: Path, tmp_path: Path) -> None:
    bank = PuzzleBank.load(bank_dir)
    assert len(bank.digest) == 64 and int(bank.digest, 16) >= 0
    # The same arrays stored uncompressed under another file name.
    folder = tmp_path / "uncompressed"
    shutil.copytree(bank_dir, folder)
    next(folder.glob("puzzles-*.npz")).unlink()
    np.savez(folder / "other-name.npz", **bank.arrays)
    manifest = json.loads((folder / "manifest.json").read_text()) | {"arrays": "other-name.npz"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert PuzzleBank.load(folder).digest == copy_bank(bank_dir, tmp_path / "resaved").digest == bank.digest
    assert copy_bank(bank_dir, tmp_path / "one-more", extra_puzzles=1).digest != bank.digest
    wider = PuzzleBank(bank.spec, bank.seed, bank.heldout_fraction, bank.rounds, dict(bank.arrays))
    wider.arrays["length"] = wider.arrays["length"].astype(np.int32)  # same values, another dtype
    assert wider.digest != bank.digest
    before = bank.digest
    bank._append([(bank.layout(0), 1, False)])  # growing the bank forgets the cached digest
    assert bank.digest != before


@pytest.fixture
def project(bank_dir: Path, tmp_path: Path) -> Path:
    """A project folder holding the test bank as banks/six, and an empty folder to work from."""
    shutil.copytree(bank_dir, tmp_path / "project" / "banks" / "six")
    (tmp_path / "project" / "checkpoints" / "run").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    return tmp_path / "project"


def test_find_bank_from_the_working_directory_near_folders_and_gridlab_banks(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRIDLAB_BANKS", raising=False)
    digest = PuzzleBank.load(project / "banks" / "six").digest
    monkeypatch.chdir(project)
    assert find_bank("banks/six", digest).path == project / "banks" / "six"
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError):
        find_bank("banks/six")
    assert find_bank("banks/six", digest, near=[project / "checkpoints" / "run"]).digest == digest
    assert find_bank(project / "banks" / "six", digest).path == project / "banks" / "six"  # absolute
    monkeypatch.setenv("GRIDLAB_BANKS", os.pathsep.join([str(tmp_path / "nothing"), str(project / "banks")]))
    assert find_bank("old/machine/six", digest).path == project / "banks" / "six"  # by its last component
    monkeypatch.setenv("GRIDLAB_BANKS", str(project))
    assert find_bank("banks/six", digest).path == project / "banks" / "six"


def test_find_bank_falls_back_to_the_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDLAB_BANKS", raising=False)
    monkeypatch.chdir(tmp_path)
    root = Path(gridlab.__file__).resolve().parents[1]
    assert find_bank("banks/8x8-2").path == root / "banks" / "8x8-2"


def test_find_bank_skips_other_content_and_reports_every_candidate(
    project: Path, bank_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRIDLAB_BANKS", raising=False)
    run = project / "checkpoints" / "run"
    other = copy_bank(bank_dir, run / "banks" / "six", extra_puzzles=1)  # a different bank, found first
    wanted = PuzzleBank.load(project / "banks" / "six")
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert find_bank("banks/six", wanted.digest, near=[run]).path == project / "banks" / "six"
    assert find_bank("banks/six", near=[run]).path == run / "banks" / "six"  # any content: the first
    (tmp_path / "elsewhere" / "banks" / "six").mkdir(parents=True)
    (tmp_path / "elsewhere" / "banks" / "six" / "manifest.json").write_text("{not json")
    absent = "0" * 64
    with pytest.raises(FileNotFoundError) as error:
        find_bank("banks/six", absent, near=[run])
    lines = str(error.value).splitlines()
    assert lines[0] == f"no puzzle bank 'banks/six' with digest {absent} found; looked at:"
    assert lines[1].startswith(f"  {tmp_path / 'elsewhere' / 'banks' / 'six'}: corrupt: corrupt ")
    assert lines[2:5] == [
        f"  {run / 'banks' / 'six'}: different content: digest {other.digest[:12]}… != {absent[:12]}…",
        f"  {run.parent / 'banks' / 'six'}: missing",
        f"  {project / 'banks' / 'six'}: different content: digest {wanted.digest[:12]}… != {absent[:12]}…",
    ]
    assert f"  {tmp_path / 'banks' / 'six'}: missing" in lines  # every ancestor of the near folder
    root = Path(gridlab.__file__).resolve().parents[1]
    assert lines[-2] == f"  {root / 'banks' / 'six'}: missing"
    assert "set GRIDLAB_BANKS to a folder holding it" in lines[-1]
    assert "regenerate it with `gridlab puzzles generate` with the same spec and seed" in lines[-1]


def test_find_bank_returns_the_same_object_until_the_bank_changes(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    first = find_bank("banks/six")
    assert find_bank("banks/six") is first is find_bank(project / "banks" / "six", first.digest)
    manifest = project / "banks" / "six" / "manifest.json"
    os.utime(manifest, ns=(1, manifest.stat().st_mtime_ns + 1))  # as a top-up rewrites it
    second = find_bank("banks/six")
    assert second is not first and second.digest == first.digest and find_bank("banks/six") is second


def test_find_bank_rejects_bad_arguments(project: Path) -> None:
    with pytest.raises(TypeError, match="near must be a collection of folders, got the single path"):
        find_bank("banks/six", near=str(project))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="digest must be 64 lowercase hex digits"):
        find_bank("banks/six", digest="abc")


def test_env_loads_a_bank_path_exactly_as_given(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDLAB_BANKS", str(project / "banks"))
    monkeypatch.chdir(project)
    assert RicochetRobotsEnv(bank="banks/six").sampler.bank.path == Path("banks/six")
    with pytest.raises(FileNotFoundError, match="no puzzle bank at six"):
        RicochetRobotsEnv(bank="six")  # find_bank would find it; the env does not search
