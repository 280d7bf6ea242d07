"""Structure sanity: rings and elements a medicinal chemist strikes out at a glance.

A latent-space generator happily decodes rings no chemist would make: cycloheptatrienes,
eight-membered diazocines, methylenecyclobutenes, bridgehead alkenes, cyclic allenes.
Structural-alert catalogs (PAINS, Brenk, MCF) are written for screening libraries, where
such rings are rare, so they miss them. Each rule here returns a reason string
``"rule: detail"`` (the rule name before the colon, as the optimizer's rejection counts
read it), or None:

* ``element`` — an element outside the allowed set (default H C N O F S Cl Br, the MOSES
  set; P, I, B, Si on request).
* ``ring_size`` — a ring (smallest set of smallest rings) whose size is not allowed
  (default 3-7: cyclopropyl and cyclobutyl are common in drugs, 4-5% of ChEMBL's approved
  drugs each). Larger rings (macrocycles) are allowed only when a reference molecule
  (a seed or lead) has a ring of that size.
* ``ring_sp_atom`` — an sp atom (a triple bond or a carbon with cumulated double bonds)
  in a ring of fewer than 9 atoms: the 180° angle does not fit (cyclooctyne is the smallest isolable
  cycloalkyne).
* ``strained_ring`` — a double bond in a 3- or 4-membered ring, or a C=C/C=N exocyclic to
  one (cyclopropene, cyclobutene, methylenecyclobutane); exocyclic C=O and S=O are kept
  (β-lactams, cyclobutanones, thietane dioxides).
* ``anti_bredt`` — a double bond at a bridgehead of a bridged bicyclic whose bridges add
  up to fewer than 7 atoms (Bredt's rule as quantified by Wiseman, J. Am. Chem. Soc. 1967,
  89, 5966: the trans double bond needs a ring of at least 8 atoms).
* ``ring_polyene`` — a non-aromatic 7- or 8-membered ring with three or more endocyclic
  double bonds (cycloheptatriene, cyclooctatriene/-tetraene and their aza analogs such as
  diazocines): fully conjugated yet not aromatic, they valence-isomerize (norcaradiene),
  oxidize and are absent from drug space. Benzo-fused 7-rings (carbamazepine,
  cyproheptadine, diazepam) keep at most one non-aromatic double bond and pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

from rdkit import Chem
from rdkit.Chem import rdMolDescriptors

from molspace.errors import ConfigError, InvalidMoleculeError

__all__ = [
    "DEFAULT_ELEMENTS",
    "DEFAULT_RING_SIZES",
    "SANITY_RULES",
    "StructureSanity",
    "check_elements",
    "ring_sizes",
]

DEFAULT_ELEMENTS: tuple[str, ...] = ("H", "C", "N", "O", "F", "S", "Cl", "Br")
DEFAULT_RING_SIZES: tuple[int, ...] = (3, 4, 5, 6, 7)
SANITY_RULES: tuple[str, ...] = (
    "element",
    "ring_size",
    "ring_sp_atom",
    "strained_ring",
    "anti_bredt",
    "ring_polyene",
)

_DOUBLE = Chem.BondType.DOUBLE
_TRIPLE = Chem.BondType.TRIPLE


@lru_cache(maxsize=1)
def _quick_patterns() -> tuple[Chem.Mol, Chem.Mol, Chem.Mol]:
    """Necessary conditions matched in C++ before a rule's Python walk: a ring triple bond,
    a carbon with a ring double bond and another double bond, a double bond on an atom of
    a 3- or 4-membered ring."""
    patterns = ("*#&@*", "*=&@[#6]=*", "[r3,r4]=*")
    triple, cumulated, small = (Chem.MolFromSmarts(p) for p in patterns)
    return triple, cumulated, small


def ring_sizes(mols: Iterable[Chem.Mol]) -> set[int]:
    """Sizes of every ring (SSSR) of ``mols``."""
    return {len(ring) for mol in mols for ring in mol.GetRingInfo().AtomRings()}


def _smallest_ring(mol: Chem.Mol, bond: Chem.Bond) -> int:
    sizes = [len(r) for r in mol.GetRingInfo().BondRings() if bond.GetIdx() in r]
    return min(sizes) if sizes else 0


def _ring_sp_atom(mol: Chem.Mol) -> str | None:
    info = mol.GetRingInfo()
    for bond in mol.GetBonds():
        if bond.GetBondType() == _TRIPLE and bond.IsInRing():
            size = _smallest_ring(mol, bond)
            if size < 9:
                return f"ring_sp_atom: triple bond in a {size}-membered ring"
    for atom in mol.GetAtoms():
        if not atom.IsInRing() or atom.GetAtomicNum() != 6:  # hypervalent S=, P= bend
            continue
        doubles = [b for b in atom.GetBonds() if b.GetBondType() == _DOUBLE]
        if len(doubles) >= 2 and any(b.IsInRing() for b in doubles):
            size = info.MinAtomRingSize(atom.GetIdx())
            if size < 9:
                return f"ring_sp_atom: cumulated double bonds in a {size}-membered ring"
    return None


def _strained_ring(mol: Chem.Mol) -> str | None:
    info = mol.GetRingInfo()
    for bond in mol.GetBonds():
        if bond.GetBondType() != _DOUBLE or bond.GetIsAromatic():
            continue
        if bond.IsInRingSize(3) or bond.IsInRingSize(4):
            size = 3 if bond.IsInRingSize(3) else 4
            return f"strained_ring: double bond in a {size}-membered ring"
        for atom, other in (
            (bond.GetBeginAtom(), bond.GetEndAtom()),
            (bond.GetEndAtom(), bond.GetBeginAtom()),
        ):
            size = info.MinAtomRingSize(atom.GetIdx())
            if 0 < size <= 4 and other.GetSymbol() in ("C", "N"):
                return f"strained_ring: exocyclic C={other.GetSymbol()} on a {size}-membered ring"
    return None


def _anti_bredt(mol: Chem.Mol) -> str | None:
    """A bridgehead is an end of the path two rings share when they share two or more
    bonds (bridged, not fused); the bridges add up to the pair's atoms minus the two
    bridgeheads."""
    info = mol.GetRingInfo()
    atom_rings = [set(r) for r in info.AtomRings()]
    bond_rings = [set(r) for r in info.BondRings()]
    for i, j in combinations(range(len(atom_rings)), 2):
        if len(bond_rings[i] & bond_rings[j]) < 2:
            continue
        union = atom_rings[i] | atom_rings[j]
        bridges = len(union) - 2
        if bridges >= 7:
            continue
        shared = atom_rings[i] & atom_rings[j]
        heads = [
            idx
            for idx in shared
            if any(
                n.GetIdx() in union and n.GetIdx() not in shared
                for n in mol.GetAtomWithIdx(idx).GetNeighbors()
            )
        ]
        for idx in heads:
            for bond in mol.GetAtomWithIdx(idx).GetBonds():
                if (
                    bond.GetBondType() == _DOUBLE
                    and not bond.GetIsAromatic()
                    and bond.GetOtherAtomIdx(idx) in union
                ):
                    return (
                        f"anti_bredt: bridgehead double bond in a bridged bicyclic with "
                        f"{bridges} bridge atoms (< 7)"
                    )
    return None


def _ring_polyene(mol: Chem.Mol) -> str | None:
    info = mol.GetRingInfo()
    atom_rings = info.AtomRings()
    if not any(len(ring) in (7, 8) for ring in atom_rings):
        return None
    for atoms, bonds in zip(atom_rings, info.BondRings(), strict=True):
        if len(atoms) not in (7, 8):
            continue
        doubles = sum(
            1
            for b in bonds
            if mol.GetBondWithIdx(b).GetBondType() == _DOUBLE
            and not mol.GetBondWithIdx(b).GetIsAromatic()
        )
        if doubles >= 3:
            return (
                f"ring_polyene: non-aromatic {len(atoms)}-membered ring with {doubles} double bonds"
            )
    return None


@lru_cache(maxsize=1)
def _atomic_numbers() -> dict[str, int]:
    table = Chem.GetPeriodicTable()
    return {table.GetElementSymbol(n): n for n in range(1, 119)}


def check_ring_sizes(sizes: Iterable[int]) -> tuple[int, ...]:
    """``sizes`` as given; ValueError when one is under 3 (no such ring)."""
    out = tuple(sizes)
    if any(n < 3 for n in out):
        raise ValueError(f"ring sizes start at 3 (got {sorted(out)})")
    return out


def check_elements(symbols: Iterable[str]) -> tuple[str, ...]:
    """``symbols`` as given, each checked against the periodic table (ConfigError names
    the first unknown one: ``"cl"`` is not chlorine, ``"Cl"`` is)."""
    known = _atomic_numbers()
    out = tuple(symbols)
    for symbol in out:
        if symbol not in known:
            raise ConfigError(f"unknown element {symbol!r} (write symbols as in 'C', 'Cl', 'Br')")
    return out


@lru_cache(maxsize=16)
def _other_elements(elements: frozenset[str]) -> Chem.Mol:
    """A query matching any atom outside ``elements`` (one C++ match per molecule)."""
    numbers = sorted(_atomic_numbers()[s] for s in check_elements(elements))
    if not numbers:
        return Chem.MolFromSmarts("*")
    return Chem.MolFromSmarts("[" + ";".join(f"!#{n}" for n in numbers) + "]")


@dataclass(frozen=True)
class StructureSanity:
    """The sanity rules with their settings; ``reason(mol)`` names the first rule broken.

    ``elements`` None allows every element. Build it with :meth:`with_references` to allow
    the ring sizes and elements of seed or lead molecules (a macrocyclic lead keeps its
    macrocycle). Frozen and small, so it pickles cheaply to Dask workers.
    """

    ring_sizes: frozenset[int] = frozenset(DEFAULT_RING_SIZES)
    elements: frozenset[str] | None = frozenset(DEFAULT_ELEMENTS)
    rings: bool = True  # False: the element rule only

    @classmethod
    def with_references(
        cls,
        references: Iterable[str | Chem.Mol] = (),
        sizes: Iterable[int] = DEFAULT_RING_SIZES,
        elements: Iterable[str] | None = DEFAULT_ELEMENTS,
        rings: bool = True,
    ) -> StructureSanity:
        """Settings extended by the ring sizes and elements of ``references`` (SMILES or
        molecules; a SMILES that does not parse raises InvalidMoleculeError)."""
        mols = []
        for ref in references:
            mol = Chem.MolFromSmiles(ref) if isinstance(ref, str) else ref
            if mol is None:
                raise InvalidMoleculeError(f"{ref}: reference molecule does not parse")
            mols.append(mol)
        allowed_sizes = frozenset(sizes) | ring_sizes(mols)
        allowed = None
        if elements is not None:
            found = {a.GetSymbol() for m in mols for a in m.GetAtoms()}
            allowed = frozenset(check_elements(elements)) | found
        return cls(allowed_sizes, allowed, rings)

    def reason(self, mol: Chem.Mol) -> str | None:
        """Why ``mol`` fails (``"rule: detail"``), or None when every rule passes."""
        if self.elements is not None and mol.HasSubstructMatch(_other_elements(self.elements)):
            for atom in mol.GetAtoms():
                if atom.GetSymbol() not in self.elements:
                    return f"element: {atom.GetSymbol()} not allowed"
        if not self.rings:
            return None
        for ring in mol.GetRingInfo().AtomRings():
            if len(ring) not in self.ring_sizes:
                allowed = ", ".join(str(n) for n in sorted(self.ring_sizes))
                return f"ring_size: {len(ring)}-membered ring (allowed: {allowed})"
        triple, cumulated, small = _quick_patterns()
        if mol.HasSubstructMatch(triple) or mol.HasSubstructMatch(cumulated):
            found = _ring_sp_atom(mol)
            if found is not None:
                return found
        if mol.HasSubstructMatch(small):
            found = _strained_ring(mol)
            if found is not None:
                return found
        if rdMolDescriptors.CalcNumBridgeheadAtoms(mol):
            found = _anti_bredt(mol)
            if found is not None:
                return found
        return _ring_polyene(mol)
