"""The lab in headless Chromium: TensorFlow Playground's data and heatmaps, the network editor, a good and a
bad CSV uploaded, a shared link reopened (and asking for its file again), the finite-difference check,
the digits' views, and a downloaded model that ``bprop predict`` reads. Skips and fails as
test_playground_browser.py does (same browser, same fixtures)."""

import json
import re
import subprocess
import sys
from urllib.parse import parse_qs

import numpy as np
import pytest

from test_playground_browser import address, browser, open_tab, playwright_api, shots, shown  # noqa: F401

expect = playwright_api.expect


@pytest.fixture
def lab(browser, address):  # noqa: F811
    problems = []
    tab = open_tab(browser, address, problems, ignore="WebSocket", viewport={"width": 1400, "height": 1100},
                   accept_downloads=True)  # fmt: skip
    tab.select_option("#mode", "lab")
    tab.wait_for_selector("#lab-network .lab-unit[data-layer='3'][data-map]")
    yield tab
    tab.close()
    assert problems == []


def wait_for_address(page, part: str, seconds: float = 5.0) -> None:
    """Until the page's address holds ``part`` (wait_for_function would need eval, which the page's CSP forbids)."""
    for _ in range(int(seconds / 0.05)):
        if part in page.evaluate("location.hash"):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"the address never held {part!r}: {page.evaluate('location.hash')}")


def setup_in_address(page) -> dict:
    return {k: v[0] for k, v in parse_qs(page.evaluate("location.hash").lstrip("#")).items()}


def test_circle_heatmaps_edit_the_network_and_train(lab, shots):  # noqa: F811
    # TensorFlow Playground's start: circle, 4-2 tanh; every neuron shows a heatmap (inputs too).
    assert lab.locator("#lab-network .lab-unit[data-map]").count() == 2 + 4 + 2 + 2
    lab.click("#lab-add-layer")
    expect(lab.locator("#lab-network .lab-unit[data-layer='4'][data-map]")).to_have_count(2)
    lab.locator(".lab-layer[data-layer='1'] .lab-more-units").click()
    expect(lab.locator("#lab-network .lab-unit[data-layer='1']")).to_have_count(5)
    lab.locator(".lab-layer[data-layer='2'] .lab-activation").select_option("relu")
    expect(lab.locator("#lab-network text", has_text="2 relu")).to_have_count(1)
    lab.select_option("#lab-data", "spiral")
    lab.select_option("#lab-optimizer", "adam")
    lab.fill("#lab-lr", "0.01")
    lab.click("#lab-apply")
    # The address follows the server's state: it holds the new set-up once the server has applied it.
    wait_for_address(lab, "learning_rate=0.01")
    expect(lab.locator("#status")).to_have_text(re.compile("steps: 0 "))
    hashed = setup_in_address(lab)
    assert (hashed["data"], hashed["layers"], hashed["activations"], hashed["optimizer"]) == (
        "spiral",
        "5,2,4",
        "tanh,relu,tanh",
        "adam",
    )
    lab.fill("#speed", "3")  # 10^3 steps/s
    lab.dispatch_event("#speed", "input")
    lab.click("#play")
    expect(lab.locator("#status")).to_have_text(re.compile(r"steps: \d{3,} "), timeout=10_000)
    lab.click("#play")
    expect(lab.locator("#lab-loss-curve polyline[data-series='test']")).to_have_count(1)
    expect(lab.locator("#lab-norms svg.sparkline polyline:not([points=''])")).to_have_count(4)
    assert "accuracy" in shown(lab, "#lab-scores")
    assert lab.locator("#lab-findings li").count() >= 1
    # Hover enlarges a neuron's map.
    lab.hover("#lab-network .lab-unit[data-layer='2'][data-unit='1']")
    expect(lab.locator("#lab-zoom")).to_be_visible()
    lab.screenshot(path=shots / "lab-spiral.png", full_page=True)


def test_finite_difference_check_and_the_animation(lab):
    lab.click("#lab-animate")
    expect(lab.locator("#lab-network text[data-anim='out'][data-layer='0']")).to_have_count(2)
    expect(lab.locator("#lab-network text[data-anim='delta'][data-layer='1']")).to_have_count(4, timeout=8000)
    lab.click("#lab-network line[data-layer='2'][data-from='1'][data-to='2']", force=True)
    lab.wait_for_selector("#lab-check")
    lab.click("#lab-check")
    lab.wait_for_selector("#lab-check-table td[data-field='check-error']")
    analytic = float(shown(lab, "td[data-field='check-analytic']"))
    numeric = float(shown(lab, "td[data-field='check-numeric']"))
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-9)
    assert float(shown(lab, "td[data-field='check-error']")) < 1e-6


def test_upload_a_good_and_a_bad_csv_and_reopen_the_link(lab, tmp_path, browser, address):  # noqa: F811
    bad = tmp_path / "picture.csv"
    bad.write_bytes(b"\x89PNG\x00\x00\x01binary")
    lab.set_input_files("#lab-file", str(bad))
    expect(lab.locator("#lab-upload-status")).to_have_text(re.compile("refused: 'picture.csv' is not a CSV file"))
    expect(lab.locator("#error")).to_have_text(re.compile("binary data"))
    rng = np.random.default_rng(3)
    xy = rng.normal(size=(120, 2))
    good = tmp_path / "mine.csv"
    rows = [f"{a:.4f},{b:.4f},{'yes' if a * b > 0 else 'no'}" for a, b in xy]
    good.write_text("height,weight,quadrant\n" + "\n".join(rows) + "\n")
    lab.set_input_files("#lab-file", str(good))
    expect(lab.locator("#lab-upload-status")).to_have_text(re.compile("mine.csv: 60 training and 60 held-out rows"))
    expect(lab.locator("#lab-confusion td")).to_have_count(9)
    hashed = setup_in_address(lab)
    assert hashed["data"] == "upload" and hashed["file"] == "mine.csv"
    link = lab.evaluate("location.href")
    # A new tab on the shared link: same set-up, and it asks for the file again.
    other = browser.new_page()
    other.goto(link)
    expect(other.locator("#lab-upload-status")).to_have_text(re.compile("made with your own file mine.csv"))
    other.wait_for_selector("#lab-network .lab-unit")
    other.set_input_files("#lab-file", str(good))
    expect(other.locator("#lab-upload-status")).to_have_text(re.compile("mine.csv: 60 training"))
    assert setup_in_address(other) == hashed
    other.close()


def test_a_shared_link_reopens_the_set_up(browser, address):  # noqa: F811
    tab = browser.new_page()
    tab.goto(f"{address}#mode=lab&data=xor&noise=20&layers=8,12,8&activations=relu,relu,tanh&seed=4&learning_rate=0.1")
    tab.wait_for_selector("#lab-network .lab-unit[data-layer='4']")
    # A layer of 12: its first 8 and its last drawn, each with its map, and the gap says how many are left out.
    assert tab.locator("#lab-network .lab-unit[data-layer='2'][data-map]").count() == 9
    assert tab.locator("#lab-network .lab-unit[data-layer='2'][data-unit='12']").count() == 1
    expect(tab.locator("#lab-network text", has_text="… 3 more")).to_have_count(1)
    assert tab.locator("#lab-data").input_value() == "xor"
    assert shown(tab, "#lab-noise-label") == "20"
    assert tab.locator(".lab-layer .lab-width").all_text_contents() == ["8", "12", "8"]
    assert tab.locator(".lab-layer .lab-activation").evaluate_all("s => s.map(x => x.value)") == [
        "relu",
        "relu",
        "tanh",
    ]
    assert tab.locator("#lab-lr").input_value() == "0.1"
    tab.select_option("#mode", "xor")
    tab.wait_for_selector("#network .unit[data-name='h3']")
    assert tab.evaluate("location.hash") == ""  # the address holds the lab's set-up only
    tab.close()


def test_digits_views_and_a_downloaded_model_bprop_predict_reads(browser, address, tmp_path, shots):  # noqa: F811
    lab = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    lab.goto(
        f"{address}#mode=lab&data=digits&layers=32&activations=relu&optimizer=adam&learning_rate=0.01&batch_size=64"
    )
    expect(lab.locator("#lab-network text", has_text="… 55 more")).to_have_count(1)  # 64 inputs: 9 drawn
    lab.fill("#speed", "2")
    lab.dispatch_event("#speed", "input")
    lab.click("#play")
    expect(lab.locator("#status")).to_have_text(re.compile(r"epochs: [2-9]"), timeout=15_000)
    lab.click("#play")
    expect(lab.locator("#lab-confusion tr")).to_have_count(11)
    assert lab.locator("#lab-misclassified figure").count() >= 1
    lab.screenshot(path=shots / "lab-digits.png", full_page=True)
    with lab.expect_download() as info:
        lab.click("#lab-download")
    model = tmp_path / "digits-model.safetensors"
    info.value.save_as(model)
    assert info.value.suggested_filename == "digits-model.safetensors"
    from bprop.tables.datasets import load_digits

    table = load_digits(as_frame=True).head(200)
    data = tmp_path / "some.csv"
    table.drop(columns=["label"]).to_csv(data, index=False)
    done = subprocess.run([sys.executable, "-m", "bprop.cli", "predict", str(model), str(data)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    predicted = [int(line) for line in done.stdout.split()[1:]]
    assert len(predicted) == 200
    assert np.mean(np.array(predicted) == table["label"].to_numpy()) > 0.8  # trained: chance is 0.1
    lab.close()


def test_python_code_and_command(lab):
    lab.select_option("#lab-loss", "cross_entropy")
    lab.click("#lab-code")
    lab.wait_for_selector("#lab-python")
    expect(lab.locator("#lab-command")).to_have_text(re.compile("^bprop train circle.csv --task classification"))
    assert "two_d_table('circle', 500" in shown(lab, "#lab-python")
    with lab.expect_download() as info:
        lab.click("#lab-data-csv")
    assert info.value.suggested_filename == "circle.csv"
    assert json.loads(json.dumps(setup_in_address(lab)))["loss"] == "cross_entropy"


def open_lab(chromium, url: str, query: str):
    """A wide tab on the lab at ``url`` with ``query``, its network drawn; and the list its page errors go to."""
    tab = chromium.new_page(viewport={"width": 1400, "height": 1100})
    problems = []
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.goto(f"{url}#mode=lab&{query}")
    tab.wait_for_selector("#lab-network .lab-unit[data-layer='2'][data-map]")
    return tab, problems


def test_a_regression_set_shows_the_fitted_surface(browser, address):  # noqa: F811
    tab, problems = open_lab(
        browser, address, "data=plane&noise=10&layers=3&activations=tanh&loss=mse&learning_rate=0.1"
    )
    tab.click("#step-epoch")
    expect(tab.locator("#status")).to_have_text(re.compile(r"epochs: 1 "))
    assert tab.locator("#lab-output-box").is_visible()
    assert not tab.locator("#lab-acc-box").is_visible() and not tab.locator("#lab-confusion-box").is_visible()
    assert "accuracy" not in shown(tab, "#lab-scores") and "test loss" in shown(tab, "#lab-scores")
    # The output canvas is painted: its pixels are not all one colour.
    spread = tab.evaluate(
        "() => { const d = document.getElementById('lab-output').getContext('2d').getImageData(0, 0, 300, 300).data;"
        " let lo = 255, hi = 0;"
        " for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }"
        " return hi - lo; }"
    )
    assert spread > 50
    tab.close()
    assert problems == []


def test_a_clicked_neuron_and_weight_under_dropout_show_the_masks(browser, address, shots):  # noqa: F811
    tab, problems = open_lab(browser, address, "data=circle&layers=3&activations=tanh&dropout=0.3&seed=2")
    tab.click("#lab-network .lab-unit[data-layer='1'][data-unit='2']")
    expect(tab.locator("#inspect .pass-note")).to_have_text(re.compile("evaluation mode"))
    assert tab.locator("#unit-samples td[data-field='mask']").count() == 0  # no mask before an update
    tab.click("#step-batch")
    expect(tab.locator("#status")).to_have_text(re.compile("steps: 1 "))
    tab.click("#lab-network .lab-unit[data-layer='1'][data-unit='2']")
    expect(tab.locator("#unit-samples td[data-field='mask']")).to_have_count(10)
    assert "Dropout 0.3" in shown(tab, "#inspect .dropout-note")

    def numbers(field: str) -> np.ndarray:
        return np.array([float(t) for t in tab.locator(f"#unit-samples td[data-field='{field}']").all_text_contents()])

    mask, out, passed = numbers("mask"), numbers("out"), numbers("out_after_dropout")
    assert set(mask.round(9)) <= {0.0, round(1 / 0.7, 9)}
    np.testing.assert_allclose(passed, out * mask, rtol=0, atol=5e-9)
    tab.locator("#inspect").screenshot(path=shots / "lab-dropout-neuron.png")
    tab.click("#lab-network line[data-layer='2'][data-from='2'][data-to='1']", force=True)
    tab.wait_for_selector("#inspect td[data-field='applied']")
    assert "mask" in shown(tab, "#inspect table td")
    tab.locator("#inspect").screenshot(path=shots / "lab-dropout-weight.png")
    tab.click("#lab-check")
    expect(tab.locator("#inspect .hint")).to_have_text(re.compile("Checked with dropout off"))
    tab.close()
    assert problems == []
