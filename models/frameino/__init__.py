"""FrameINO (Frame In-N-Out): objects enter and leave an expanded canvas along drawn trajectories.

The model side, on the Wan layer (Wan2.2-TI2V-5B + FrameINO's 96-channel transformer):
- `checkpoint`, `loading`, `tiny`: the release's layout, the real / tiny repos;
- `memory`: the profile (Wan's, plus the identity frame and the trajectory-video encode);
- `pipeline`: the loop (`generate_frameino`) and `crop_back`.
The canvas, trajectories, identity cut-out and preview are `geometry`, `segment`, `preview`.
"""
