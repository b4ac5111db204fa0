"""Models of the video-call module."""
