"""The web console in a real browser (headless Chromium)."""
