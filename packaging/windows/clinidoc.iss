; Inno Setup script: installs the PyInstaller one-folder app (dist\clinidoc) for the current user or
; all users, with a Start menu entry and an optional desktop icon. Built by packaging\build-windows.ps1:
;   iscc /DAppVersion=<clinidoc.__version__> /DSourceDir=<repo>\dist\clinidoc packaging\windows\clinidoc.iss
; The version is never written here: it comes from clinidoc/__init__.py through /DAppVersion.

#ifndef AppVersion
  #error Pass /DAppVersion=X.Y.Z (packaging\build-windows.ps1 reads it from clinidoc\__init__.py)
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\clinidoc"
#endif

[Setup]
AppId={{6E0C5B8A-3F2D-4C41-9B0E-7C1D2A9F4E61}
AppName=clinidoc
AppVersion={#AppVersion}
AppVerName=clinidoc {#AppVersion}
AppPublisher=clinidoc
DefaultDirName={autopf}\clinidoc
DefaultGroupName=clinidoc
DisableProgramGroupPage=yes
; per-user install without admin rights unless the user asks for all users
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=clinidoc-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\clinidoc.ico
UninstallDisplayIcon={app}\clinidoc-gui.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\clinidoc"; Filename: "{app}\clinidoc-gui.exe"
Name: "{group}\clinidoc doctor (check this computer)"; Filename: "{cmd}"; Parameters: "/k ""{app}\clinidoc.exe"" doctor"
Name: "{group}\{cm:UninstallProgram,clinidoc}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\clinidoc"; Filename: "{app}\clinidoc-gui.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\clinidoc-gui.exe"; Description: "{cm:LaunchProgram,clinidoc}"; Flags: nowait postinstall skipifsilent

; The encrypted store and recordings live in the user's data folder (%LOCALAPPDATA%\clinidoc): an
; uninstall leaves them in place on purpose (clinical records are not the program's to delete).
