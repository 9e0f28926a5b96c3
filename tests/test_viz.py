"""pcgrad.viz and Graph.to_dot: pictures whose content is the data.

Drawings are read back (the markers' face colours, rendered pixels, label
texts, GIF frames, the HTML page) and compared with what the graph
(networkx) and the relaxation record hold, and with autograd's gradients.
"""
import base64
import io
import os
import re
import shutil
import subprocess
import sys
import time

import autograd
import autograd.numpy as anp
import matplotlib
import networkx as nx
import numpy as onp
import pytest
from PIL import Image, ImageSequence

import pcgrad
import pcgrad.numpy as np
from pcgrad import viz

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

Y0, THETA = 5.0, 2.0


def millidge(y0, theta):
    """Millidge, Tschantz & Buckley's 3-vertex graph with its loss."""
    y1 = pcgrad.pc_node(y0 * theta, name="y1")
    y2 = pcgrad.pc_node(np.sqrt(y1), name="y2")
    y3 = pcgrad.pc_node(y0 ** 2, name="y3")
    y4 = pcgrad.pc_node(np.tan(y2) + np.sin(y3), name="y4")
    return 0.5 * (1.0 - y4) ** 2


def millidge_autograd(y0, theta):
    y4 = anp.tan(anp.sqrt(y0 * theta)) + anp.sin(y0 ** 2)
    return 0.5 * (1.0 - y4) ** 2


def gated(x, w):
    """sum(tanh(x) * w): at w = 0 the tanh unit and the input x settle at exactly 0."""
    return np.sum(np.tanh(x) * w)


X, W0 = onp.array([0.3, -0.8]), onp.zeros(2)


def relaxed(f, *args, **options):
    options.setdefault("argnums", tuple(range(len(args))))
    return pcgrad.grad(f, return_info=True, record="errors", **options)(*args)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# --- draw_graph ---------------------------------------------------------------------------

def test_the_drawing_has_one_marker_per_node_of_the_graph():
    graph = pcgrad.trace(millidge, Y0, THETA)
    drawing = viz.draw_graph(millidge, Y0, THETA)
    drawn = sum(len(c.get_offsets()) for c in drawing.ax.collections
                if (c.get_gid() or "").startswith("pcgrad-nodes-"))
    assert drawn == graph.nx.number_of_nodes()
    assert set(drawing.markers) == set(graph.nx.nodes)


def test_markers_sit_in_layers_by_topological_generation():
    graph = pcgrad.trace(millidge, Y0, THETA)
    drawing = viz.draw_graph(graph)
    x = {node: drawing.positions[node][0] for node in graph.nx}
    for parent, child in graph.nx.edges:
        assert x[parent] < x[child]  # every edge points right


def test_inputs_constants_pc_nodes_and_the_output_are_told_apart():
    graph = pcgrad.trace(millidge, Y0, THETA)
    drawing = viz.draw_graph(graph)
    kind = {node: collection.get_gid().removeprefix("pcgrad-nodes-")
            for node, (collection, _) in drawing.markers.items()}
    roles = dict(graph.nx.nodes(data="role"))
    assert {n for n in kind if kind[n] == "input"} == set(graph.inputs)
    assert {n for n in kind if kind[n] == "constant"} == {n for n, r in roles.items()
                                                          if r == "constant"}
    assert {n for n in kind if kind[n] == "pc_node"} == {
        n for n, p in graph.nx.nodes(data="primitive") if p == "pc_node"}
    assert [n for n in kind if kind[n] == "output"] == [graph.output]
    markers = {c.get_gid(): c.get_paths()[0].vertices.shape for c in drawing.ax.collections
               if (c.get_gid() or "").startswith("pcgrad-nodes-")}
    assert len(set(markers.values())) > 2  # squares, circles, hexagons, diamonds differ
    legend = [t.get_text() for t in drawing.ax.get_legend().get_texts()]
    assert {"input (differentiated)", "constant", "pc_node", "output"} <= set(legend)


def test_each_node_is_labelled_with_its_primitive_and_shape():
    x = onp.ones((2, 3))
    graph = pcgrad.trace(lambda x: np.sum(np.exp(x) @ onp.ones((3, 4))), x)
    drawing = viz.draw_graph(graph)
    for node, attrs in graph.nx.nodes(data=True):
        text = drawing.labels[node].get_text()
        if attrs["role"] == "node":
            assert attrs["primitive"] in text
        shape = attrs["shape"]
        assert ("scalar" if shape == () else "\u00d7".join(map(str, shape))) in text
    assert "matmul" in drawing.labels[graph.output - 1].get_text()


def test_without_info_nothing_is_coloured_by_errors():
    drawing = viz.draw_graph(gated, X, W0)
    assert drawing.cmap is None and drawing.colorbar is None


def test_a_node_with_zero_error_is_drawn_in_the_zero_colour():
    _, info = relaxed(gated, X, W0, schedule="jacobi")
    drawing = viz.draw_graph(gated, X, W0, info=info)
    graph = drawing.graph
    tanh = next(n for n, p in graph.nx.nodes(data="primitive") if p == "tanh")
    zero = drawing.cmap(0.5)  # the middle of the diverging map
    assert onp.allclose(drawing.color_of(0.0), zero)
    assert onp.allclose(drawing.facecolor(tanh), zero)
    assert onp.allclose(drawing.facecolor(graph.inputs[0]), zero)  # dL/dx = w = 0
    assert not onp.allclose(drawing.facecolor(graph.output), zero)  # dL/dL = 1


def test_the_rendered_pixels_of_a_zero_error_node_are_the_zero_colour():
    _, info = relaxed(gated, X, W0, schedule="jacobi")
    drawing = viz.draw_graph(gated, X, W0, info=info)
    figure = drawing.ax.figure
    figure.canvas.draw()
    pixels = onp.asarray(figure.canvas.buffer_rgba())
    height = pixels.shape[0]

    def pixel(node):
        x, y = drawing.ax.transData.transform(drawing.positions[node])
        return pixels[int(round(height - y)), int(round(x)), :3] / 255.0

    tanh = next(n for n, p in drawing.graph.nx.nodes(data="primitive") if p == "tanh")
    assert onp.allclose(pixel(tanh), drawing.cmap(0.5)[:3], atol=2 / 255)
    assert onp.allclose(pixel(drawing.graph.output), drawing.color_of(1.0)[:3], atol=2 / 255)
    assert not onp.allclose(pixel(drawing.graph.output), drawing.cmap(0.5)[:3], atol=0.05)


def test_colours_are_the_settled_errors_on_a_diverging_scale_centred_on_zero():
    _, info = relaxed(millidge, Y0, THETA, schedule="jacobi")
    drawing = viz.draw_graph(millidge, Y0, THETA, info=info)
    want = autograd.grad(millidge_autograd, (0, 1))(Y0, THETA)
    y0, theta = drawing.graph.inputs
    assert onp.allclose(drawing.facecolor(y0), drawing.cmap(drawing.norm(want[0])))
    assert onp.allclose(drawing.facecolor(theta), drawing.cmap(drawing.norm(want[1])))
    assert drawing.norm(want[0]) < 0.5 < drawing.norm(1.0)  # negative blue, positive red
    assert drawing.norm.vmin == -drawing.norm.vmax == -abs(want[0])
    assert drawing.colorbar is not None


def test_inputs_are_labelled_with_their_gradient():
    _, info = relaxed(millidge, Y0, THETA, schedule="jacobi")
    drawing = viz.draw_graph(millidge, Y0, THETA, info=info)
    want = autograd.grad(millidge_autograd, (0, 1))(Y0, THETA)
    for node, g in zip(drawing.graph.inputs, want):
        assert f"grad = {g:.4g}" in drawing.labels[node].get_text()


def test_an_array_unit_is_coloured_by_its_error_norm():
    x, w = onp.array([0.3, -0.8, 1.5]), onp.array([1.0, -2.0, 0.5])
    _, info = relaxed(gated, x, w, schedule="sweep")
    drawing = viz.draw_graph(gated, x, w, info=info)
    tanh = next(n for n, p in drawing.graph.nx.nodes(data="primitive") if p == "tanh")
    # dL/dtanh(x) = w; its norm is the colour
    assert onp.allclose(drawing.facecolor(tanh), drawing.color_of(onp.linalg.norm(w)))


def test_strict_values_are_shown_under_the_units():
    _, info = relaxed(millidge, Y0, THETA, schedule="strict", units="marked", beta=0.1)
    drawing = viz.draw_graph(millidge, Y0, THETA, info=info)
    y1 = next(n for n, a in drawing.graph.nx.nodes(data=True)
              if a["primitive"] == "pc_node" and a["params"]["name"] == "y1")
    r = info.record.nodes.index(y1)
    assert f"v = {info.record.values[r][-1]:.4g}" in drawing.labels[y1].get_text()


def test_non_units_are_grey_when_only_marked_nodes_are_units():
    _, info = relaxed(millidge, Y0, THETA, schedule="jacobi", units="marked")
    drawing = viz.draw_graph(millidge, Y0, THETA, info=info)
    sqrt = next(n for n, p in drawing.graph.nx.nodes(data="primitive") if p == "sqrt")
    assert sqrt not in info.record.nodes
    assert onp.allclose(drawing.facecolor(sqrt), matplotlib.colors.to_rgba(viz.NO_ERROR))


def test_draws_into_a_given_axes():
    figure, ax = plt.subplots()
    drawing = viz.draw_graph(millidge, Y0, THETA, ax=ax)
    assert drawing.ax is ax


def test_an_info_without_a_record_is_refused():
    _, info = pcgrad.grad(millidge, return_info=True)(Y0, THETA)
    with pytest.raises(ValueError, match="record='errors'"):
        viz.draw_graph(millidge, Y0, THETA, info=info)


def test_a_record_of_another_graph_is_refused():
    f = lambda x, y: np.sum(np.sin(x)) * np.sum(y)  # noqa: E731
    x, y = onp.ones(3), onp.ones(2)
    _, info = relaxed(f, x, y, argnums=1)
    with pytest.raises(ValueError, match="argnums of the relaxation"):
        viz.draw_graph(f, x, y, info=info)  # traced with both arguments differentiated
    viz.draw_graph(f, x, y, info=info, argnums=1)


def test_a_graph_with_arguments_is_refused():
    with pytest.raises(TypeError, match="only with a function to trace"):
        viz.draw_graph(pcgrad.trace(millidge, Y0, THETA), Y0)


def test_import_pcgrad_does_not_import_matplotlib():
    code = "import sys, pcgrad, pcgrad.viz; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- Graph.to_dot ------------------------------------------------------------------------

def parse_dot(text):
    """Node ids, their attributes and the edges of DOT text as to_dot writes it."""
    assert text.startswith("digraph pcgrad {") and text.rstrip().endswith("}")
    nodes = {int(n): dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\w+)', attrs))
             for n, attrs in re.findall(r"^\s*n(\d+) \[(.*)\];$", text, re.M)}
    edges = {(int(a), int(b)) for a, b in re.findall(r"^\s*n(\d+) -> n(\d+);$", text, re.M)}
    return nodes, edges


def test_dot_text_parses_back_into_the_same_nodes_and_edges():
    graph = pcgrad.trace(millidge, Y0, THETA)
    nodes, edges = parse_dot(graph.to_dot())
    assert set(nodes) == set(graph.nx.nodes)
    assert edges == set(graph.nx.edges)
    assert nodes[graph.output]["shape"] == "doubleoctagon"
    assert all(nodes[n]["shape"] == "box" for n in graph.inputs)
    assert sum(a["shape"] == "hexagon" for a in nodes.values()) == 4  # y1..y4
    assert 'label="sqrt\\nf64[]"' in graph.to_dot()


def test_dot_labels_escape_quotes():
    f = lambda x: np.sum(pcgrad.pc_node(x, name='say "hi"'))  # noqa: E731
    nodes, _ = parse_dot(pcgrad.trace(f, onp.ones(2)).to_dot())
    assert any('say \\"hi\\"' in a["label"] for a in nodes.values())


# --- plot_relaxation ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def three_schedules():
    options = dict(units="marked")
    infos = [relaxed(millidge, Y0, THETA, schedule="jacobi", **options)[1],
             relaxed(millidge, Y0, THETA, schedule="euler", eta=0.5, **options)[1],
             relaxed(millidge, Y0, THETA, schedule="strict", beta=0.01, eta=0.1,
                     **options)[1]]
    exact = autograd.grad(millidge_autograd, (0, 1))(Y0, THETA)
    return infos, exact


def lines_of(ax):
    return {line.get_label(): line.get_ydata() for line in ax.get_lines()}


def test_the_plot_has_residual_energy_gradient_and_heat_map_panels(three_schedules):
    infos, exact = three_schedules
    figure = viz.plot_relaxation(infos, reference=exact)
    titles = [ax.get_title() for ax in figure.axes]
    assert "residual" in titles and "energy and squared errors" in titles
    assert "gradient estimate: relative error" in titles
    assert sum("error norm" in t for t in titles) == 3


def test_the_residual_curves_are_the_infos_residuals(three_schedules):
    infos, _ = three_schedules
    figure = viz.plot_relaxation(infos)
    ax = next(ax for ax in figure.axes if ax.get_title() == "residual")
    assert ax.get_yscale() == "log"
    curves = lines_of(ax)
    for info in infos:
        assert onp.allclose(curves[info.schedule], onp.maximum(info.residual, viz.FLOOR))


def test_energy_is_plotted_where_recorded_and_squared_errors_for_every_schedule(three_schedules):
    infos, _ = three_schedules
    figure = viz.plot_relaxation(infos, labels=["a", "b", "c"])
    ax = next(ax for ax in figure.axes if ax.get_title() == "energy and squared errors")
    curves = lines_of(ax)
    assert [label for label in curves if "energy F" in label] == ["c: energy F"]
    assert onp.allclose(curves["c: energy F"], infos[2].energy)
    for label, info in zip("abc", infos):
        squared = next(y for name, y in curves.items() if name.startswith(f"{label}: \u00bd"))
        assert onp.allclose(squared, onp.maximum(info.squared_errors, viz.FLOOR))


def test_the_heat_map_shows_each_units_error_norm(three_schedules):
    infos, _ = three_schedules
    figure = viz.plot_relaxation(infos[0])
    image = figure.axes[-2].get_images()[0]
    data = image.get_array()
    norms = infos[0].record.norms
    assert data.shape == norms.T.shape
    assert onp.array_equal(data.mask, norms.T == 0)  # exact zeros: white
    assert onp.allclose(data.filled(0.0), norms.T)
    assert onp.allclose(image.cmap.get_bad(), (1, 1, 1, 1))


def test_the_gradient_error_falls_from_one_to_zero_under_jacobi(three_schedules):
    infos, exact = three_schedules
    figure = viz.plot_relaxation(infos, reference=exact)
    ax = next(ax for ax in figure.axes if ax.get_title().startswith("gradient estimate"))
    curves = lines_of(ax)
    assert curves["jacobi"][0] == 1.0  # before the first step the estimate is 0
    assert curves["jacobi"][-1] < 1e-14
    assert 1e-4 < curves["strict"][-1] < 0.1  # O(beta)


def test_labels_must_match_the_relaxations(three_schedules):
    infos, _ = three_schedules
    with pytest.raises(ValueError, match="one label per relaxation"):
        viz.plot_relaxation(infos, labels=["only one"])


# --- animate_relaxation -------------------------------------------------------------------

@pytest.fixture(scope="module")
def jacobi_movie(tmp_path_factory):
    """millidge's jacobi relaxation animated once, as a GIF and a page: (info, gif, html)."""
    directory = tmp_path_factory.mktemp("jacobi_movie")
    gif, page = directory / "relax.gif", directory / "relax.html"
    info = viz.animate_relaxation(millidge, Y0, THETA, argnums=(0, 1), units="marked",
                                  path=[gif, page])
    return info, gif, page


def html_frames(page):
    """The frames embedded in an animation's page, as RGB arrays."""
    found = re.findall(r'data:image/png;base64,([^"]*)"', page.read_text())
    return [onp.asarray(Image.open(io.BytesIO(base64.b64decode(data)))
                        .convert("RGB"), dtype=int) for data in found]


def gif_frames(path):
    """The frames of a GIF, as RGB arrays."""
    return [onp.asarray(frame.convert("RGB"), dtype=int)
            for frame in ImageSequence.Iterator(Image.open(path))]


def test_the_gif_has_one_frame_per_recorded_iteration(jacobi_movie, tmp_path):
    info, gif, _ = jacobi_movie
    assert info.schedule == "jacobi"
    assert Image.open(gif).n_frames == info.record.norms.shape[0] == info.iterations + 1
    path = tmp_path / "relax.gif"
    info = viz.animate_relaxation(millidge, Y0, THETA, argnums=(0, 1), schedule="euler",
                                  eta=0.5, tol=1e-2, units="marked", path=path)
    assert Image.open(path).n_frames == info.iterations + 1 > 5


def test_jacobi_frames_colour_one_more_layer_each_iteration():
    graph = pcgrad.trace(millidge, Y0, THETA)
    _, info = relaxed(millidge, Y0, THETA, schedule="jacobi")
    drawing = viz.draw_graph(graph, info=info)
    zero = drawing.cmap(0.5)
    units = set(info.record.nodes)
    # under jacobi an error moves one unit per step: it reaches a unit after as many
    # steps as the unit is edges away from the output
    distance = nx.shortest_path_length(graph.nx.reverse(copy=True), graph.output)
    for k in range(info.iterations + 1):
        drawing.show(info.record, k)
        coloured = {n for n in units if not onp.allclose(drawing.facecolor(n), zero)}
        assert coloured == {n for n in units if distance[n] <= k}


def test_the_gif_frames_differ_from_first_to_last(jacobi_movie):
    movie = Image.open(jacobi_movie[1])
    first = onp.asarray(movie.convert("RGB"), dtype=int)
    movie.seek(movie.n_frames - 1)
    last = onp.asarray(movie.convert("RGB"), dtype=int)
    assert (onp.abs(first - last).sum(axis=2) > 60).sum() > 2000  # whole nodes recoloured


def test_max_frames_shows_that_many_iterations(tmp_path):
    path = tmp_path / "relax.gif"
    info = viz.animate_relaxation(millidge, Y0, THETA, argnums=(0, 1), schedule="euler",
                                  eta=0.5, tol=1e-6, units="marked", path=path, max_frames=4)
    assert info.iterations > 10 and Image.open(path).n_frames == 4


def test_the_html_page_is_self_contained_and_has_every_frame(jacobi_movie):
    info, _, path = jacobi_movie
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "http://" not in page and "https://" not in page  # loads nothing from the web
    assert "<link" not in page and 'src="//' not in page
    assert page.count("data:image/png;base64,") == info.iterations + 1


def test_the_page_and_the_gif_show_the_same_frames(jacobi_movie):
    _, gif, page = jacobi_movie
    shown, drawn = html_frames(page), gif_frames(gif)
    assert len(shown) == len(drawn) and shown[0].shape == drawn[0].shape
    for k, frame in enumerate(shown):
        differences = [onp.abs(frame - other).mean() for other in drawn]
        assert onp.argmin(differences) == k  # of all the GIF's frames, the same one
        assert differences[k] < 0.1  # the GIF's palette changes colours a little


def test_each_frame_is_drawn_once_for_all_outputs(tmp_path, monkeypatch):
    drawn = []
    draw = matplotlib.figure.Figure.draw

    def counted(figure, renderer):
        if figure.axes:  # the graph's figure, not the pictures the writers save
            drawn.append(figure)
        return draw(figure, renderer)
    monkeypatch.setattr(matplotlib.figure.Figure, "draw", counted)
    info = viz.animate_relaxation(lambda x: np.sum(np.tanh(x)), onp.ones(2),
                                  path=[tmp_path / "relax.gif", tmp_path / "relax.html"])
    frames = info.iterations + 1
    assert Image.open(tmp_path / "relax.gif").n_frames == frames
    assert len(drawn) == 1 + frames  # one layout pass (not rendered), then each frame once


def test_frames_are_drawn_whatever_pyplots_backend(tmp_path):
    plt.switch_backend("pdf")  # its canvas draws no pixels
    try:
        info = viz.animate_relaxation(lambda x: np.sum(np.tanh(x)), onp.ones(2),
                                      path=tmp_path / "relax.gif")
    finally:
        plt.switch_backend("agg")
    assert Image.open(tmp_path / "relax.gif").n_frames == info.iterations + 1


def test_an_unknown_file_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.gif or \.html"):
        viz.animate_relaxation(millidge, Y0, THETA, path=tmp_path / "relax.mp4")


def _browser():
    """Debian's chromium-headless-shell or chromium, or why there is none.

    .ci/run installs the headless shell in the background while the suite
    runs, naming in PCGRAD_BROWSER_INSTALL a file it writes when the install
    has ended ("ok", or what failed): wait for that before looking."""
    pending = os.environ.get("PCGRAD_BROWSER_INSTALL")
    if pending:
        deadline = time.monotonic() + 600
        while not os.path.exists(pending) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not os.path.exists(pending):
            return None, "the browser's install did not end in 10 minutes"
        with open(pending) as f:
            outcome = f.read().strip()
        if outcome != "ok":
            return None, f"installing the browser failed: {outcome}"
    found = next(filter(None, map(shutil.which, ("chromium-headless-shell", "chromium",
                                                 "chromium-browser"))), None)
    return found, "" if found else "chromium is not installed"


def test_the_html_page_renders_in_a_browser_without_network(jacobi_movie, tmp_path):
    browser, why_not = _browser()
    if browser is None:
        pytest.skip(why_not)
    path = jacobi_movie[2]
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--virtual-time-budget=3000",
                    "--window-size=1600,700", f"--screenshot={shot}", path.as_uri()],
                   check=True, capture_output=True, timeout=120)
    pixels = onp.asarray(Image.open(shot).convert("RGB"), dtype=int)
    coloured = onp.abs(pixels - pixels[..., :1]).max(axis=2) > 40  # not grey or white
    assert coloured.mean() > 0.001  # the drawing's coloured nodes are on screen
    assert (pixels.sum(axis=2) < 200).mean() > 0.001  # and dark text and edges
