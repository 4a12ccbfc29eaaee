# Overrides PyInstaller's hook-PySide6.QtGui: the same collection, minus Qt plugins clinidoc never uses.
# Dropping them here (before PyInstaller's dependency analysis) also leaves out what only they link:
# GTK (platformthemes/qgtk3), QtNetwork (platforms/qvnc), QtSvg (svg image/icon plugins), the
# embedded-Linux framebuffer/EGLFS platforms and their input plugins.
import re

from PyInstaller.utils.hooks.qt import add_qt6_dependencies

hiddenimports, binaries, datas = add_qt6_dependencies(__file__)

_UNUSED = re.compile(
    r"plugins[/\\]("
    r"platforms[/\\](lib)?q(vnc|linuxfb|eglfs|minimalegl|vkkhrdisplay|direct2d)"
    r"|platformthemes[/\\](lib)?qgtk3"
    r"|egldeviceintegrations|generic"
    r"|imageformats[/\\](lib)?q(svg|pdf)"
    r"|iconengines[/\\](lib)?qsvgicon"
    r")"
)
binaries = [b for b in binaries if not _UNUSED.search(b[0])]
