"""`energy train` backend options: bad values are one-line errors (exit 2) before any Ray starts."""

from __future__ import annotations

import pytest

from energy.cli.main import main

pytestmark = pytest.mark.ray


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--backend", "nope"], "error: --backend: expected ray or local, got 'nope'"),
        (
            ["--backend", "local", "--workers", "2"],
            "error: --workers/--ray: only with the ray backend (--backend ray)",
        ),
        (["--backend", "ray", "--ray", "oops"], "error: --ray: expected KEY=VALUE, got 'oops'"),
        (
            ["--backend", "ray", "--ray", "nosuch=1"],
            "error: nosuch: Extra inputs are not permitted",
        ),
        (["--backend", "ray", "--workers", "0"], "error: num_workers: Input should be greater"),
    ],
)
def test_bad_backend_options_are_one_line_errors(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    args = ["train", "--config", "cpu", "--data", str(tmp_path / "none"),
            "--out", str(tmp_path / "o"), "--no-register", "--no-track", *extra]  # fmt: skip
    with pytest.raises(SystemExit) as done:
        main(args)
    err = capsys.readouterr().err
    assert done.value.code == 2, err
    assert err.strip().splitlines()[-1].startswith(message), err
    assert "Traceback" not in err
