"""File helpers: new folders never reuse another job's."""

from pathlib import Path

import pytest

from gridlab.files import new_folder


def test_new_folder_takes_the_first_free_name_and_never_reuses_one(tmp_path: Path) -> None:
    base = tmp_path / "runs" / "quickstart"
    assert new_folder(base) == base and base.is_dir()
    (base / "report.json").write_text("{}")
    assert new_folder(base) == tmp_path / "runs" / "quickstart-2"
    assert new_folder(base) == tmp_path / "runs" / "quickstart-3"
    assert (base / "report.json").read_text() == "{}"
    with pytest.raises(FileExistsError, match="quickstart already exists"):
        new_folder(base, numbered=False)
