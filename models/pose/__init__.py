"""Poses: offline extraction (mediapipe), the keypoint data every other part reads, OpenPose JSON,
skeleton rendering in each model's training format, retargeting and the puppet preview."""
