"""The desktop application (PySide6). The only package that imports Qt; the core never does.

- app.py: start-up (unlock, window) and the --screenshot mode
- workers.py: the one place where core calls become Qt background workers
- main_window.py and its parts: encounter list, inputs (drop zone), sources, note editor, checks
"""
