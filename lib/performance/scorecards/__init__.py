"""Scorecards (绩效考核): templates (``defs``), scoring rules (``scoring``), evaluation for a period
(``evaluate``), what a reader sees (``view``) and the runs from draft to published (``center``).
"""
