"""Layer ``connectors``: clients of the real vendor APIs (imports ``transport`` and ``core`` only).

Each vendor lives in its own subpackage; the subpackages never import each other.
"""
