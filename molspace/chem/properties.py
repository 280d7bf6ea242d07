"""The property panel: physchem descriptors, QED, SA score and penalized logP.

:func:`compute_properties` computes only the names asked for and shares work
between them (QED reuses MW, cLogP, TPSA and rotatable bonds; penalized logP
reuses cLogP and SA), so asking for one cheap property costs one descriptor.

Conventions (stated because tools disagree):

* ``mw``: average molecular weight (g/mol), RDKit ``Descriptors.MolWt``.
* ``clogp``: Wildman–Crippen logP (RDKit ``Crippen.MolLogP``).
* ``tpsa``: Ertl topological PSA, N and O only (RDKit default).
* ``hbd`` / ``hba``: Lipinski's own counts (NH + OH; N + O), the definitions of the
  rule of five, so the panel and the ``lipinski`` rule agree.
* ``rotb``: rotatable bonds, RDKit "Strict" definition (as QED uses).
* ``rings``: SSSR ring count; ``aromatic_rings``: aromatic SSSR rings.
* ``qed``: Bickerton et al. 2012 with mean weights, RDKit's implementation and
  its own HBA/HBD/aromatic-ring definitions (identical to ``QED.qed``).
* ``sa``: Ertl & Schuffenhauer SA score from RDKit Contrib (1 easy .. 10 hard).
* ``penalized_logp``: see :func:`penalized_logp`.

Properties are computed on the hydrogen-suppressed graph: a molecule carrying
explicit H atoms gets the same values as its ``Chem.RemoveHs`` form. A property
RDKit cannot compute for an odd structure comes back as NaN instead of raising,
so one molecule never stops a library screen.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Sequence
from typing import Literal

from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors, FilterCatalog
from rdkit.Chem import rdMolDescriptors as rdmd

from molspace.chem.rdlog import capture_rdkit_log
from molspace.chem.sascore import sa_score
from molspace.errors import ConfigError

__all__ = [
    "COUNT_PROPERTIES",
    "PROPERTY_NAMES",
    "aromatic_rings",
    "clogp",
    "compute_properties",
    "formal_charge",
    "fsp3",
    "hba",
    "hbd",
    "heavy_atoms",
    "mw",
    "penalized_logp",
    "qed",
    "rings",
    "rotb",
    "sa_score",
    "tpsa",
]

PROPERTY_NAMES: tuple[str, ...] = (
    "mw",
    "clogp",
    "tpsa",
    "hbd",
    "hba",
    "rotb",
    "rings",
    "aromatic_rings",
    "fsp3",
    "heavy_atoms",
    "formal_charge",
    "qed",
    "sa",
    "penalized_logp",
)

#: properties that are integer counts (returned as ``int``)
COUNT_PROPERTIES = frozenset(
    {"hbd", "hba", "rotb", "rings", "aromatic_rings", "heavy_atoms", "formal_charge"}
)

# --- single properties -------------------------------------------------------------------


def mw(mol: Chem.Mol) -> float:
    """Average molecular weight in g/mol."""
    return float(Descriptors.MolWt(mol))


def clogp(mol: Chem.Mol) -> float:
    """Wildman–Crippen logP."""
    return float(Crippen.MolLogP(mol))


def tpsa(mol: Chem.Mol) -> float:
    """Topological polar surface area (Ertl 2000; N and O contributions)."""
    return float(rdmd.CalcTPSA(mol))


def hbd(mol: Chem.Mol) -> int:
    """Hydrogen-bond donors as Lipinski counted them: NH and OH groups."""
    return int(rdmd.CalcNumLipinskiHBD(mol))


def hba(mol: Chem.Mol) -> int:
    """Hydrogen-bond acceptors as Lipinski counted them: N and O atoms."""
    return int(rdmd.CalcNumLipinskiHBA(mol))


def rotb(mol: Chem.Mol) -> int:
    """Rotatable bonds (RDKit Strict definition: no amide C-N, no terminal groups)."""
    return int(rdmd.CalcNumRotatableBonds(mol, rdmd.NumRotatableBondsOptions.Strict))


def rings(mol: Chem.Mol) -> int:
    """Number of SSSR rings."""
    return int(rdmd.CalcNumRings(mol))


def aromatic_rings(mol: Chem.Mol) -> int:
    """Number of aromatic SSSR rings."""
    return int(rdmd.CalcNumAromaticRings(mol))


def fsp3(mol: Chem.Mol) -> float:
    """Fraction of sp3 carbons (Lovering 2009 'escape from flatland')."""
    return float(rdmd.CalcFractionCSP3(mol))


def heavy_atoms(mol: Chem.Mol) -> int:
    """Number of non-hydrogen atoms."""
    return int(mol.GetNumHeavyAtoms())


def formal_charge(mol: Chem.Mol) -> int:
    """Net formal charge."""
    return int(Chem.GetFormalCharge(mol))


def qed(mol: Chem.Mol) -> float:
    """QED drug-likeness (0..1), mean weights; same value as ``rdkit.Chem.QED.qed``."""
    return compute_properties(mol, ("qed",))["qed"]


# JT-VAE normalisation of penalized logP: means / standard deviations of each term over
# ZINC250k (250k_rndm_zinc_drugs_clean.smi), as in Jin et al. 2018 and the code that
# GraphAF, MolDQN, mol_opt and TDC copied from it.
_PLOGP_LOGP_MEAN = 2.4570953396190123
_PLOGP_LOGP_STD = 1.434324401111988
_PLOGP_SA_MEAN = -3.0525811293166134
_PLOGP_SA_STD = 0.8335207024513095
_PLOGP_CYCLE_MEAN = -0.0485696876403053
_PLOGP_CYCLE_STD = 0.2860212110245455

RingConvention = Literal["sssr", "cycle_basis"]


def _largest_cycle(mol: Chem.Mol, convention: RingConvention) -> int:
    if convention == "sssr":
        return max((len(ring) for ring in mol.GetRingInfo().AtomRings()), default=0)
    if convention == "cycle_basis":
        import networkx as nx  # only for exact parity with JT-VAE's published code

        graph = nx.Graph(Chem.GetAdjacencyMatrix(mol))
        return max((len(cycle) for cycle in nx.cycle_basis(graph)), default=0)
    raise ConfigError(f"unknown ring convention {convention!r} (use 'sssr' or 'cycle_basis')")


def penalized_logp(mol: Chem.Mol, *, ring_convention: RingConvention = "sssr") -> float:
    """Penalized logP (Kusner et al. 2017 / JT-VAE, Jin et al. 2018 convention).

    ``z(logP) + z(-SA) + z(-cycle)`` where ``cycle = max(0, largest ring size - 6)``
    and each term is standardized with the ZINC250k means/stds used by JT-VAE
    (logP 2.4571 ± 1.4343, -SA -3.0526 ± 0.8335, -cycle -0.0486 ± 0.2860), logP being
    Crippen's and SA RDKit's Contrib score. The published code measures rings with
    networkx ``cycle_basis``, whose fundamental cycles can be the envelope of a fused
    system (a peri-fused tricycle counts as an 11-ring; ~0.6 % of MOSES molecules
    differ): the default ``"sssr"`` uses the real smallest rings, ``"cycle_basis"``
    reproduces the published numbers exactly (slower; needs networkx).
    """
    return _penalized_logp(clogp(mol), sa_score(mol), _largest_cycle(mol, ring_convention))


def _penalized_logp(logp: float, sa: float, largest_ring: int) -> float:
    cycle_score = -max(largest_ring - 6, 0)
    return (
        (logp - _PLOGP_LOGP_MEAN) / _PLOGP_LOGP_STD
        + (-sa - _PLOGP_SA_MEAN) / _PLOGP_SA_STD
        + (cycle_score - _PLOGP_CYCLE_MEAN) / _PLOGP_CYCLE_STD
    )


# --- the panel ------------------------------------------------------------------------------


class _Panel:
    """Memoizes properties of one molecule so dependants (QED, penalized logP) share work."""

    __slots__ = ("mol", "values")

    def __init__(self, mol: Chem.Mol) -> None:
        self.mol = mol
        self.values: dict[str, float] = {}

    def get(self, name: str) -> float:
        if name not in self.values:
            self.values[name] = _COMPUTE[name](self)
        return self.values[name]


_qed_alerts: FilterCatalog.FilterCatalog | None = None
_qed_alerts_lock = threading.Lock()


def _qed_alert_catalog() -> FilterCatalog.FilterCatalog:
    """QED's 94 unwanted-group SMARTS as one FilterCatalog (one entry per alert).

    Counting matching entries equals QED's ``sum(HasSubstructMatch)`` but runs the loop
    in C++: about 30 % faster per molecule. Built once per process.
    """
    global _qed_alerts
    if _qed_alerts is None:
        with _qed_alerts_lock:
            if _qed_alerts is None:
                catalog = FilterCatalog.FilterCatalog()
                for i, pattern in enumerate(QED.StructuralAlerts):
                    matcher = FilterCatalog.SmartsMatcher(f"qed_alert_{i}", pattern, 1)
                    catalog.AddEntry(FilterCatalog.FilterCatalogEntry(f"qed_alert_{i}", matcher))
                _qed_alerts = catalog
    return _qed_alerts


def _qed_panel(panel: _Panel) -> float:
    mol = panel.mol
    props = QED.QEDproperties(
        MW=panel.get("mw"),
        ALOGP=panel.get("clogp"),
        HBA=sum(len(mol.GetSubstructMatches(p)) for p in QED.Acceptors),
        HBD=rdmd.CalcNumHBD(mol),  # QED's donor definition, not Lipinski's
        PSA=panel.get("tpsa"),
        ROTB=panel.get("rotb"),
        AROM=len(Chem.GetSSSR(Chem.DeleteSubstructs(Chem.Mol(mol), QED.AliphaticRings))),
        ALERTS=len(_qed_alert_catalog().GetMatches(mol)),
    )
    return float(QED.qed(mol, qedProperties=props))


def _single(function: Callable[[Chem.Mol], float]) -> Callable[[_Panel], float]:
    return lambda panel: function(panel.mol)


_COMPUTE: dict[str, Callable[[_Panel], float]] = {
    "mw": _single(mw),
    "clogp": _single(clogp),
    "tpsa": _single(tpsa),
    "hbd": _single(hbd),
    "hba": _single(hba),
    "rotb": _single(rotb),
    "rings": _single(rings),
    "aromatic_rings": _single(aromatic_rings),
    "fsp3": _single(fsp3),
    "heavy_atoms": _single(heavy_atoms),
    "formal_charge": _single(formal_charge),
    "qed": _qed_panel,
    "sa": _single(sa_score),
    "penalized_logp": lambda p: _penalized_logp(
        p.get("clogp"), p.get("sa"), _largest_cycle(p.mol, "sssr")
    ),
}


def check_property_names(names: Sequence[str]) -> tuple[str, ...]:
    """Validate property names (a typo in a config is an error naming the known ones)."""
    if isinstance(names, str):
        names = (names,)
    unknown = [n for n in names if n not in _COMPUTE]
    if unknown:
        known = ", ".join(PROPERTY_NAMES)
        raise ConfigError(f"unknown property {unknown[0]!r} (known: {known})")
    return tuple(names)


def _has_explicit_h(mol: Chem.Mol) -> bool:
    return any(atom.GetAtomicNum() == 1 for atom in mol.GetAtoms())


def compute_properties(mol: Chem.Mol, names: Sequence[str] | None = None) -> dict[str, float]:
    """Compute the requested properties (all of :data:`PROPERTY_NAMES` when ``None``).

    Returns a dict in the requested order; counts are ``int``. A property that
    RDKit fails on for this molecule is NaN. Unknown names raise ``ConfigError``.
    """
    wanted = PROPERTY_NAMES if names is None else check_property_names(names)
    with capture_rdkit_log():
        if mol.GetNumAtoms() != mol.GetNumHeavyAtoms() and _has_explicit_h(mol):
            # an unremovable H keeps the molecule as given; values may differ slightly
            with contextlib.suppress(Exception):
                mol = Chem.RemoveHs(mol)
        panel = _Panel(mol)
        out: dict[str, float] = {}
        for name in wanted:
            try:
                out[name] = panel.get(name)
            except Exception:  # one odd molecule must not stop a screen; see module doc
                out[name] = math.nan
    return out
