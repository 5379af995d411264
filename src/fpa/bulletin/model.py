"""The bulletin as a document: a title, then headings, paragraphs and tables, in order. Built
once from the warehouse (content.py) and rendered three ways (render.py: Markdown, Word; the PDF
is the Word file through LibreOffice), so the three say the same thing."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1


@dataclass(frozen=True)
class Paragraph:
    text: str
    # a note under a table or the closing line: smaller, and not a sentence of the report
    note: bool = False


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    # columns holding figures are right-aligned in Word; the first (the area) is not
    numeric: tuple[bool, ...] = ()
    caption: str | None = None

    def __post_init__(self):
        for r in self.rows:
            if len(r) != len(self.header):
                raise ValueError(f"a row of {len(r)} cells under {len(self.header)} headers")


Block = Heading | Paragraph | Table


@dataclass
class Document:
    title: str
    subtitle: str
    blocks: list[Block] = field(default_factory=list)
    tables: int = 0  # numbered in order: 表1, 表2 …

    def heading(self, text: str, level: int = 1) -> None:
        self.blocks.append(Heading(text, level))

    def paragraph(self, text: str, note: bool = False) -> None:
        self.blocks.append(Paragraph(text, note))

    def table(self, header, rows, numeric=(), caption: str = "") -> None:
        self.tables += 1
        self.blocks.append(
            Table(
                tuple(header),
                tuple(tuple(r) for r in rows),
                tuple(numeric),
                f"表{self.tables} {caption}".rstrip(),
            )
        )
