"""``kspec viz``: the page for a small CNN trained here on generated images,
checked in a real browser (headless Chromium through the system's
chromedriver) and against Keras's own activations."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kspec.cli import main
from kspec.runtime._quiet import import_keras

CNN = """
model shapes {
  input image: (20, 20, 1)
  h = image -> Rescaling(1.0 / 255) -> Conv2D(6, 3, activation="relu", name="conv_a")
      -> MaxPooling2D(2) -> BatchNormalization(name="norm")
      -> Conv2D(5, 3, activation="relu", name="conv_b")
  output label = h -> GlobalAveragePooling2D() -> Dense(2, activation="softmax")
}
"""

SIZE = 20


def _draw(kind: str, rng: np.random.Generator) -> Any:
    from PIL import Image, ImageDraw

    img = Image.new("L", (SIZE, SIZE), 0)
    d = ImageDraw.Draw(img)
    x, y = (int(v) for v in rng.integers(2, 7, 2))
    s = int(rng.integers(9, 13))
    if kind == "circle":
        d.ellipse((x, y, x + s, y + s), outline=255, width=2)
    else:
        d.rectangle((x, y, x + s, y + s), outline=255, width=2)
    return img


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CNN trained for a few epochs on circles and squares, saved as .keras,
    with two images it has not seen, a class names file and a non-image file."""
    import kspec

    keras = import_keras()
    root = tmp_path_factory.mktemp("viz")
    rng = np.random.default_rng(7)
    kinds = ["circle", "square"]
    xs, ys = [], []
    for i in range(96):
        xs.append(np.asarray(_draw(kinds[i % 2], rng), dtype=np.float32)[..., None])
        ys.append(i % 2)
    keras.utils.set_random_seed(3)
    model = kspec.build(kspec.loads(CNN))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(np.stack(xs), np.array(ys), epochs=4, batch_size=16, verbose=0)
    model.save(root / "shapes.keras")
    images = root / "images"
    images.mkdir()
    for i, kind in enumerate(kinds):
        _draw(kind, rng).save(images / f"{i}_{kind}.png")
    (root / "classes.txt").write_text("circle\nsquare\n", encoding="utf-8")
    (root / "notes.txt").write_text("not an image\n", encoding="utf-8")
    return {"root": root, "model": root / "shapes.keras", "images": images, "classes": root / "classes.txt",
            "text": root / "notes.txt"}


@pytest.fixture(scope="module")
def report(trained: dict[str, Path]) -> Path:
    out = trained["root"] / "report.html"
    code = main(["viz", str(trained["model"]), "--images", str(trained["images"]), "--classes",
                 str(trained["classes"]), "--top-k", "2", "-o", str(out)])
    assert code == 0
    return out


def page_data(page: Path) -> dict[str, Any]:
    """The JSON the page embeds."""
    text = page.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="kspec-data">(.*?)</script>', text, re.DOTALL)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def decode(view: dict[str, Any], channel: int) -> np.ndarray:
    """The values of one channel map, read back from its PNG through the recorded min/max."""
    from PIL import Image

    raw = base64.b64decode(view["src"].split(",", 1)[1])
    sheet = np.asarray(Image.open(io.BytesIO(raw)))  # palette indices: the quantised levels
    th, tw = view["tile"]
    r, k = divmod(channel, view["cols"])
    levels = sheet[r * th:(r + 1) * th, k * tw:(k + 1) * tw].astype(np.float64)
    low, high = view["min"][channel], view["max"][channel]
    return np.asarray(low + levels / 255.0 * (high - low))


def test_page_is_self_contained_and_complete(report: Path, trained: dict[str, Path]) -> None:
    keras = import_keras()
    model = keras.models.load_model(trained["model"])
    text = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "the page must not fetch anything"
    assert "<script src" not in text and 'rel="stylesheet"' not in text
    data = page_data(report)
    assert {n["id"] for n in data["nodes"]} == {layer.name for layer in model.layers}
    by_id = {n["id"]: n for n in data["nodes"]}
    assert by_id["conv_a"]["params"] == 6 * 9 + 6
    assert (by_id["norm"]["params"], by_id["norm"]["trainable"]) == (24, 12)
    assert {"s": "conv_a", "t": "h_max_pooling2d", "shape": "(None, 18, 18, 6)"} in data["edges"]
    samples = data["samples"]
    assert [s["label"] for s in samples] == ["0_circle.png", "1_square.png"]
    for s in samples:
        assert [p["label"] for p in s["predictions"]] in (["circle", "square"], ["square", "circle"])
        assert s["gradcam"].startswith("data:image/png;base64,") or "not" in s["gradcam_note"]
        assert set(s["layers"]) == {"conv_a", "h_max_pooling2d", "norm", "conv_b", "label_global_average_pooling2d",
                                    "label"}


def test_activation_values_equal_keras(report: Path, trained: dict[str, Path]) -> None:
    from PIL import Image

    keras = import_keras()
    model = keras.models.load_model(trained["model"])
    data = page_data(report)
    for sample in data["samples"]:
        image = np.asarray(Image.open(trained["images"] / sample["label"]), dtype=np.float32)[None, ..., None]
        for name in ("conv_a", "h_max_pooling2d", "norm", "conv_b"):
            layer = model.get_layer(name)
            expected = np.asarray(keras.Model(model.inputs, layer.output)(image))[0]
            view = sample["layers"][name]
            assert view["count"] == view["total"] == expected.shape[-1]
            for c in range(expected.shape[-1]):
                step = (view["max"][c] - view["min"][c]) / 255
                got = decode(view, c)
                assert got.shape == expected.shape[:2]
                np.testing.assert_allclose(got, expected[..., c], rtol=0, atol=step / 2 + 1e-5,
                                           err_msg=f"{sample['label']} {name} channel {c}")


def test_summary_of_predictions_matches_the_model(report: Path, trained: dict[str, Path]) -> None:
    from PIL import Image

    keras = import_keras()
    model = keras.models.load_model(trained["model"])
    for sample in page_data(report)["samples"]:
        image = np.asarray(Image.open(trained["images"] / sample["label"]), dtype=np.float32)[None, ..., None]
        scores = np.asarray(model(image))[0]
        top = sample["predictions"][0]
        assert top["index"] == int(np.argmax(scores))
        assert top["score"] == pytest.approx(float(scores.max()), abs=1e-5)


def _chrome() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists()
                                              else None)
    return (browser, driver) if browser and driver else None


def browser_or_skip() -> Any:
    """A headless Chromium driven through the system's chromedriver (never a
    downloaded one); skips without one, fails when KSPEC_REQUIRE_BROWSER=1."""
    found = _chrome()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        found = None
    if found is None:
        message = ("no headless browser: install the chromium and chromium-driver system packages and selenium 4 "
                   "(the page is tested in a real browser)")
        if os.environ.get("KSPEC_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,900"):
        options.add_argument(flag)
    options.binary_location = found[0]
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=found[1]), options=options)


def test_page_in_a_real_browser(report: Path, trained: dict[str, Path]) -> None:
    from selenium.webdriver.common.by import By

    keras = import_keras()
    model = keras.models.load_model(trained["model"])
    driver = browser_or_skip()
    try:
        driver.get(report.as_uri())
        shown = {e.get_attribute("data-layer") for e in driver.find_elements(By.CSS_SELECTOR, ".node[data-layer]")}
        assert shown == {layer.name for layer in model.layers}
        for name in ("conv_a", "conv_b"):
            driver.find_element(By.CSS_SELECTOR, f'.node[data-layer="{name}"]').click()
            maps = driver.find_elements(By.CSS_SELECTOR, "#layer-maps .map")
            assert len(maps) == model.get_layer(name).filters
        driver.find_element(By.CSS_SELECTOR, '.sample[data-sample="1"]').click()
        assert len(driver.find_elements(By.CSS_SELECTOR, "#layer-maps .map")) == 5
        assert "1_square.png" in driver.find_element(By.ID, "sample-info").text
        driver.find_element(By.CSS_SELECTOR, '.node[data-layer="label"]').click()
        assert driver.find_elements(By.CSS_SELECTOR, '#layer-maps img[data-kind="heat"]')
        errors = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
        assert errors == []
        shot = trained["root"] / "viz-page.png"
        driver.save_screenshot(str(shot))
        print(f"screenshot: {shot}")
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()


def test_a_file_that_is_not_an_image(trained: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = trained["root"] / "bad.html"
    code = main(["viz", str(trained["model"]), "--images", str(trained["text"]), "-o", str(out)])
    assert code == 2
    assert capsys.readouterr().err == f"kspec: error: '{trained['text']}' is not an image Pillow can read\n"
    assert not out.exists()


def test_a_model_without_an_image_input(tmp_path: Path, trained: dict[str, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "mlp.kspec"
    spec.write_text("sequential mlp {\n  input (8,)\n  Dense(4, activation=\"relu\")\n  Dense(2)\n}\n",
                    encoding="utf-8")
    code = main(["viz", str(spec), "--images", str(trained["images"]), "-o", str(tmp_path / "r.html")])
    assert code == 2
    assert capsys.readouterr().err == ("kspec: error: the model's input has shape (None, 8), not an image (height, "
                                       "width, channels) with a known size; --images needs an image input\n")


def test_sequence_model_heat_maps_and_blocks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "seq.kspec"
    spec.write_text(
        "block dense_unit(x, units: int) {\n"
        "  h = x -> Dense(units, activation=\"relu\")\n"
        "  return h -> LayerNormalization()\n"
        "}\n"
        "block units(x, n: int) {\n"
        "  u = x\n"
        "  for i in range(n) {\n"
        "    u = u -> dense_unit(4)\n"
        "  }\n"
        "  return u\n"
        "}\n"
        "model seq {\n"
        "  input tokens: (7,) int32\n"
        "  e = tokens -> Embedding(50, 6) -> LSTM(5, return_sequences=true)\n"
        "  top = e -> units(2)\n"
        "  output y = top -> GlobalAveragePooling1D() -> Dense(3, activation=\"softmax\")\n"
        "}\n", encoding="utf-8")
    rows = tmp_path / "rows.npz"
    np.savez(rows, tokens=np.arange(21, dtype=np.int32).reshape(3, 7))
    out = tmp_path / "seq.html"
    code = main(["viz", str(spec), "--inputs", str(rows), "--max-images", "2", "-o", str(out)])
    captured = capsys.readouterr()
    assert (code, captured.err) == (0, "")
    data = page_data(out)
    assert [s["label"] for s in data["samples"]] == ["row 0", "row 1"]
    assert data["notes"] == ["showing the first 2 of 3 rows (--max-images raises the limit)"]
    lstm = next(n for n in data["nodes"] if n["type"] == "LSTM")["id"]
    view = data["samples"][0]["layers"][lstm]
    assert (view["kind"], view["size"], view["axes"]) == ("heat", [7, 5], "time x features")
    labels = sorted(g["label"] for g in data["groups"])
    assert labels == ["dense_unit top_u0", "dense_unit top_u1", "units top"]
    outer = next(g["id"] for g in data["groups"] if g["label"] == "units top")
    inner = {g["label"]: g["id"] for g in data["groups"] if g["parent"] == outer}
    assert sorted(inner) == ["dense_unit top_u0", "dense_unit top_u1"]
    members = {n["id"]: n["groups"] for n in data["nodes"] if n["groups"]}
    assert len(members) == 4  # two Dense and two LayerNormalization layers, two of each loop turn
    for label, gid in inner.items():
        assert sorted(n.split("_")[1] for n, g in members.items() if g == [outer, gid]) == [label[-2:]] * 2


SPLIT = """
model inner {
  input x: (6,)
  output y = x -> Dense(4) -> BatchNormalization(center=false)
}

model split {
  input a: (6,)
  input b: (6,)
  norm = BatchNormalization()
  frozen = Dense(3, trainable=false)
  p = a -> norm -> inner
  q = b -> norm -> frozen
  stats = a -> Normalization(mean=0.0, variance=1.0) -> Normalization()
  output out = Concatenate()(p, q, stats) -> Dense(2)
}
"""


def test_summary_trainable_split_matches_keras(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import kspec

    spec = tmp_path / "split.kspec"
    spec.write_text(SPLIT, encoding="utf-8")
    assert main(["summary", str(spec)]) == 0
    lines = capsys.readouterr().out.splitlines()
    model = kspec.build(kspec.load(spec))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert frozen == 2 * 4 + 2 * 6 + (6 * 3 + 3) + (6 + 6 + 1)  # BN statistics, the frozen Dense, adapt()ed stats
    assert lines[-3:] == [f"Total params: {model.count_params():,}", f"Trainable params: {trainable:,}",
                          f"Non-trainable params: {frozen:,}"]


def test_graph_shapes_and_svg_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(tmp_path)
    assert main(["graph", str(root / "examples" / "siamese.kspec"), "--shapes"]) == 0
    assert capsys.readouterr().out == "wrote siamese.svg (7 layers, model 'matcher')\n"
    svg = (tmp_path / "siamese.svg").read_text(encoding="utf-8")
    assert ">(None, 100, 64)  640,000 params  shared x2</text>" in svg
    assert svg.count('fill="#6b4fa0">') == 6  # one shape label per edge
    assert main(["graph", str(root / "examples" / "siamese.kspec"), "--shapes", "-o", "g.dot"]) == 0
    dot = (tmp_path / "g.dot").read_text(encoding="utf-8")
    assert '  "encoder_lstm" -> "merged" [label="(None, 32)", fontsize=9];\n' in dot
    assert '"topic" [label="topic (Dense)\\n(None, 5)\\n325 params"];' in dot


def test_server_binds_loopback_answers_and_refuses(trained: dict[str, Path]) -> None:
    import http.client

    import kspec.viz

    keras = import_keras()
    model = keras.models.load_model(trained["model"])
    server = kspec.viz.launch(model, port=0, block=False, images=[str(trained["images"])],
                              classes=str(trained["classes"]))
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"

        def get(path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            return response.status, body

        status, body = get("/")
        assert status == 200 and b'id="kspec-data"' in body and b'"serve":true' in body
        status, body = get("/api/layer?sample=1&layer=conv_b")
        view = json.loads(body)
        assert status == 200 and (view["kind"], view["count"]) == ("grid", 5)
        status, body = get("/api/sample?sample=0")
        assert status == 200 and {p["label"] for p in json.loads(body)["predictions"]} == {"circle", "square"}
        for climbing in ("/../etc/passwd", "/api/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2fx"):
            assert get(climbing)[0] == 403, climbing
        assert get("/report.html")[0] == 404
        assert get("/", {"Host": f"attacker.example:{port}"})[0] == 403
        assert get("/api/layer?sample=9&layer=conv_b")[0] == 400
    finally:
        server.shutdown()
        server.server_close()


def test_served_page_in_a_real_browser(trained: dict[str, Path]) -> None:
    """With ``--serve`` the page asks for maps when a layer is clicked."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    import kspec.viz

    keras = import_keras()
    model = keras.models.load_model(trained["model"])
    driver = browser_or_skip()
    server = kspec.viz.launch(model, port=0, block=False, images=[str(trained["images"])])
    try:
        driver.get(server.url)
        driver.find_element(By.CSS_SELECTOR, '.node[data-layer="conv_a"]').click()
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#layer-maps .map"))
        assert len(driver.find_elements(By.CSS_SELECTOR, "#layer-maps .map")) == 6
        WebDriverWait(driver, 20).until(lambda d: "class " in d.find_element(By.ID, "sample-info").text)
        assert [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")] == []
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()


def test_jupyter_reprs(trained: dict[str, Path]) -> None:
    import html

    import kspec
    import kspec.viz

    keras = import_keras()
    spec_svg = kspec.viz.show(kspec.loads(CNN))._repr_svg_()
    assert spec_svg.startswith("<svg") and ">(None, 18, 18, 6)  60 params</text>" in spec_svg
    model = keras.models.load_model(trained["model"])
    assert ">(None, 7, 7, 5)  275 params</text>" in kspec.viz.show(model)._repr_svg_()
    frame = kspec.viz.show(model, images=[str(trained["images"])])._repr_html_()
    assert frame.startswith('<iframe srcdoc="') and 'sandbox="allow-scripts"' in frame
    page = html.unescape(frame.split('srcdoc="', 1)[1].split('" style=', 1)[0])
    assert '"label":"1_square.png"' in page and '"conv_a":{"kind":"grid"' in page


def test_predictions_name_classes_and_read_one_sigmoid_unit() -> None:
    from kspec.runtime.viz import predictions

    top = predictions(np.array([0.1, 0.7, 0.2]), ["a", "b", "c"], 2)
    assert [(p["index"], p["label"]) for p in top] == [(1, "b"), (2, "c")]
    binary = predictions(np.array([0.25]), ["cat", "dog"], 5)
    assert [(p["label"], round(p["score"], 6)) for p in binary] == [("cat", 0.75), ("dog", 0.25)]


@pytest.mark.slow
def test_serve_command_stops_cleanly_on_ctrl_c(trained: dict[str, Path]) -> None:
    """``kspec viz --serve`` in its own process: it serves, and SIGINT ends it with exit 0."""
    import signal
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "kspec", "viz", str(trained["model"]), "--images",
                             str(trained["images"]), "--serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/) \(Ctrl-C stops\)", line)
        assert match, line
        with urllib.request.urlopen(match.group(1) + "api/layer?sample=0&layer=conv_a", timeout=60) as answer:
            assert json.loads(answer.read())["count"] == 6
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert (proc.returncode, err) == (0, "stopped\n")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
