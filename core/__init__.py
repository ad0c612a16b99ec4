"""The base package every layer may import: errors, the stop signal, dtype parsing, preset files.

Nothing here imports torch at module level, nor anything from `studio`, `models` or `memory`.
"""
