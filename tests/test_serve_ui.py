"""The lineage page of ``lineage serve`` (``/ui/``, :mod:`lineage_app.serve.ui`) in a real
browser: Debian's Chromium, headless, driven by Playwright for Python with the system
browser (``executable_path``; Playwright's own browser download is never used), against the
demo graph of :mod:`tests.test_serve_api` (real runs of the demo pipeline in a fresh Neo4j
graph), served by the real app on a loopback port:

- the page loads with no token, signs in with one, and draws the model's upstream graph with
  every node of the API's answer; it loads nothing but this server;
- searching the model (``.../models/classifier.pt``) opens its chain down to the raw landing
  file, both deliveries; with ``LINEAGE_UPDATE_README_PICTURE=1`` this test also writes
  ``docs/images/lineage-ui.png`` (the README's picture);
- moving the time slider to before delivery 2 hides the bad version (the landing file's
  second version, the second model) and keeps the first;
- expanding and collapsing a node adds and hides its neighbours; the column view draws the
  columns ``worst radius`` derives from;
- the run page of the bad evaluation run (:func:`lineage_app.serve.ui.page_url`) ranks the
  landing file first and names the column ``worst radius``; it shows the diff against the
  baseline; the freshness page lists the datasets.

Every test waits on conditions in the page (Playwright's waits), never on sleeps, and writes
a screenshot to its tmp dir. Skipped when Chromium (``make sysdeps``: Debian ``chromium``) or
Playwright (the ``dev`` extra) is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from lineage_app.serve.app import create_app
from lineage_app.serve.auth import READER, TokenStore
from lineage_app.serve.ui import node_url, page_url
from lineage_queries.api import LineageGraph
from lineage_queries.granularity import at_granularity
from tests import test_serve_api
from tests.queries_demo_graph import DemoGraph, Ids, landing
from tests.serve_support import running

CHROMIUM = Path("/usr/bin/chromium")
#: The flags Chromium needs on a closed network (without them it hangs on lookups).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
README_PICTURE = Path(__file__).resolve().parents[1] / "docs" / "images" / "lineage-ui.png"
WAIT_MS = 90_000

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=(
        "needs Debian's Chromium at /usr/bin/chromium (make sysdeps installs chromium)")),
    pytest.mark.timeout(600),
]
pytest.importorskip("playwright.sync_api", reason="needs playwright (the dev extra)")
from playwright.sync_api import (  # noqa: E402 - after the skip
    Browser,
    Locator,
    Page,
    expect,
    sync_playwright,
)

# the demo graph of the API tests (module-scoped fixtures, built once for this module)
demo_run = test_serve_api.demo_run
demo = test_serve_api.demo


class Site:
    """The server of this module: its URL, a reader token, the demo graph and its ids."""

    def __init__(self, url: str, token: str, demo: DemoGraph) -> None:
        self.url, self.token, self.demo = url, token, demo
        self.ids = Ids(demo.paths)
        self.graph = LineageGraph(demo.backend)

    def node(self, node: str, **params: object) -> str:
        """The deep link of ``node``'s graph, signed in."""
        return node_url(self.url, node, token=self.token, **params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def site(demo: DemoGraph, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("serve-ui")
    # no broker: the page only queries (making the app does no network I/O)
    settings = test_serve_api.serve_settings(root, "127.0.0.1:9", rate_limit_per_s=0)
    token = TokenStore(settings.serve.tokens_file or root / "tokens.json").add("ui", READER)
    app = create_app(settings, graph_opener=lambda: test_serve_api._Unclosed(demo.backend))
    with running(app) as url:
        yield Site(url, token, demo)


def _chromium_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True)
            if "chrom" in (p.name() or "").lower()]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, through Playwright; closed (and any process of it left
    over stopped by its pid) at the end."""
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=CHROMIUM_ARGS, timeout=WAIT_MS)
        try:
            yield launched
        finally:
            launched.close()
    for proc in _chromium_children():
        proc.kill()


@pytest.fixture
def page(browser: Browser, site: Site, tmp_path: Path
         ) -> Iterator[Page]:
    """A fresh page (its own sessionStorage) that records every URL it requests; the test's
    screenshot goes to ``tmp_path``. Only the server itself is ever asked for anything."""
    context = browser.new_context(viewport={"width": 1440, "height": 860})
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    asked: list[str] = []
    tab.on("request", lambda r: asked.append(r.url))
    try:
        yield tab
    finally:
        context.close()
    assert all(u.startswith(site.url + "/") for u in asked), asked


def _ready(page: Page) -> None:
    expect(page.locator("#view")).to_have_attribute("data-state", "ready")


def _shot(page: Page, path: Path) -> Path:
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    return path


def _node(page: Page, node_id: str) -> Locator:
    return page.locator(f'#graph g.node[data-id="{node_id}"]')


def test_the_page_signs_in_and_draws_the_models_graph(page: Page, site: Site,
                                                      tmp_path: Path) -> None:
    page.goto(site.url + "/ui/")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#view")).to_have_attribute("data-state", "login")
    page.fill("#token", site.token)
    page.click("#login button")
    _ready(page)
    page.goto(site.node(site.ids.model))
    _ready(page)
    assert "token" not in page.url  # moved to sessionStorage, out of the address bar
    answer = site.graph.upstream(site.ids.model)
    expect(page.locator("#graph g.node")).to_have_count(len(answer["nodes"]))
    expect(page.locator(f'#graph g.node.root[data-id="{site.ids.model}"]')).to_have_count(1)
    _shot(page, tmp_path / "graph.png")


def test_searching_the_model_shows_its_chain_to_the_landing_file(
        page: Page, site: Site, tmp_path: Path) -> None:
    page.goto(f"{site.url}/ui/#token={site.token}")
    _ready(page)
    page.fill("#search", "classifier")
    hit = page.locator(f'#results li[data-uid="{site.ids.model}"]')
    expect(hit).to_be_visible()
    hit.click()
    _ready(page)
    ids = site.ids
    for dataset in (ids.model, ids.features, ids.clean, ids.raw, ids.landing):
        expect(_node(page, dataset)).to_have_count(1)
    for delivery in (1, 2):
        expect(_node(page, landing(site.demo, ids, delivery))).to_have_count(1)
    _node(page, landing(site.demo, ids, 2)).click()
    expect(page.locator("#details h3")).to_have_text("breast_cancer.csv")
    shot = _shot(page, tmp_path / "search.png")
    if os.environ.get("LINEAGE_UPDATE_README_PICTURE") == "1":  # the working tree stays clean
        README_PICTURE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_PICTURE)


def _versions(page: Page, dataset: str) -> Locator:
    return page.locator(f'#graph g.node[data-label="DatasetVersion"][data-id^="{dataset}@"]')


def test_the_slider_before_delivery_2_hides_the_bad_version(
        page: Page, site: Site, tmp_path: Path) -> None:
    page.goto(site.node(site.ids.model))
    _ready(page)
    bad, good = landing(site.demo, site.ids, 2), landing(site.demo, site.ids, 1)
    expect(_node(page, bad)).to_have_count(1)
    expect(_versions(page, site.ids.model)).to_have_count(2)
    slider = page.locator("#asof")
    expect(slider).to_be_enabled()
    slider.fill(str(site.demo.between_ms))
    expect(page.locator("#graph")).to_have_attribute("data-as-of", str(site.demo.between_ms))
    _ready(page)
    expect(_node(page, bad)).to_have_count(0)
    expect(_node(page, good)).to_have_count(1)
    expect(_versions(page, site.ids.model)).to_have_count(1)
    assert f"asOf={site.demo.between_ms}" in page.url  # the view is a deep link
    _shot(page, tmp_path / "before-delivery-2.png")
    page.click("#asof-latest")
    expect(page.locator("#graph")).to_have_attribute("data-as-of", "latest")
    expect(_node(page, bad)).to_have_count(1)


def test_granularity_and_a_time_window_redraw_the_graph(
        page: Page, site: Site, tmp_path: Path) -> None:
    page.goto(site.node(site.ids.model))
    _ready(page)
    page.select_option("#granularity", "dataset")
    _ready(page)
    labels = page.locator("#graph g.node")
    expect(labels).to_have_count(len(at_granularity(
        site.graph.upstream(site.ids.model, 10), "dataset")["nodes"]))
    expect(page.locator('#graph g.node[data-label="Run"]')).to_have_count(0)
    expect(_node(page, site.ids.landing)).to_have_count(1)
    assert "granularity=dataset" in page.url
    _shot(page, tmp_path / "datasets.png")
    page.select_option("#granularity", "job")
    _ready(page)
    expect(page.locator('#graph g.node[data-label="Run"]')).to_have_count(0)
    expect(page.locator('#graph g.node[data-label="Job"]')).not_to_have_count(0)
    # a window from delivery 2 on: delivery 1's landing version is not lineage of it
    page.goto(site.node(site.ids.model, since=site.demo.between_ms))
    _ready(page)
    expect(_node(page, landing(site.demo, site.ids, 2))).to_have_count(1)
    expect(_node(page, landing(site.demo, site.ids, 1))).to_have_count(0)


def test_a_node_expands_and_collapses(page: Page, site: Site, tmp_path: Path
                                      ) -> None:
    page.goto(site.node(site.ids.model, depth=1))
    _ready(page)
    nodes = page.locator("#graph g.node")
    expect(nodes).not_to_have_count(0)
    before = nodes.count()
    run = page.locator('#graph g.node[data-label="Run"]').first
    run_id = run.get_attribute("data-id")
    run.dblclick()
    expect(page.locator("#status")).to_contain_text("expanded")
    grown = nodes.count()
    assert grown > before
    _node(page, str(run_id)).click()
    page.click("#collapse")
    expect(page.locator("#status")).to_contain_text("collapsed")
    expect(nodes).not_to_have_count(grown)
    _shot(page, tmp_path / "collapsed.png")


def test_the_column_view_draws_where_a_column_comes_from(
        page: Page, site: Site, tmp_path: Path) -> None:
    page.goto(site.node(site.ids.features, column="worst radius", depth=3))
    _ready(page)
    fields = page.locator('#graph g.node[data-label="Field"]')
    expect(fields.first).to_be_visible()
    answer = site.graph.upstream(site.ids.features, 3, column="worst radius")
    expect(page.locator("#graph g.node")).to_have_count(len(answer["nodes"]))
    _shot(page, tmp_path / "column.png")


def test_the_run_page_names_the_landing_file_and_the_column(
        page: Page, site: Site, tmp_path: Path) -> None:
    bad = site.graph.runs(test_serve_api.EVALUATE)[0]["runId"]
    page.goto(page_url(site.url, bad, site.token))
    _ready(page)
    first = page.locator('#rootcause .candidate[data-rank="1"]')
    expect(first).to_contain_text(site.ids.landing.removeprefix("file:"))
    expect(first.locator("strong.column")).to_contain_text(["worst radius"])
    expect(page.locator("#diff")).to_contain_text("classifier.pt")  # the changed input
    expect(page.locator("#rc-graph g.node").first).to_be_visible()
    first.scroll_into_view_if_needed()
    _shot(page, tmp_path / "run.png")


def test_the_freshness_page_lists_the_datasets(page: Page, site: Site,
                                               tmp_path: Path) -> None:
    page.goto(f"{site.url}/ui/#/freshness?token={site.token}")
    _ready(page)
    expect(page.locator("#freshness")).to_contain_text("classifier.pt")
    _shot(page, tmp_path / "freshness.png")
