"""Image analysis with OpenCV: faces, motion, blur, brightness, dominant colours, labels, thumbnails.

`handler(event, context)` is the Lambda-style entry; `VisionAnalyzer` is the same work with its
configuration passed in, for components, benchmarks and tests.
"""

from .analyzer import VisionAnalyzer, VisionConfig, handler
from .frames import FrameError, decode_image, load_image
from .label_window import LabelWindow

__all__ = [
    "FrameError",
    "LabelWindow",
    "VisionAnalyzer",
    "VisionConfig",
    "decode_image",
    "handler",
    "load_image",
]
