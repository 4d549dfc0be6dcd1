"""The documentation cannot drift from the code: the reference pages are what the generator
writes now, every config key is described, every relative link resolves, the pages keep their
size, the package map lists exactly the package's folders and modules, and the results folder
holds exactly the files the results page and the docs cite."""

import dataclasses
import re
from pathlib import Path

import pytest

from ldseg.cli import reference
from ldseg.errors import LDSegError

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README, RESULTS_PAGE = ROOT / "README.md", ROOT / "benchmarks" / "README.md"
RESULTS = ROOT / "benchmarks" / "results"
PAGES = [README, RESULTS_PAGE, *sorted(DOCS.rglob("*.md"))]
MAX_LINES = {README: 160, RESULTS_PAGE: 320}
MAX_CELL = 300

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
INLINE_LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
REFERENCE_DEFINITION = re.compile(r"^\s*\[([^\]]+)\]:\s*(\S+)", re.MULTILINE)
REFERENCE_USE = re.compile(r"\]\[([^\]]+)\]")
CELL_SPLIT = re.compile(r"(?<!\\)\|")


def prose(text: str) -> str:
    """Markdown without code blocks and code spans (whose brackets are not links)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def link_targets(page: Path) -> list[str]:
    """The targets of the inline and reference links of ``page``."""
    text = prose(page.read_text())
    return INLINE_LINK.findall(text) + [t for _, t in REFERENCE_DEFINITION.findall(text)]


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``page``."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", page.read_text()), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def local_file(page: Path, target: str) -> Path | None:
    """The file a relative link points to (None for web links and anchors in the page)."""
    if re.match(r"^[a-z]+:", target):
        return None
    if target.startswith("#"):
        return page
    return (page.parent / target.split("#")[0]).resolve()


def table_cells(page: Path) -> list[tuple[int, str]]:
    """(line number, cell text) of every markdown table row of ``page``."""
    cells = []
    for number, line in enumerate(FENCE.sub("", page.read_text()).splitlines(), start=1):
        if line.startswith("|"):
            cells += [(number, cell.strip()) for cell in CELL_SPLIT.split(line)[1:-1]]
    return cells


def test_reference_pages_are_what_the_generator_writes():
    for name, text in reference.pages().items():
        path = DOCS / "reference" / name
        assert path.is_file(), f"{path} is missing: run `make docs`"
        assert path.read_text() == text, f"{path} is stale: run `make docs`"


def test_every_config_key_is_described_but_the_allow_listed():
    undescribed = []
    for prefix, cls in reference.sections():
        _, described = reference.split_docstring(cls)
        undescribed += [prefix + f.name for f in dataclasses.fields(cls) if f.name not in described]
    assert sorted(undescribed) == sorted(reference.UNDESCRIBED), (
        "every config field needs an entry in its dataclass's Attributes section "
        "(reference.UNDESCRIBED lists the ones still missing, and only those)"
    )


def test_the_generator_refuses_a_docstring_that_does_not_match_the_fields():
    @dataclasses.dataclass
    class Section:
        """A section.

        Attributes:
            first: described,
                over two lines.
            second: described too.
        """

        first: int = 1
        second: list[int] = dataclasses.field(default_factory=lambda: [2])

    rows = reference.key_rows("s.", Section)
    assert rows == [
        ("s.first", "int", "1", "described, over two lines."),
        ("s.second", "list[int]", "[2]", "described too."),
    ]
    for entries, problem in [
        (["first: one."], "second has no entry"),
        (["first: one.", "second: two.", "third: three."], "no field third"),
        (["second: two.", "first: one."], "field order"),
    ]:
        Section.__doc__ = "A section.\n\n    Attributes:\n" + "".join(
            f"        {e}\n" for e in entries
        )
        with pytest.raises(LDSegError, match=problem):
            reference.key_rows("s.", Section)


def test_relative_links_point_to_existing_files():
    broken = []
    for page in PAGES:
        text = prose(page.read_text())
        defined = {label.lower() for label, _ in REFERENCE_DEFINITION.findall(text)}
        broken += [
            f"{page}: [{u}] undefined"
            for u in REFERENCE_USE.findall(text)
            if u.lower() not in defined
        ]
        for target in link_targets(page):
            path, anchor = local_file(page, target), target.partition("#")[2]
            if path is None:
                continue
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_pages_keep_their_size_and_tables_their_cells_short():
    for page, limit in MAX_LINES.items():
        lines = len(page.read_text().splitlines())
        assert lines <= limit, f"{page.relative_to(ROOT)} has {lines} lines (at most {limit})"
    long = [
        f"{page.relative_to(ROOT)}:{number}: {len(cell)} characters"
        for page in PAGES
        for number, cell in table_cells(page)
        if len(cell) > MAX_CELL
    ]
    assert not long, f"table cells over {MAX_CELL} characters:\n" + "\n".join(long)


def test_the_package_map_lists_exactly_the_package():
    package = ROOT / "src" / "ldseg"
    present = {f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()}
    present |= {p.name for p in package.glob("*.py") if not p.name.startswith("__")}
    method = (DOCS / "explanation" / "method.md").read_text()
    section = method.split("## Package map", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    mapped = {re.match(r"\| `([^`]+)`", row).group(1) for row in rows}
    assert mapped == present, (
        f"docs/explanation/method.md's package map: add {sorted(present - mapped)}, "
        f"remove {sorted(mapped - present)}"
    )


def test_the_results_folder_holds_exactly_the_cited_files():
    cited = set()
    for page in [RESULTS_PAGE, *sorted(DOCS.rglob("*.md"))]:
        for target in link_targets(page):
            path = local_file(page, target)
            if path is not None and path.is_relative_to(RESULTS) and path != RESULTS:
                cited.add(path)
    stored = {p.resolve() for p in RESULTS.rglob("*") if p.is_file()}
    assert not cited - stored, f"cited but missing: {sorted(map(str, cited - stored))}"
    assert not stored - cited, (
        "results no table cites (cite them or delete them): "
        f"{sorted(str(p.relative_to(RESULTS)) for p in stored - cited)}"
    )
