"""Tables of benchmark results, as aligned text and as Markdown.

Works on the ``results`` dict the runner assembles (and writes as JSON):
``results["workloads"][name] = {"description", "forward": record,
"runs": {label: record}}``, with one worker record per engine run.
"""

MICRO = 1e6
MILLI = 1e3
MEBI = 2**20

ENGINE_COLUMNS = (
    "workload",
    "engine",
    "forward µs",
    "grad µs (min)",
    "grad µs (median)",
    "grad/forward",
    "autograd/engine (>1: faster)",
    "jax-jit/engine (>1: faster)",
    "first call ms",
    "max rel diff",
    "tracemalloc peak MB",
    "ΔRSS peak MB",
)
SCHEDULE_COLUMNS = (
    "workload",
    "schedule",
    "iterations",
    "graph depth",
    "converged",
    "node updates",
    "grad µs (min)",
    "grad µs (median)",
    "time / sweep time",
    "first call ms",
    "max rel diff",
)

MISS_COLUMNS = (
    "workload",
    "engine",
    "new-structure µs (min)",
    "new-structure µs (median)",
    "new-structure / same-structure",
    "engine/autograd (≤1.2: target)",
)
LARGE_COLUMNS = (
    "engine",
    "first call s",
    "steady call s",
    "first / steady",
    "first ΔRSS peak MB",
    "steady ΔRSS peak MB",
    "peak / autograd's",
    "max rel diff",
)


def _is_schedule_variant(label):
    return label.startswith("pcgrad[")


def _min_s(record):
    return record["timing"]["min_s"] if record and "timing" in record else None


def _number(value, template):
    return "—" if value is None else template.format(value)


def _ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def _scaled(value, factor):
    return None if value is None else value * factor


def _rel_diff(record):
    if record.get("reference") is None:
        return "—"
    if record.get("reference") == record["label"]:
        return "ref"
    value = record.get("max_rel_diff")
    return "shape differs" if value is None else f"{value:.1e}"


def _records(results):
    """(workload, label, record) for every run, each record knowing its label."""
    for workload, entry in results["workloads"].items():
        for label, record in entry["runs"].items():
            yield workload, label, {**record, "label": label}


def _shown_name(results, workload):
    """The workload's name, starred when it ran at reduced (--quick) size."""
    return workload + "*" if results["workloads"][workload].get("reduced") else workload


def engine_rows(results):
    """One row per workload and engine (pcgrad with its default schedule)."""
    rows = []
    for workload, label, record in _records(results):
        if _is_schedule_variant(label):
            continue
        runs = results["workloads"][workload]["runs"]
        forward = _min_s(results["workloads"][workload]["forward"])
        name = _shown_name(results, workload)
        if "error" in record:
            rows.append([name, label, _number(_scaled(forward, MICRO), "{:.1f}"), "error"]
                        + [""] * (len(ENGINE_COLUMNS) - 4))  # fmt: skip
            continue
        grad_min = _min_s(record)
        tracemalloc_peak = record.get("tracemalloc_peak_bytes")
        rows.append(
            [
                name,
                label,
                _number(_scaled(forward, MICRO), "{:.1f}"),
                _number(_scaled(grad_min, MICRO), "{:.1f}"),
                _number(_scaled(record["timing"]["median_s"], MICRO), "{:.1f}"),
                _number(_ratio(grad_min, forward), "{:.1f}"),
                _number(_ratio(_min_s(runs.get("autograd")), grad_min), "{:.2f}"),
                _number(_ratio(_min_s(runs.get("jax-jit")), grad_min), "{:.2f}"),
                _number(_scaled(record["first_call_s"], MILLI), "{:.1f}"),
                _rel_diff(record),
                _number(_scaled(tracemalloc_peak, 1 / MEBI), "{:.2f}"),
                _number(_scaled(record.get("rss_peak_delta_bytes"), 1 / MEBI), "{:.2f}"),
            ]
        )
    return rows


def schedule_rows(results):
    """pcgrad's schedules side by side: iterations, time, time relative to sweep."""
    rows = []
    for workload, label, record in _records(results):
        if label != "pcgrad" and not _is_schedule_variant(label):
            continue
        schedule = "sweep" if label == "pcgrad" else label[len("pcgrad[") : -1]
        name = _shown_name(results, workload)
        if "error" in record:
            rows.append([name, schedule, "error"] + [""] * (len(SCHEDULE_COLUMNS) - 3))
            continue
        info = record.get("relax_info", {})
        iterations, depth, converged, node_updates = (
            _number(info.get(field), "{}")
            for field in ("iterations", "depth", "converged", "node_updates")
        )
        sweep = _min_s(results["workloads"][workload]["runs"].get("pcgrad"))
        rows.append(
            [
                name,
                schedule,
                iterations,
                depth,
                converged,
                node_updates,
                _number(_scaled(_min_s(record), MICRO), "{:.1f}"),
                _number(_scaled(record["timing"]["median_s"], MICRO), "{:.1f}"),
                _number(_ratio(_min_s(record), sweep), "{:.2f}"),
                _number(_scaled(record["first_call_s"], MILLI), "{:.1f}"),
                _rel_diff(record),
            ]
        )
    return rows


def miss_rows(results):
    """The "new structure every call" row of every engine that has one."""
    rows = []
    for workload, label, record in _records(results):
        miss = record.get("miss")
        if not miss:
            continue
        autograd = results["workloads"][workload]["runs"].get("autograd", {}).get("miss")
        rows.append(
            [
                _shown_name(results, workload),
                label,
                _number(_scaled(miss["min_s"], MICRO), "{:.1f}"),
                _number(_scaled(miss["median_s"], MICRO), "{:.1f}"),
                _number(_ratio(miss["min_s"], _min_s(record)), "{:.2f}"),
                _number(_ratio(miss["min_s"], autograd and autograd["min_s"]), "{:.2f}"),
            ]
        )
    return rows


def large_rows(results):
    """The large-array case, one row per engine."""
    runs = results.get("large", {}).get("runs", {})
    autograd = runs.get("autograd", {})
    rows = []
    for label, record in runs.items():
        if "error" in record:
            rows.append([label, "error"] + [""] * (len(LARGE_COLUMNS) - 2))
            continue
        peak = max(record["first_rss_peak_delta_bytes"] or 0, record["rss_peak_delta_bytes"] or 0)
        autograd_peak = max(autograd.get("first_rss_peak_delta_bytes") or 0,
                            autograd.get("rss_peak_delta_bytes") or 0)  # fmt: skip
        rows.append(
            [
                label,
                _number(record["first_call_s"], "{:.2f}"),
                _number(record["steady_s"], "{:.2f}"),
                _number(_ratio(record["first_call_s"], record["steady_s"]), "{:.2f}"),
                _number(_scaled(record["first_rss_peak_delta_bytes"], 1 / MEBI), "{:.0f}"),
                _number(_scaled(record["rss_peak_delta_bytes"], 1 / MEBI), "{:.0f}"),
                _number(_ratio(peak, autograd_peak), "{:.2f}"),
                _rel_diff({**record, "label": label}),
            ]
        )
    return rows


def memory_ratio_lines(results):
    """The mlp peak-memory ratio pcgrad/autograd, for both memory measures."""
    runs = results["workloads"].get("mlp", {}).get("runs", {})
    pcgrad, autograd = runs.get("pcgrad"), runs.get("autograd")
    if not pcgrad or not autograd or "error" in pcgrad or "error" in autograd:
        return []
    lines = []
    for key, name in (
        ("tracemalloc_peak_bytes", "tracemalloc peak"),
        ("rss_peak_delta_bytes", "ΔRSS peak"),
    ):
        ratio = _ratio(pcgrad.get(key), autograd.get(key))
        lines.append(f"mlp {name} pcgrad/autograd: {_number(ratio, '{:.2f}')}")
    return lines


def note_lines(results):
    """Skipped engines, errors with their full text, and suspicious results."""
    lines = [f"{label}: skipped ({reason})" for label, reason in results["skipped"].items()]
    for workload, entry in results["workloads"].items():
        if entry.get("reduced"):
            lines.append(f"{workload}* at reduced --quick size: {entry['description']}")
        forward = entry["forward"]
        if "error" in forward:
            lines.append(f"{workload} / numpy forward: {forward['error']}")
        elif not forward.get("finite", True):
            lines.append(f"{workload}: the numpy forward value is not finite.")
        for label, record in entry["runs"].items():
            if "error" in record:
                lines.append(f"{workload} / {label}: {record['error']}")
            elif not record.get("finite", True):
                lines.append(f"{workload} / {label}: the gradient has non-finite entries.")
    return lines


def machine_lines(results):
    machine, settings = results["machine"], results["settings"]
    versions = ", ".join(
        f"{name} {version}" for name, version in machine["versions"].items() if version
    )
    openblas = ", ".join(f"{key}={value}" for key, value in machine["openblas_env"].items())
    mode = "quick" if settings["quick"] else "full"
    load = machine["load_average_1min"]
    return [
        f"CPU: {machine['cpu_model']}, {machine['cores']} cores; workers pinned to core(s) "
        f"{machine['worker_cores']} with {machine['threads']} thread(s); 1-min load average "
        f"{load['start']:.2f} at start, {load['end']:.2f} at end",
        f"versions: {versions}",
        f"OpenBLAS environment: {openblas or 'none'}",
        f"{mode} run: {settings['repeats']} repeats of loops >= {settings['min_loop']} s, "
        f"warm-up {settings['warmup']} s, a fresh worker process per {settings['process_per']}; "
        f"git {machine['git_commit']}; {machine['date']}",
    ]


def _text_table(columns, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *rows)]
    lines = ["  ".join(str(cell).rjust(width) for cell, width in zip(row, widths))
             for row in [columns, *rows]]  # fmt: skip
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _markdown_table(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


MISS_LEGEND = (
    "Each call has a new structure (the workload at a size no earlier call had: "
    "batch or length grown by one per call), as the last smaller batch of an epoch or "
    "variable sequence lengths give: a plan-cache miss for pcgrad. Times are single calls "
    "after warm-up calls at three other sizes; new-structure / same-structure divides by "
    "the engine's gradient time above."
)
LARGE_LEGEND = (
    "The first call at the large size follows one warm-up call at 1,000 elements, so it "
    "pays what a new large size costs (buffers, page faults), not compilation. Steady "
    "call: the fastest of three more. ΔRSS peak: resident-memory high-water mark of the "
    "call above the resident memory before it; peak / autograd's compares the larger of "
    "the two peaks."
)


def primed_sentence(large):
    """How the large case's workers found the machine's memory, if primed."""
    primed = large.get("primed_bytes")
    if not primed:
        return ""
    return (f" Each engine's worker starts right after a process that touched and freed "
            f"{primed / 1e9:g} GB: this virtual machine hands free memory back to its host, "
            "and the next process to touch it pays about 1 ms per MB more, which would "
            "otherwise fall on whichever engine is measured first.")


LEGEND = (
    "Times are per gradient call on one pinned core: min and median over the timed loops; "
    "ratios use the minimum. autograd/engine and jax-jit/engine are the reference engine's "
    "minimum divided by this engine's, so > 1 means this engine is faster. grad/forward "
    "divides by the plain-numpy forward pass. First call is the workload's first gradient "
    "call in its worker process, tracing and compiling included (a full run starts a fresh "
    "process per engine and workload; --quick one per engine). max rel diff is "
    "max|g - g_ref| / max|g_ref| against the row marked ref. tracemalloc peak counts "
    "Python and numpy allocations during one call (numpy-based engines only); ΔRSS peak "
    "is the resident-memory high-water mark of one call above the resident memory "
    "before it."
)


def text_report(results):
    sections = [
        "gradient engines",
        _text_table(ENGINE_COLUMNS, engine_rows(results)),
    ]
    schedules = schedule_rows(results)
    if schedules:
        sections += ["", "pcgrad schedules", _text_table(SCHEDULE_COLUMNS, schedules)]
    if miss_rows(results):
        sections += ["", "new structure every call", _text_table(MISS_COLUMNS, miss_rows(results))]
    if large_rows(results):
        sections += ["", f"large arrays: {results['large']['description']}",
                     _text_table(LARGE_COLUMNS, large_rows(results))]
    sections += ["", *memory_ratio_lines(results), *note_lines(results)]
    sections += ["", *machine_lines(results)]
    return "\n".join(sections)


def markdown_report(results):
    sections = [
        "# pcgrad benchmark results",
        "",
        *(f"- {line}" for line in machine_lines(results)),
        "",
        LEGEND,
        "",
        "## Gradient engines",
        "",
        _markdown_table(ENGINE_COLUMNS, engine_rows(results)),
    ]
    schedules = schedule_rows(results)
    if schedules:
        sections += ["", "## pcgrad schedules", "", _markdown_table(SCHEDULE_COLUMNS, schedules)]
    if miss_rows(results):
        sections += ["", "## New structure every call", "", MISS_LEGEND, "",
                     _markdown_table(MISS_COLUMNS, miss_rows(results))]
    if large_rows(results):
        sections += ["", "## Large arrays", "", f"`large`: {results['large']['description']}. "
                     + LARGE_LEGEND + primed_sentence(results["large"]), "",
                     _markdown_table(LARGE_COLUMNS, large_rows(results))]
    notes = memory_ratio_lines(results) + note_lines(results)
    if notes:
        sections += ["", "## Notes", "", *(f"- {line}" for line in notes)]
    descriptions = [
        f"- `{name}`: {entry['description']}" for name, entry in results["workloads"].items()
    ]
    sections += ["", "## Workloads", "", *descriptions]
    return "\n".join(sections) + "\n"
