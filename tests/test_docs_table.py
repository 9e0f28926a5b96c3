"""docs/numpy-support.md is what docs/generate_numpy_table.py writes."""
import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _generator():
    path = ROOT / "docs" / "generate_numpy_table.py"
    spec = importlib.util.spec_from_file_location("generate_numpy_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_numpy_support_table_is_current():
    generator = _generator()
    assert generator.DOC.read_text() == generator.table(), (
        "docs/numpy-support.md is stale; run: python docs/generate_numpy_table.py")


def test_numpy_support_table_lists_every_public_name():
    generator = _generator()
    text = generator.DOC.read_text()
    missing = [n for n in generator.public_names() if f"| `{n}` |" not in text]
    assert missing == []
