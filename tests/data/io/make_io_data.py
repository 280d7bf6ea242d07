"""Re-create the tiny I/O test files (good and deliberately broken) in this folder.

Run: ``.venv/bin/python tests/data/io/make_io_data.py``. The files are committed;
this script documents exactly how each broken one is broken.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent

MOLBLOCK_ETHANOL = """\
ethanol
     RDKit          2D

  3  2  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.2990    0.7500    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    2.5981   -0.0000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
  2  3  1  0
M  END
"""

MOLBLOCK_BENZENE = """\
benzene
     RDKit          2D

  6  6  0  0  0  0  0  0  0  0999 V2000
    1.5000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    0.7500   -1.2990    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
   -0.7500   -1.2990    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
   -1.5000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
   -0.7500    1.2990    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    0.7500    1.2990    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  2  0
  2  3  1  0
  3  4  2  0
  4  5  1  0
  5  6  2  0
  6  1  1  0
M  END
"""

# carbon with five bonds to fluorine: RDKit refuses to sanitize it
MOLBLOCK_PENTAVALENT = """\
bad_valence
     RDKit          2D

  6  5  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.0000    0.0000    0.0000 F   0  0  0  0  0  0  0  0  0  0  0  0
   -1.0000    0.0000    0.0000 F   0  0  0  0  0  0  0  0  0  0  0  0
    0.0000    1.0000    0.0000 F   0  0  0  0  0  0  0  0  0  0  0  0
    0.0000   -1.0000    0.0000 F   0  0  0  0  0  0  0  0  0  0  0  0
    0.5000    0.5000    0.0000 F   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
  1  3  1  0
  1  4  1  0
  1  5  1  0
  1  6  1  0
M  END
"""


def tags(**values: str) -> str:
    return "".join(f">  <{k}>\n{v}\n\n" for k, v in values.items())


def main() -> None:
    w = lambda name, text: (HERE / name).write_text(text, encoding="utf-8")  # noqa: E731

    # .smi with comments, blank lines, ids (one with spaces), a record without id
    w(
        "ids_comments.smi",
        "# NCI-style SMILES file\n"
        "CCO\tethanol\n"
        "\n"
        "c1ccccc1 benzene\n"
        "   # indented comment\n"
        "CC(=O)O acetic acid\n"
        "C#N\n"
        "not_a_smiles  still-read-as-text\n",
    )
    # header line naming the columns, CRLF line ends
    w("header.smi", "SMILES Name\r\nCCO ethanol\r\nCCN ethylamine\r\n")
    # header with 3 columns -> whitespace table; line 4 has a missing field
    w("wide.smi", "smiles id mw\nCCO e1 46.07\nCCN e2 45.08\nCCC e3\n")

    # CSV: quoted commas, quoted newline in a note, an id column, extra columns
    w(
        "quoted.csv",
        "smiles,id,note\n"
        'CCO,m1,"plain, with comma"\n'
        'c1ccccc1,m2,"two\nlines"\n'
        '"CC(=O)O",m3,"say ""hi"""\n',
    )
    # CSV with bad rows: wrong column counts, empty SMILES cell, blank line, whitespace SMILES
    w(
        "bad_rows.csv",
        "Name,SMILES,score\n"
        "a,CCO,1.0\n"
        "b,CCN\n"
        "\n"
        "c,,3.0\n"
        "d,CCC,4.0,extra\n"
        "e,   ,5.0\n"
        "f,c1ccncc1,6.0\n",
    )
    w("no_smiles_column.csv", "name,structure\na,CCO\n")
    w("canonical.tsv", "compound_id\tcanonical_smiles\tsource\nX1\tCCO\tvendor\nX2\tCCN\tvendor\n")
    w("empty.smi", "")
    w("empty.csv", "")
    w("header_only.csv", "smiles,id\n")
    (HERE / "binary_junk.smi").write_bytes(bytes(range(256)) * 4)
    # a valid file with one undecodable line and one NUL line among good ones
    (HERE / "mixed_bytes.smi").write_bytes(
        b"CCO good1\n\xff\xfe\xfa bad-bytes\nCC\x00O nul\nCCN good2\n"
    )
    (HERE / "not_gzip.smi.gz").write_bytes(b"CCO ethanol\n")
    with gzip.open(HERE / "small.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write("smiles,id\nCCO,g1\nCCN,g2\nCCC,g3\n")

    # SDF: two good records with properties (one multi-line), one that cannot be sanitized
    w(
        "props.sdf",
        MOLBLOCK_ETHANOL
        + tags(ID="E1", mw="46.07", note="first line\nsecond line")
        + "$$$$\n"
        + MOLBLOCK_BENZENE
        + tags(ID="B1", mw="78.11")
        + "$$$$\n",
    )
    w(
        "bad_record.sdf",
        MOLBLOCK_ETHANOL
        + tags(ID="E1")
        + "$$$$\n"
        + MOLBLOCK_PENTAVALENT
        + tags(ID="P1")
        + "$$$$\n"
        + MOLBLOCK_BENZENE
        + tags(ID="B1")
        + "$$$$\n",
    )
    # last record cut off in its atom block
    w(
        "truncated.sdf",
        MOLBLOCK_ETHANOL + "$$$$\n" + "\n".join(MOLBLOCK_BENZENE.splitlines()[:7]) + "\n",
    )

    # Parquet directory: two files (several row groups), a hidden temp file readers must skip
    pq_dir = HERE / "parquet_dir"
    pq_dir.mkdir(exist_ok=True)
    part0 = pa.table(
        {
            "SMILES": ["CCO", "CCN", None, "c1ccccc1"],
            "id": ["p1", "p2", "p3", None],
            "mw": [46.07, 45.08, None, 78.11],
        }
    )
    pq.write_table(part0, pq_dir / "part-0.parquet", row_group_size=2)
    part1 = pa.table({"SMILES": ["CCC", ""], "id": ["p5", "p6"], "mw": [44.1, 0.0]})
    pq.write_table(part1, pq_dir / "part-1.parquet")
    (pq_dir / ".tmp-abc-part-2.parquet").write_bytes(b"half written")


if __name__ == "__main__":
    main()
