# Build the Windows desktop app: PyInstaller one-folder bundle, frozen smoke test, size report, installer.
#
#   powershell -ExecutionPolicy Bypass -File packaging\build-windows.ps1
#
# Before (once, in a "x64 Native Tools" prompt so llama.cpp builds with MSVC; never -march=native):
#   $env:CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF"
#   pip install -e ".[gui,packaging]"
#   Inno Setup 6 (iscc.exe) on PATH, or in its default folder
# Output: dist\clinidoc\ (clinidoc.exe, clinidoc-gui.exe, _internal\), dist\clinidoc-<version>-setup.exe,
#         build\bundle-report.txt, build\smoke\ (logs, frozen-gui.png)
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..")
$py = if ($env:PYTHON) { $env:PYTHON } else { "python" }
function Step($t) { Write-Host "`n== $t ($(Get-Date -Format HH:mm:ss))" }
$t0 = Get-Date

Step "1. preflight"
# the version, from its one place
$version = (Select-String -Path clinidoc\__init__.py -Pattern '__version__\s*=\s*"([^"]+)"').Matches[0].Groups[1].Value
Write-Host "clinidoc $version"
& $py -c "import PyInstaller, PySide6; print('PyInstaller', PyInstaller.__version__, 'PySide6', PySide6.__version__)"
if ($LASTEXITCODE) { throw 'pip install -e ".[gui,packaging]" first' }
& $py -c "import llama_cpp; i = llama_cpp.llama_print_system_info().decode(); assert 'AMX_INT8 = 1' not in i, 'llama.cpp built with AMX: rebuild with CMAKE_ARGS'; print(i[:120])"
if ($LASTEXITCODE) { throw "llama.cpp build check failed" }
if (-not (Test-Path resources\icons\clinidoc.ico)) { & $py packaging\make_icons.py }

Step "2. PyInstaller one-folder bundle"
& $py -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build\pyinstaller packaging\clinidoc.spec
if ($LASTEXITCODE) { throw "PyInstaller failed" }

Step "3. size report"
& $py packaging\bundle_report.py dist\clinidoc --top 15 --json build\bundle-report.json | Tee-Object build\bundle-report.txt

Step "4. frozen smoke test (version, doctor, demo, GUI offscreen)"
& $py packaging\smoke_test.py dist\clinidoc --out build\smoke
if ($LASTEXITCODE) { throw "smoke test failed: see build\smoke" }

Step "5. installer (Inno Setup)"
$iscc = (Get-Command iscc.exe -ErrorAction SilentlyContinue).Source
if (-not $iscc) { $iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
& $iscc "/DAppVersion=$version" "/DSourceDir=$PWD\dist\clinidoc" packaging\windows\clinidoc.iss
if ($LASTEXITCODE) { throw "iscc failed" }
# Sign dist\clinidoc-$version-setup.exe and the two .exe files with the organisation's code-signing
# certificate here (signtool sign /fd sha256 /tr <timestamp url> ...) before distributing.

Write-Host "`ndone in $([int]((Get-Date) - $t0).TotalSeconds)s: dist\clinidoc-$version-setup.exe"
