"""python -m clinidoc.gui: the desktop application (same options as `clinidoc gui`)."""

from clinidoc.gui.commands import gui_command

gui_command(prog_name="clinidoc-gui")
