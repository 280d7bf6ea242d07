"""Drug-likeness rules and structural-alert catalogs.

Rules (``True`` = the molecule passes), each on the property panel's definitions:

* ``lipinski`` — rule of five (Lipinski et al., Adv. Drug Deliv. Rev. 1997, 23, 3):
  MW <= 500, cLogP <= 5, HBD (NH+OH) <= 5, HBA (N+O) <= 10. Lipinski's own wording
  is that poor absorption is *likely when two or more* are violated, so one
  violation still passes.
* ``veber`` — Veber et al., J. Med. Chem. 2002, 45, 2615: rotatable bonds <= 10
  and TPSA <= 140 Å².
* ``leadlike`` — the ZINC lead-like definition (Irwin et al., J. Chem. Inf. Model.
  2012, 52, 1757; after Teague et al. 1999 / Oprea 2000): 250 <= MW <= 350,
  logP <= 3.5, rotatable bonds <= 7 (Crippen cLogP stands in for xlogP).
* ``ro3`` — fragment rule of three (Congreve et al., Drug Discov. Today 2003, 8,
  876): MW <= 300, cLogP <= 3, HBD <= 3, HBA <= 3, rotatable bonds <= 3.
* ``ghose`` — Ghose et al., J. Comb. Chem. 1999, 1, 55: 160 <= MW <= 480,
  -0.4 <= cLogP <= 5.6, 40 <= molar refractivity <= 130, 20 <= atoms (with H) <= 70.

Alerts come from RDKit's FilterCatalog (PAINS A/B/C: Baell & Holloway 2010;
Brenk et al. 2008; NIH: Jadhav et al. 2010; ZINC; ChEMBL's collected sets), plus ``mcf``:
the 22 medicinal-chemistry filters MOSES applies (Polykovskiy et al., Front. Pharmacol.
2020; ``molspace/data/moses_filters/mcf.csv``). Several MCF patterns name explicit
hydrogens; they are merged into hydrogen-count queries (``Chem.MergeQueryHs``) so they
match the molecule as parsed, with the verdict MOSES gets on the molecule with explicit
hydrogens (checked on 26,926 MOSES, ChEMBL and NCI molecules: identical matches).
Building a catalog takes tens of milliseconds, so each family is built once per
process and shared; matching is read-only and safe from several threads.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from rdkit import Chem
from rdkit.Chem import Crippen
from rdkit.Chem import FilterCatalog as rdfc

from molspace.chem.properties import compute_properties
from molspace.chem.rdlog import capture_rdkit_log
from molspace.errors import ConfigError

_MOSES_FILTERS = Path(__file__).resolve().parents[1] / "data" / "moses_filters"

__all__ = [
    "ALERT_FAMILIES",
    "RULES",
    "RULE_PROPERTIES",
    "AlertCatalog",
    "evaluate_rules",
    "mcf_patterns",
    "rule_passes",
]

# --- rules -----------------------------------------------------------------------------------

#: the panel properties each rule reads (``ghose`` also needs MR and atom count)
RULE_PROPERTIES: dict[str, tuple[str, ...]] = {
    "lipinski": ("mw", "clogp", "hbd", "hba"),
    "veber": ("rotb", "tpsa"),
    "leadlike": ("mw", "clogp", "rotb"),
    "ro3": ("mw", "clogp", "hbd", "hba", "rotb"),
    "ghose": ("mw", "clogp"),
}


def _lipinski(p: Mapping[str, float]) -> bool:
    violations = (p["mw"] > 500) + (p["clogp"] > 5) + (p["hbd"] > 5) + (p["hba"] > 10)
    return violations <= 1


def _veber(p: Mapping[str, float]) -> bool:
    return p["rotb"] <= 10 and p["tpsa"] <= 140


def _leadlike(p: Mapping[str, float]) -> bool:
    return 250 <= p["mw"] <= 350 and p["clogp"] <= 3.5 and p["rotb"] <= 7


def _ro3(p: Mapping[str, float]) -> bool:
    return p["mw"] <= 300 and p["clogp"] <= 3 and p["hbd"] <= 3 and p["hba"] <= 3 and p["rotb"] <= 3


def _ghose(p: Mapping[str, float], mol: Chem.Mol) -> bool:
    if not (160 <= p["mw"] <= 480 and -0.4 <= p["clogp"] <= 5.6):
        return False
    atoms = mol.GetNumAtoms() + sum(atom.GetTotalNumHs() for atom in mol.GetAtoms())
    refractivity = Crippen.MolMR(mol)
    return 40 <= refractivity <= 130 and 20 <= atoms <= 70


def rule_passes(name: str, properties: Mapping[str, float], mol: Chem.Mol | None = None) -> bool:
    """Verdict of rule ``name`` from precomputed properties (``mol`` is needed by ``ghose``)."""
    if name == "ghose":
        if mol is None:
            raise ValueError("the ghose rule needs the molecule (molar refractivity, atom count)")
        return _ghose(properties, mol)
    try:
        return _PROPERTY_RULES[name](properties)
    except KeyError:
        if name in _PROPERTY_RULES:
            raise  # a property missing from ``properties``: a programming error
        raise ConfigError(f"unknown rule {name!r} (known: {', '.join(RULES)})") from None


_PROPERTY_RULES: dict[str, Callable[[Mapping[str, float]], bool]] = {
    "lipinski": _lipinski,
    "veber": _veber,
    "leadlike": _leadlike,
    "ro3": _ro3,
}


def _rule(name: str) -> Callable[[Chem.Mol], bool]:
    def check(mol: Chem.Mol) -> bool:
        return rule_passes(name, compute_properties(mol, RULE_PROPERTIES[name]), mol)

    check.__name__ = name
    check.__doc__ = f"True when ``mol`` passes the {name} rule (see molspace.chem.filters)."
    return check


#: rule name -> predicate on a molecule (True = passes)
RULES: dict[str, Callable[[Chem.Mol], bool]] = {name: _rule(name) for name in RULE_PROPERTIES}


def evaluate_rules(
    mol: Chem.Mol,
    names: Iterable[str] | None = None,
    properties: Mapping[str, float] | None = None,
) -> dict[str, bool]:
    """Verdicts of several rules, computing each needed property once.

    Pass the panel you already computed as ``properties`` to avoid recomputing it.
    """
    wanted = list(RULES) if names is None else list(names)
    for name in wanted:
        if name not in RULES:
            raise ConfigError(f"unknown rule {name!r} (known: {', '.join(RULES)})")
    have = dict(properties or {})
    missing = sorted({p for n in wanted for p in RULE_PROPERTIES[n]} - have.keys())
    if missing:
        have.update(compute_properties(mol, missing))
    return {name: rule_passes(name, have, mol) for name in wanted}


# --- structural alerts -------------------------------------------------------------------------

_FC = rdfc.FilterCatalogParams.FilterCatalogs

#: alert family -> catalogs it combines (RDKit's by name, or one of ``_SHIPPED_CATALOGS``)
ALERT_FAMILIES: dict[str, tuple[str, ...]] = {
    "mcf": ("MOSES_MCF",),
    "pains": ("PAINS_A", "PAINS_B", "PAINS_C"),
    "pains_a": ("PAINS_A",),
    "pains_b": ("PAINS_B",),
    "pains_c": ("PAINS_C",),
    "brenk": ("BRENK",),
    "nih": ("NIH",),
    "zinc": ("ZINC",),
    "chembl": ("CHEMBL",),
    "chembl_bms": ("CHEMBL_BMS",),
    "chembl_dundee": ("CHEMBL_Dundee",),
    "chembl_glaxo": ("CHEMBL_Glaxo",),
    "chembl_inpharmatica": ("CHEMBL_Inpharmatica",),
    "chembl_lint": ("CHEMBL_LINT",),
    "chembl_mlsmr": ("CHEMBL_MLSMR",),
    "chembl_surechembl": ("CHEMBL_SureChEMBL",),
}

_catalogs: dict[str, rdfc.FilterCatalog] = {}
_catalog_lock = threading.Lock()


def check_alert_families(families: Iterable[str]) -> tuple[str, ...]:
    """``families`` as given, each a key of ``ALERT_FAMILIES`` (ValueError names the first
    unknown one): one check for every config that takes alert families."""
    out = tuple(families)
    for family in out:
        if family not in ALERT_FAMILIES:
            known = ", ".join(ALERT_FAMILIES)
            raise ValueError(f"unknown alert family {family!r} (known: {known})")
    return out


def mcf_patterns() -> list[tuple[str, str]]:
    """(name, SMARTS) of MOSES's 22 medicinal-chemistry filters, as shipped (``MCF1`` ...)."""
    with open(_MOSES_FILTERS / "mcf.csv", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)  # header: names,smarts
        return [(name, smarts) for name, smarts in reader]


def _mcf_entries() -> list[rdfc.FilterCatalogEntry]:
    entries = []
    for name, smarts in mcf_patterns():
        pattern = Chem.MolFromSmarts(smarts)
        if pattern is None:  # the shipped file compiles; a broken copy must not pass silently
            raise RuntimeError(f"{_MOSES_FILTERS / 'mcf.csv'}: {name} has an invalid SMARTS")
        matcher = rdfc.SmartsMatcher(name, Chem.MergeQueryHs(pattern), 1)
        entries.append(rdfc.FilterCatalogEntry(name, matcher))
    return entries


#: catalogs molspace builds from its own data files (the rest are RDKit's)
_SHIPPED_CATALOGS: dict[str, Callable[[], list[rdfc.FilterCatalogEntry]]] = {
    "MOSES_MCF": _mcf_entries,
}


def _family_catalog(family: str) -> rdfc.FilterCatalog:
    catalog = _catalogs.get(family)
    if catalog is None:
        with _catalog_lock:
            catalog = _catalogs.get(family)
            if catalog is None:
                names = ALERT_FAMILIES[family]
                params = rdfc.FilterCatalogParams()
                for name in names:
                    if name not in _SHIPPED_CATALOGS:
                        params.AddCatalog(getattr(_FC, name))
                catalog = rdfc.FilterCatalog(params)
                for name in names:
                    for entry in _SHIPPED_CATALOGS.get(name, list)():
                        catalog.AddEntry(entry)
                _catalogs[family] = catalog
    return catalog


class AlertCatalog:
    """Structural-alert matcher over named families, e.g. ``("pains", "brenk", "nih")``.

    Matches are reported as ``"family:description"`` (``"pains:hzone_phenol_A(479)"``).
    The underlying RDKit catalogs are cached per process, so constructing many
    AlertCatalog objects is cheap, and pickling one (to send it to a Dask worker)
    ships only the family names.
    """

    def __init__(self, families: Sequence[str] = ("pains", "brenk", "nih")) -> None:
        if isinstance(families, str):
            families = (families,)
        normalized = tuple(f.strip().lower() for f in families)
        for family in normalized:
            if family not in ALERT_FAMILIES:
                known = ", ".join(ALERT_FAMILIES)
                raise ConfigError(f"unknown alert family {family!r} (known: {known})")
        if not normalized:
            raise ConfigError("an alert catalog needs at least one family")
        self.families: tuple[str, ...] = normalized
        self._catalogs = [(f, _family_catalog(f)) for f in normalized]

    def __repr__(self) -> str:
        return f"AlertCatalog(families={self.families!r})"

    def __reduce__(self) -> tuple[type[AlertCatalog], tuple[tuple[str, ...]]]:
        return (AlertCatalog, (self.families,))

    def first_match(self, mol: Chem.Mol) -> str | None:
        """The first alert that matches (families in the given order), or None."""
        with capture_rdkit_log():
            for family, catalog in self._catalogs:
                entry = catalog.GetFirstMatch(mol)
                if entry is not None:
                    return f"{family}:{entry.GetDescription()}"
        return None

    def matches(self, mol: Chem.Mol) -> list[str]:
        """Every alert that matches, in family order, without duplicates."""
        found: list[str] = []
        with capture_rdkit_log():
            for family, catalog in self._catalogs:
                for entry in catalog.GetMatches(mol):
                    label = f"{family}:{entry.GetDescription()}"
                    if label not in found:
                        found.append(label)
        return found

    def has_match(self, mol: Chem.Mol) -> bool:
        """True when any alert matches (the fastest question to ask)."""
        with capture_rdkit_log():
            return any(catalog.HasMatch(mol) for _, catalog in self._catalogs)
