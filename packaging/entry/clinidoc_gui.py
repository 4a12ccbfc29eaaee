"""Frozen entry point of `clinidoc-gui` (the desktop app, no console window on Windows)."""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from clinidoc.gui.app import main

    main()
