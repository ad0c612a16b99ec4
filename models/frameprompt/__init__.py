"""FramePrompt (in-context pose animation on an unmodified Wan I2V DiT): sequence.py (the layout),
attention.py (the causal option), weights.py (the user's checkpoint or LoRA), pipeline.py (the loop)."""
