"""Nothing lost on any output: every file kspec writes goes through
:mod:`kspec._atomic`, which writes through symlinks, keeps a file's mode,
refuses an output that is one of the command's inputs, reports problems with
the user's path (never its temporary file) and leaves an existing output
byte for byte unchanged on any failure or interruption."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kspec._atomic import OutputError, atomic_path, check_output, is_kspec_temp, write_text_atomic
from kspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
KSPEC = ROOT / ".venv" / "bin" / "kspec"
SMALL = "model m {\n  input x: (3,)\n  output y = x -> Dense(2)\n}\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def temps(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if is_kspec_temp(name))


# --------------------------------------------------------------------------
# an output that is one of the inputs


def test_convert_refuses_to_overwrite_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    original = (EXAMPLES / "siamese.yaml").read_bytes()
    Path("a.yaml").write_bytes(original)
    assert run(capsys, "convert", "a.yaml", "a.yaml") == (
        2,
        "",
        "kspec: error: cannot write 'a.yaml': it is the input file 'a.yaml'\n",
    )
    os.symlink("a.yaml", "link.yaml")
    assert run(capsys, "convert", "a.yaml", "link.yaml") == (
        2,
        "",
        "kspec: error: cannot write 'link.yaml': it is the input file 'a.yaml'\n",
    )
    os.link("a.yaml", "hard.yaml")
    assert run(capsys, "convert", "hard.yaml", "a.yaml") == (
        2,
        "",
        "kspec: error: cannot write 'a.yaml': it is the input file 'hard.yaml'\n",
    )
    assert Path("a.yaml").read_bytes() == original
    assert temps(tmp_path) == []


def test_decompile_refuses_a_weights_file_that_is_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("m.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\nweights")
    code, out, err = run(capsys, "decompile", "m.weights.h5", "-o", "m.kspec")
    assert (code, out) == (2, "")
    assert err == (
        "kspec: error: cannot write 'm.weights.h5': it is the input file 'm.weights.h5' "
        "(the weights file of 'm.kspec'): choose another -o name, or pass --no-weights\n"
    )
    assert Path("m.weights.h5").read_bytes() == b"\x89HDF\r\n\x1a\nweights"
    assert sorted(os.listdir(tmp_path)) == ["m.weights.h5"]


def test_compile_refuses_to_write_over_its_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("w.h5").write_bytes(b"weights")
    code, _, err = run(capsys, "compile", str(EXAMPLES / "siamese.yaml"), "--weights", "w.h5", "-o", "w.h5")
    assert (code, err) == (2, "kspec: error: cannot write 'w.h5': it is the input file 'w.h5'\n")
    assert Path("w.h5").read_bytes() == b"weights"


def test_predict_refuses_to_write_over_its_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("d.npz").write_bytes(b"PK\x05\x06" + bytes(18))
    Path("m.keras").write_bytes(b"model")
    code, _, err = run(capsys, "predict", "m.keras", "--data", "d.npz", "-o", "d.npz")
    assert (code, err) == (2, "kspec: error: cannot write 'd.npz': it is the input file 'd.npz'\n")
    assert Path("d.npz").read_bytes() == b"PK\x05\x06" + bytes(18)


def test_train_refuses_history_files_that_are_its_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("d.csv").write_text("1,2,3,4,5,6,7,8,9\n", encoding="utf-8")
    code, _, err = run(
        capsys, "train", str(EXAMPLES / "regression_train.yaml"), "--data", "d.csv", "-o", "m.keras", "--history", "d"
    )
    assert (code, err) == (2, "kspec: error: cannot write 'd.csv': it is the input file 'd.csv'\n")
    assert sorted(os.listdir(tmp_path)) == ["d.csv"]


# --------------------------------------------------------------------------
# symlinks, modes, devices, directories


def test_fmt_formats_a_symlinks_target_and_keeps_its_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "real.kspec"
    real.write_text("model m {\ninput x: (3,)\noutput y = x -> Dense(2)\n}\n", encoding="utf-8")
    real.chmod(0o600)
    link = tmp_path / "link.kspec"
    link.symlink_to("real.kspec")
    assert run(capsys, "fmt", str(link)) == (0, f"formatted {link}\n", "")
    assert link.is_symlink() and os.readlink(link) == "real.kspec"
    assert real.read_text(encoding="utf-8") == SMALL
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["link.kspec", "real.kspec"]


def test_a_rewritten_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.yaml"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o640)
    write_text_atomic(target, "new")
    assert (target.read_text(encoding="utf-8"), stat.S_IMODE(target.stat().st_mode)) == ("new", 0o640)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_symlink_to_dev_full_reports_the_write_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "out.yaml"
    link.symlink_to("/dev/full")
    code, out, err = run(capsys, "convert", str(EXAMPLES / "siamese.kspec"), str(link))
    assert (code, out, err) == (2, "", f"kspec: error: cannot write '{link}': No space left on device\n")
    assert link.is_symlink() and os.readlink(link) == "/dev/full"
    assert os.listdir(tmp_path) == ["out.yaml"]


def test_a_symlink_to_dev_null_is_written_through(tmp_path: Path) -> None:
    link = tmp_path / "out.yaml"
    link.symlink_to("/dev/null")
    write_text_atomic(link, "text")
    assert link.is_symlink() and os.listdir(tmp_path) == ["out.yaml"]


def test_an_output_that_is_a_directory_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.yaml"
    out.mkdir()
    code, _, err = run(capsys, "convert", str(EXAMPLES / "siamese.kspec"), str(out))
    assert (code, err) == (2, f"kspec: error: cannot write '{out}': it is a directory\n")
    assert os.listdir(tmp_path) == ["out.yaml"]


def test_an_output_under_a_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("", encoding="utf-8")
    out = tmp_path / "f" / "out.yaml"
    code, _, err = run(capsys, "convert", str(EXAMPLES / "siamese.kspec"), str(out))
    assert (code, err) == (2, f"kspec: error: cannot write '{out}': '{tmp_path / 'f'}' is not a directory\n")


def test_a_read_only_directory_is_named_not_the_temporary_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.yaml"
    out.write_text("previous", encoding="utf-8")
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as for a user without write permission
    code, _, err = run(capsys, "convert", str(EXAMPLES / "siamese.kspec"), str(out))
    assert (code, err) == (2, f"kspec: error: cannot write '{out}': directory '{tmp_path}' is not writable\n")
    assert out.read_text(encoding="utf-8") == "previous"


def test_a_file_system_that_refuses_new_files_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def refuse(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        if is_kspec_temp(Path(path).name):
            raise OSError(30, "Read-only file system", str(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(OutputError) as info:
        write_text_atomic(tmp_path / "out.yaml", "text")
    assert str(info.value) == (
        f"cannot write '{tmp_path / 'out.yaml'}': cannot create a file in directory '{tmp_path}': Read-only file system"
    )


def test_a_disk_full_while_writing_names_the_users_path(tmp_path: Path) -> None:
    target = tmp_path / "model.h5"
    target.write_bytes(b"previous")
    with pytest.raises(OutputError) as info, atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")
    assert str(info.value) == f"cannot write '{target}': No space left on device"
    assert target.read_bytes() == b"previous" and os.listdir(tmp_path) == ["model.h5"]


def test_control_characters_in_a_path_are_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a\x1b[31m" / "x.yaml"
    code, _, err = run(capsys, "convert", str(EXAMPLES / "siamese.kspec"), str(out))
    shown = str(tmp_path / "a\\x1b[31m")
    assert (code, err) == (2, f"kspec: error: cannot write '{shown}/x.yaml': directory '{shown}' does not exist\n")


# --------------------------------------------------------------------------
# temporary files: hidden, cleaned on signals, stale ones removed


def test_the_temporary_file_is_hidden_with_kspecs_pattern(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "model.weights.h5") as tmp:
        assert tmp.name.startswith(".model.kspec-") and tmp.name.endswith(".tmp.weights.h5")
        assert is_kspec_temp(tmp.name) and tmp.parent == tmp_path
        tmp.write_bytes(b"w")
    assert os.listdir(tmp_path) == ["model.weights.h5"]


def test_a_dead_runs_temporary_file_is_removed_by_the_next_write(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    stale = tmp_path / f".m.kspec-{dead.stdout.strip()}-0123abcd.tmp.keras"
    live = tmp_path / f".m.kspec-{os.getppid()}-0123abcd.tmp.keras"  # a running process's
    other = tmp_path / ".m.0123abcd.tmp.keras"  # not kspec's pattern
    for path in (stale, live, other):
        path.write_bytes(b"partial")
    write_text_atomic(tmp_path / "out.yaml", "x")
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, other.name, "out.yaml"])


def test_sigint_during_a_write_removes_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "out.keras"
    target.write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # the handler runs here
    assert target.read_bytes() == b"previous" and os.listdir(tmp_path) == ["out.keras"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


BIG = "sequential big {\n  input (2048,)\n  Dense(2048)\n  Dense(2048)\n}\n"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 130)])
def test_a_compile_killed_while_saving_leaves_no_temporary_file(tmp_path: Path, signum: int, code: int) -> None:
    spec = tmp_path / "big.kspec"
    spec.write_text(BIG, encoding="utf-8")
    out = tmp_path / "big.h5"
    out.write_bytes(b"previous")
    command = [str(KSPEC)] if KSPEC.exists() else [sys.executable, "-m", "kspec"]
    proc = subprocess.Popen(
        [*command, "compile", str(spec), "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        seen = temps(tmp_path)
        if seen and (tmp_path / seen[0]).exists() and (tmp_path / seen[0]).stat().st_size > 4096:
            proc.send_signal(signum)  # mid-save
            break
        time.sleep(0.002)
    _, err = proc.communicate(timeout=60)
    assert seen, f"the save finished before it could be interrupted: {err}"
    assert proc.returncode == code
    assert err == ("kspec: interrupted\n" if signum == signal.SIGINT else "")
    assert out.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["big.h5", "big.kspec"]


def test_check_output_returns_where_a_write_lands(tmp_path: Path) -> None:
    (tmp_path / "real.keras").write_bytes(b"")
    (tmp_path / "link.keras").symlink_to("real.keras")
    assert check_output(tmp_path / "link.keras") == tmp_path / "real.keras"
    assert check_output(tmp_path / "new.keras") == tmp_path / "new.keras"
