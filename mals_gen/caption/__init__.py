"""The caption stage: prompt, BLIP / image-to-text and instruction-following VLM captioners."""
from .stage import CaptionConfig, run_caption

__all__ = ["CaptionConfig", "run_caption"]
