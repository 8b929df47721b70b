"""The playground page in headless Chromium (Playwright): load it, step, click a neuron and a weight, and
check that the numbers shown are the engine's. Screenshots go to a temporary folder.

The browser is ``$BPROP_CHROMIUM`` or Debian's ``chromium-headless-shell`` (``scripts/setup_browser.sh``
installs it). Without one these tests skip, and with ``CI=true`` they fail.
"""

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

try:  # part of the test extra: missing under CI=true is a failure, not a skip
    import uvicorn  # noqa: F401
    from playwright import sync_api as playwright_api
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("the browser tests need the live extra and playwright", allow_module_level=True)
expect = playwright_api.expect

import bprop  # noqa: E402
from bprop.insight.explain import ARTICLE_SPEC, explain_step, network_from_spec  # noqa: E402
from bprop.playground.session import XOR  # noqa: E402
from test_playground_cli import start, stop  # noqa: E402

DEBIAN_PATHS = ("/usr/lib/chromium/chromium-headless-shell", "/usr/bin/chromium-headless-shell")


def find_browser() -> str | None:
    named = os.environ.get("BPROP_CHROMIUM")
    if named:
        return named if os.access(named, os.X_OK) else None
    return next((path for path in DEBIAN_PATHS if os.access(path, os.X_OK)), shutil.which("chromium-headless-shell"))


@pytest.fixture(scope="module")
def browser():
    path = find_browser()
    if path is None:
        message = "no headless Chromium: run scripts/setup_browser.sh (as root with apt) or set BPROP_CHROMIUM"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=path, args=args)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def address():
    process, url = start()
    yield url
    stop(process)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("playground-screenshots")


def open_tab(browser, address: str, problems: list, *, ignore: str | None = None, **options):
    """A tab on the playground, its article diagram drawn; page errors and console errors (but those
    containing ``ignore``) are collected in ``problems``."""
    tab = browser.new_page(**options)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and not (ignore and ignore in m.text) else None,
    )
    tab.goto(address)
    tab.wait_for_selector("#network .unit[data-name='o2']")
    return tab


@pytest.fixture
def page(browser, address):
    problems = []
    tab = open_tab(browser, address, problems, viewport={"width": 1400, "height": 1000})
    yield tab
    tab.close()
    assert problems == []


def shown(page, selector: str) -> str:
    return page.locator(selector).first.text_content().strip()


def number(page, selector: str) -> float:
    return float(shown(page, selector))


def test_the_article_step_shows_every_number_of_explain(page, shots, worked_example):
    page.click("#step-sample")
    page.wait_for_selector("#explain-table td[data-name='dE_dw5']")
    page.screenshot(path=shots / "article-after-one-step.png", full_page=True)
    # The article's published figures, as printed.
    assert shown(page, "td[data-name='dE_dw5']") == "0.082167041"
    assert shown(page, "td[data-name='updated-w5']") == "0.35891648"
    assert shown(page, "td[data-name='E_total']") == "0.298371109"
    assert shown(page, "td[data-name='out_o1']") == "0.75136507"
    assert shown(page, "td[data-name='error_after_one_step']") == "0.291027774"
    # Every number of the report, against the engine's explain.
    net, X, Y, lr, loss = network_from_spec(ARTICLE_SPEC)
    report = explain_step(net, X, Y, loss=loss, learning_rate=lr)
    for section in ("forward", "error", "chain_w5", "chain_w1"):
        for key, value in report[section].items():
            assert number(page, f"td[data-name='{key}']") == pytest.approx(value, abs=5e-10), key
    for name in ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"):
        assert number(page, f"td[data-name='gradient-{name}']") == pytest.approx(report["gradients"][name], abs=5e-10)
        assert number(page, f"td[data-name='updated-{name}']") == pytest.approx(report["updated"][name], abs=5e-10)
    # On the diagram: the new w5 and its gradient, and the outputs' errors.
    assert shown(page, "text[data-weight='w5'][data-field='value']") == "w5 = 0.35891648"
    assert shown(page, "text[data-weight='w5'][data-field='gradient']") == "∂E/∂w5 = 0.082167041"
    assert "0.274811083" in page.locator("#network text[data-field='E']").first.text_content()
    assert "E (all examples) = 0.291027774" in shown(page, "#status")


def test_click_a_neuron_and_a_weight(page, shots, worked_example):
    page.click("#step-sample")
    page.wait_for_selector("#explain-table td")
    page.click("#network .unit[data-name='o1'] circle")
    page.wait_for_selector("#unit-samples td[data-field='delta']")
    chain = worked_example["chain_w5"]
    assert number(page, "#unit-samples td[data-field='net']") == pytest.approx(
        worked_example["forward"]["net_o1"], abs=5e-10
    )
    assert number(page, "#unit-samples td[data-field='dE_dout']") == pytest.approx(chain["dE_dout_o1"], abs=5e-10)
    delta = chain["dE_dout_o1"] * chain["dout_o1_dnet_o1"]
    assert number(page, "#unit-samples td[data-field='delta']") == pytest.approx(delta, abs=5e-10)
    page.screenshot(path=shots / "article-neuron-o1.png", full_page=True)
    page.click("#network line[data-name='w5']", force=True)  # under its label: the click lands on the line
    page.wait_for_selector("#inspect td[data-field='applied']")
    assert "Weight w5: h1 → o1" in shown(page, "#inspect h2")
    assert number(page, "#inspect td[data-field='gradient']") == pytest.approx(chain["dE_dw5"], abs=5e-10)
    assert number(page, "#inspect td[data-field='product-1']") == pytest.approx(chain["dE_dw5"], abs=5e-10)
    assert number(page, "#inspect td[data-field='minus-eta-g']") == pytest.approx(-0.5 * chain["dE_dw5"], abs=5e-10)
    assert shown(page, "#inspect td[data-field='after']") == "0.35891648"
    page.screenshot(path=shots / "article-weight-w5.png", full_page=True)
    page.click("#network text.bias[data-layer='2'][data-unit='1']")
    expect(page.locator("#inspect h2")).to_have_text(re.compile("^Bias"))
    assert shown(page, "#inspect td[data-field='gradient']") == "held fixed"


def test_a_batch_with_adam_shows_the_moments(page, shots):
    page.select_option("#mode", "xor")
    page.wait_for_selector("#network .unit[data-name='h3']")
    page.select_option("#optimizer", "adam")
    page.fill("#learning-rate", "0.05")
    page.fill("#batch-size", "4")
    page.click("#apply")
    expect(page.locator("#status")).to_have_text(re.compile("steps: 0"))
    page.click("#step-batch")
    expect(page.locator("#status")).to_have_text(re.compile("steps: 1 "))
    page.click("#network line[data-layer='2'][data-from='1'][data-to='1']", force=True)
    page.wait_for_selector("#inspect td[data-field='m-hat']")
    page.screenshot(path=shots / "xor-adam-weight.png", full_page=True)
    # The same step by the library: the batch of all four rows, Adam at 0.05.
    net = bprop.mlp([2, 3, 1], activation="tanh", output_activation="sigmoid", seed=0, dtype=np.float64)
    X, Y = np.array(XOR["inputs"]), np.array(XOR["targets"])
    _, grads = net.loss_and_gradients(X, Y)
    g = float(grads[2][0, 0])
    before = float(net.layers[1].W[0, 0])
    trainer = bprop.Trainer(net, X, Y, optimizer="adam", learning_rate=0.05, batch_size=4, seed=0, verbose=0)
    trainer.step()
    assert number(page, "#inspect td[data-field='gradient']") == pytest.approx(g, abs=5e-10)
    assert number(page, "#inspect td[data-field='m']") == pytest.approx(0.1 * g, abs=5e-10)
    assert number(page, "#inspect td[data-field='m-hat']") == pytest.approx(g, abs=5e-10)
    assert number(page, "#inspect td[data-field='before']") == pytest.approx(before, abs=5e-10)
    assert number(page, "#inspect td[data-field='after']") == pytest.approx(float(net.layers[1].W[0, 0]), abs=5e-10)
    page.click("#network .unit[data-name='h2'] circle")
    page.wait_for_selector("#unit-samples td[data-field='delta']")
    assert page.locator("#unit-samples tr").count() == 5  # the header and the batch's four examples


def test_the_one_weight_mode_follows_the_dragged_weight(page, shots):
    page.select_option("#mode", "one-weight")
    page.wait_for_selector("#ow-table td[data-field='square_error']")
    squares = page.locator("#ow-table td[data-field='square_error']")
    assert squares.all_text_contents() == ["0", "1", "4"]  # W = 3
    page.locator("#ow-W").fill("4")
    expect(page.locator("#ow-W-label")).to_have_text("4")
    assert squares.all_text_contents() == ["0", "4", "16"]
    assert "total square error 20, E = 10, ∂E/∂W = 10" in shown(page, "#ow-summary")
    # Drag on the curve to W = 2: the error is zero there.
    box = page.locator("#ow-curve").bounding_box()
    x = box["x"] + box["width"] * (40 + (2 - -1) / 6 * 580) / 640
    page.mouse.move(x, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.up()
    expect(page.locator("#ow-W-label")).to_have_text("2")
    assert squares.all_text_contents() == ["0", "0", "0"]
    page.locator("#ow-W").fill("3")
    expect(page.locator("#ow-W-label")).to_have_text("3")
    page.click("#step-batch")
    expect(page.locator("#ow-W-label")).to_have_text("2.5")
    page.screenshot(path=shots / "one-weight.png", full_page=True)


def test_play_and_pause(page):
    page.select_option("#mode", "xor")
    page.wait_for_selector("#network .unit[data-name='h3']")
    page.click("#play")
    expect(page.locator("#status")).to_have_text(re.compile(r"steps: ([6-9]|\d\d+) "))
    page.click("#play")
    expect(page.locator("#play")).to_have_text("Play")
    first = shown(page, "#status")
    page.wait_for_timeout(300)
    assert shown(page, "#status") == first  # paused: no more frames
