"""``molspace props`` and ``molspace standardize``: the chemistry core on the command line.

A thin layer: arguments are parsed here, all chemistry happens in
:mod:`molspace.chem`. A molecule that does not parse stops the command with one
line (``error: <smiles>: parse_error: ...``, exit 2) before anything is printed.
"""

from __future__ import annotations

import json
import math
from typing import Any

import typer

_DEFAULT_ALERTS = "pains,brenk,nih"


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _format(name: str, value: float) -> str:
    from molspace.chem import COUNT_PROPERTIES

    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if name in COUNT_PROPERTIES:
        return str(int(value))
    return f"{value:.2f}" if name in ("mw", "tpsa") else f"{value:.3f}"


def props(
    smiles: list[str] = typer.Argument(..., help="One or more SMILES strings."),
    properties: str | None = typer.Option(
        None, "--properties", "-p", help="Comma-separated property names (default: all)."
    ),
    rules: str | None = typer.Option(
        None, "--rules", "-r", help="Comma-separated rules (default: all; '' for none)."
    ),
    alerts: str = typer.Option(
        _DEFAULT_ALERTS, "--alerts", "-a", help="Comma-separated alert families ('' for none)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Print the property panel, rule verdicts and structural alerts of molecules."""
    from molspace.chem import (
        RULES,
        AlertCatalog,
        canonical_smiles,
        check_property_names,
        compute_properties,
        evaluate_rules,
        inchikey,
        mol_from_smiles,
    )
    from molspace.errors import ConfigError

    prop_names = check_property_names(_split(properties) or []) if properties else None
    rule_names = list(RULES) if rules is None else _split(rules) or []
    families = _split(alerts) or []
    catalog = AlertCatalog(families) if families else None
    unknown = [name for name in rule_names if name not in RULES]
    if unknown:
        raise ConfigError(f"unknown rule {unknown[0]!r} (known: {', '.join(RULES)})")
    mols = [mol_from_smiles(s) for s in smiles]  # fail fast, one line, before any output

    records: list[dict[str, Any]] = []
    for text, mol in zip(smiles, mols, strict=True):
        values = compute_properties(mol, prop_names)
        records.append(
            {
                "smiles": text,
                "canonical_smiles": canonical_smiles(mol),
                "inchikey": inchikey(mol),
                "properties": values,
                "rules": evaluate_rules(mol, rule_names, values) if rule_names else {},
                "alerts": catalog.matches(mol) if catalog else [],
            }
        )
    if as_json:
        for record in records:
            record["properties"] = {k: _json_value(v) for k, v in record["properties"].items()}
        typer.echo(json.dumps(records, indent=2))
        return
    _print_table(records, families)


def _print_table(records: list[dict[str, Any]], families: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=True, header_style="bold")
    table.add_column("")
    for i in range(1, len(records) + 1):
        table.add_column(f"#{i}", overflow="fold")
    # SMILES are full of [brackets]: plain Text cells, never rich markup
    table.add_row("smiles", *[Text(r["canonical_smiles"]) for r in records])
    table.add_row("inchikey", *[Text(r["inchikey"]) for r in records])
    for name in records[0]["properties"]:
        table.add_row(name, *[_format(name, r["properties"][name]) for r in records])
    for name in records[0]["rules"]:
        cells = [Text("pass") if r["rules"][name] else Text("fail", "red") for r in records]
        table.add_row(f"rule {name}", *cells)
    if families:
        cells = [Text("\n".join(r["alerts"]) or "none") for r in records]
        table.add_row(Text(f"alerts ({','.join(families)})"), *cells)
    Console(soft_wrap=False).print(table)


def standardize_cmd(
    smiles: list[str] = typer.Argument(..., help="One or more SMILES strings."),
    tautomer: bool = typer.Option(False, "--tautomer", help="Canonicalize the tautomer."),
    remove_stereo: bool = typer.Option(False, "--remove-stereo", help="Drop stereochemistry."),
    keep_fragments: bool = typer.Option(
        False, "--keep-fragments", help="Keep every fragment (no salt stripping)."
    ),
    keep_charges: bool = typer.Option(False, "--keep-charges", help="Do not neutralize."),
    no_normalize: bool = typer.Option(
        False, "--no-normalize", help="Skip metal disconnection and group normalization."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Print the standardized parent (canonical SMILES + InChIKey) of molecules."""
    from molspace.chem import StandardizeOptions, canonical_smiles, inchikey, mol_from_smiles
    from molspace.chem import standardize as run_standardize
    from molspace.errors import InvalidMoleculeError

    options = StandardizeOptions(
        largest_fragment=not keep_fragments,
        neutralize=not keep_charges,
        normalize=not no_normalize,
        canonical_tautomer=tautomer,
        remove_stereo=remove_stereo,
    )
    records = []
    for text in smiles:
        result = run_standardize(mol_from_smiles(text), options)
        if result.mol is None:
            raise InvalidMoleculeError(f"{text}: {result.reason}")
        records.append(
            {
                "smiles": text,
                "standardized": canonical_smiles(result.mol),
                "inchikey": inchikey(result.mol),
            }
        )
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table("input", "standardized", "inchikey", header_style="bold")
    for record in records:
        table.add_row(*(Text(record[k]) for k in ("smiles", "standardized", "inchikey")))
    Console(soft_wrap=False).print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("props")(props)
    app.command("standardize")(standardize_cmd)
