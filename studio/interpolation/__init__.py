"""Weight-free video frame interpolation (optical flow on OpenCV/numpy). See `flow.py`."""
from studio.interpolation.flow import interpolate_frames_flow, interpolate_stream

__all__ = ["interpolate_frames_flow", "interpolate_stream"]
