"""Memory layer: budgets, plans and placement. Importing it touches no CUDA API."""
from memory.placement import Placement

__all__ = ["Placement"]
