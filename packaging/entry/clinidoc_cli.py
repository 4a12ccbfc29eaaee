"""Frozen entry point of `clinidoc` (the command line; `clinidoc gui` opens the desktop app)."""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from clinidoc.cli import main

    main()
