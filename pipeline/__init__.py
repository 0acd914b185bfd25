"""Drug-information reconciliation pipeline.

Domain stages live in plain modules (registry, split, sections, extract, normalise, match,
reconcile, report) that never import Dagster; ``pipeline.defs`` wires them into assets.
"""
