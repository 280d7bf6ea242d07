"""Everything RDKit: parse and standardize with a reason, properties, rules and alerts,
structure sanity (rings, elements), fingerprints and similarity. Drawing lives in
:mod:`molspace.chem.draw` and the RDKit log capture in :mod:`molspace.chem.rdlog`.

Stage 1, the bottom of the pipeline: may import only the base modules (``errors``).
"""

from __future__ import annotations

from molspace.chem.filters import (
    ALERT_FAMILIES,
    RULE_PROPERTIES,
    RULES,
    AlertCatalog,
    evaluate_rules,
    mcf_patterns,
    rule_passes,
)
from molspace.chem.fingerprints import (
    FINGERPRINT_KINDS,
    bulk_tanimoto,
    compile_smarts,
    fingerprint,
    fingerprint_numpy,
    has_substructure,
    tanimoto,
)
from molspace.chem.parse import (
    REASONS,
    ParseResult,
    canonical_smiles,
    inchikey,
    mol_from_smiles,
    parse_smiles,
    reason_category,
)
from molspace.chem.properties import (
    COUNT_PROPERTIES,
    PROPERTY_NAMES,
    aromatic_rings,
    check_property_names,
    clogp,
    compute_properties,
    formal_charge,
    fsp3,
    hba,
    hbd,
    heavy_atoms,
    mw,
    penalized_logp,
    qed,
    rings,
    rotb,
    tpsa,
)
from molspace.chem.sanity import (
    DEFAULT_ELEMENTS,
    DEFAULT_RING_SIZES,
    SANITY_RULES,
    StructureSanity,
    check_elements,
)
from molspace.chem.sascore import sa_score
from molspace.chem.standardize import StandardizeOptions, standardize

__all__ = [
    "ALERT_FAMILIES",
    "COUNT_PROPERTIES",
    "DEFAULT_ELEMENTS",
    "DEFAULT_RING_SIZES",
    "FINGERPRINT_KINDS",
    "PROPERTY_NAMES",
    "REASONS",
    "RULES",
    "RULE_PROPERTIES",
    "SANITY_RULES",
    "AlertCatalog",
    "ParseResult",
    "StandardizeOptions",
    "StructureSanity",
    "aromatic_rings",
    "bulk_tanimoto",
    "canonical_smiles",
    "check_elements",
    "check_property_names",
    "clogp",
    "compile_smarts",
    "compute_properties",
    "evaluate_rules",
    "fingerprint",
    "fingerprint_numpy",
    "formal_charge",
    "fsp3",
    "has_substructure",
    "hba",
    "hbd",
    "heavy_atoms",
    "inchikey",
    "mcf_patterns",
    "mol_from_smiles",
    "mw",
    "parse_smiles",
    "penalized_logp",
    "qed",
    "reason_category",
    "rings",
    "rotb",
    "rule_passes",
    "sa_score",
    "standardize",
    "tanimoto",
    "tpsa",
]
