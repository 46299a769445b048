"""prefjudge."""
